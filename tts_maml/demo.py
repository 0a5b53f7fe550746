"""The demo: the product on the built-in corpus, as a user would run it.

By default (about a minute) it adapts the shipped meta-initialisation (``tts-maml models``) to two
voices it never saw, from 5 clips each (+2 held out for early stopping), with ``tts-maml adapt``:

- a *test* speaker of the built-in corpus (rendered alone, in a second, with the corpus' own recipe);
- the *outside* voice (:mod:`tts_maml.corpus.outside_voice`): another synthesiser, pitch and tempo.

For each it synthesises a sentence the voice said (and adaptation never saw) with the base and the
adapted model through Coqui's own ``tts`` command, beside the real clip, measures speaker
similarity (Resemblyzer: floor, base, adapted, ceiling) and MCD, draws the three spectrograms, and
writes ``report.md``.

``--train`` instead runs the whole from-scratch path: meta-train tiny VITS
(``recipes/vctk/meta_train_vits.py``, about 8 minutes on 2 CPU cores), then adapt and synthesise.

Every step runs the real command line (subprocesses), so the demo is also an end-to-end check.
"""

import json
import logging
import os
import shutil
import subprocess
import sys
import time
from typing import Any, Dict, List

import numpy as np
import soundfile as sf

from tts_maml.corpus.build import write_clips_metadata
from tts_maml.corpus.offline import held_out_dir, offline_corpus

logger = logging.getLogger(__name__)

SUPPORT_CLIPS = 5
VALIDATION_CLIPS = 2
ADAPT_STEPS = 40


def _bin(name: str) -> str:
    return os.path.join(os.path.dirname(sys.executable), name)


def _run(cmd: List[str], log: str, show: bool = False) -> float:
    """Run a command, its output appended to ``log`` (and shown, progress bars included, with
    ``show``); returns seconds. Raises with the log's tail."""
    start = time.perf_counter()
    with open(log, "ab") as f:
        f.write(f"\n$ {' '.join(cmd)}\n".encode())
        f.flush()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        while True:
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                break
            f.write(chunk)
            if show:
                sys.stdout.buffer.write(chunk)
                sys.stdout.flush()
        proc.wait()
    if proc.returncode != 0:
        with open(log, encoding="utf-8", errors="replace") as f:
            tail = "".join(f.readlines()[-20:])
        raise RuntimeError(f"`{' '.join(cmd[:3])} ...` failed ({proc.returncode}); see {log}:\n{tail}")
    return time.perf_counter() - start


def _pick_clips(corpus: str, out: str) -> Dict[str, Any]:
    """The first held-out speaker: 7 clips to adapt on, and an unseen one for the demo sentence."""
    held = held_out_dir(corpus)
    speaker = sorted(os.listdir(os.path.join(held, "wav48_silence_trimmed")))[0]
    folder = os.path.join(held, "wav48_silence_trimmed", speaker)
    with open(os.path.join(folder, "metadata.csv"), encoding="utf-8") as f:
        rows = [line.rstrip("\n").split("|", 1) for line in f if line.strip()]
    n = SUPPORT_CLIPS + VALIDATION_CLIPS
    clips = os.path.join(out, "clips")
    os.makedirs(clips, exist_ok=True)
    for clip_id, _ in rows[:n]:
        shutil.copy(os.path.join(folder, clip_id + ".flac"), clips)
    write_clips_metadata(clips, [{"id": i, "text": t} for i, t in rows[:n]])
    unseen_id, sentence = rows[n]
    wav, rate = sf.read(os.path.join(folder, unseen_id + ".flac"))
    real = os.path.join(out, f"real_{speaker}.wav")
    sf.write(real, wav, rate)
    return {"speaker": speaker, "clips": clips, "sentence": sentence, "real": real,
            "reference": [os.path.join(folder, i + ".flac") for i, _ in rows[:SUPPORT_CLIPS]]}  # fmt: skip


def _centroid(reference: List[str]) -> np.ndarray:
    """The mean speaker embedding of a voice's reference clips (computed once per voice)."""
    from tts_maml.speakers.similarity import embed_file

    return np.mean([embed_file(p) for p in reference], axis=0)


def _similarity(wav_path: str, centroid: np.ndarray) -> float:
    from tts_maml.speakers.similarity import cosine, embed_file

    return cosine(embed_file(wav_path), centroid)


def run_training_demo(out: str = "demo_out", recipe_args: List[str] = ()) -> Dict[str, Any]:
    """The from-scratch demo (``--train``) into ``out`` (replaced): meta-train tiny VITS, adapt,
    synthesise; returns the measured numbers (also in report.json)."""
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    recipe = os.path.join(repo, "recipes", "vctk", "meta_train_vits.py")
    if not os.path.isfile(recipe):
        raise FileNotFoundError(f"{recipe} not found: run the demo from a clone of the tts_maml repository")
    out = os.path.abspath(out)
    if os.path.isdir(out):
        shutil.rmtree(out)
    os.makedirs(out)
    log = os.path.join(out, "demo.log")
    numbers: Dict[str, Any] = {}

    print("demo 1/5: the offline corpus (built once, then cached)", flush=True)
    start = time.perf_counter()
    corpus = offline_corpus()
    numbers["corpus_seconds"] = round(time.perf_counter() - start, 1)

    print("demo 2/5: meta-training tiny VITS (recipes/vctk/meta_train_vits.py)", flush=True)
    runs = os.path.join(out, "run")
    numbers["meta_train_seconds"] = round(
        _run([sys.executable, recipe, "--output-path", runs, *recipe_args], log, show=True), 1
    )
    (run,) = [os.path.join(runs, d) for d in os.listdir(runs) if os.path.isfile(os.path.join(runs, d, "config.json"))]
    base_model, base_config = os.path.join(run, "best_model.pth"), os.path.join(run, "config.json")

    print("demo 3/5: adapting to a held-out voice from 5 clips (tts-maml adapt)", flush=True)
    picked = _pick_clips(corpus, out)
    voice = os.path.join(out, "voice")
    numbers["adapt_seconds"] = round(_run([
        _bin("tts-maml"), "adapt", "--model_path", base_model, "--config_path", base_config, "--clips",
        picked["clips"], "--out", voice, "--steps", str(ADAPT_STEPS), "--val-clips", str(VALIDATION_CLIPS),
        "--name", picked["speaker"]], log, show=True), 1)  # fmt: skip
    with open(os.path.join(voice, "curve.json"), encoding="utf-8") as f:
        curve = json.load(f)

    print("demo 4/5: synthesising with Coqui's tts (base and adapted)", flush=True)
    wavs = {"base": os.path.join(out, "base.wav"), "adapted": os.path.join(out, "adapted.wav")}
    for key, (model, config) in {"base": (base_model, base_config),
                                 "adapted": (os.path.join(voice, "adapted.pth"), os.path.join(voice, "config.json"))}.items():  # fmt: skip
        _run([_bin("tts"), "--model_path", model, "--config_path", config, "--text", picked["sentence"],
              "--out_path", wavs[key]], log)  # fmt: skip

    print("demo 5/5: measuring and writing the report", flush=True)
    centroid = _centroid(picked["reference"])
    numbers.update(
        speaker=picked["speaker"],
        sentence=picked["sentence"],
        similarity_base=round(_similarity(wavs["base"], centroid), 3),
        similarity_adapted=round(_similarity(wavs["adapted"], centroid), 3),
        similarity_real=round(_similarity(picked["real"], centroid), 3),
        heldout_loss_before=round(curve["val_loss"][0], 4),
        heldout_loss_best=round(curve["val_loss"][curve["best_step"]], 4),
        best_step=curve["best_step"],
        voice_kb=round(os.path.getsize(os.path.join(voice, "voice.pth")) / 1024, 1),
        adapted_mb=round(os.path.getsize(os.path.join(voice, "adapted.pth")) / 2**20, 2),
    )
    with open(os.path.join(out, "report.json"), "w", encoding="utf-8") as f:
        json.dump(numbers, f, indent=2)
    shutil.copy(os.path.join(voice, "curve.png"), os.path.join(out, "adaptation_curve.png"))
    with open(base_config, encoding="utf-8") as f:
        maml = json.load(f)["maml"]
    _write_report(out, run, numbers, maml)
    artefacts = {
        "report": "report.md", "real voice (unseen sentence)": os.path.basename(picked["real"]),
        "base model": "base.wav", "adapted model": "adapted.wav", "adaptation curve": "adaptation_curve.png",
        "adapted checkpoint": "voice/adapted.pth", "voice delta": "voice/voice.pth", "meta-training run": os.path.relpath(run, out),
    }  # fmt: skip
    print(f"\ndemo done in {out}:")
    for what, rel in artefacts.items():
        print(f"  {what:30s} {os.path.join(out, rel)}")
    return numbers


def _write_report(out: str, run: str, n: Dict[str, Any], maml: Dict[str, Any]) -> None:
    text = f"""# tts_maml demo

What was done (every step is the real command line; the commands are in `demo.log`):

1. The built-in offline corpus: 20 synthetic speakers x 30 clips, 4 held-out speakers (cached).
2. Meta-training of a tiny VITS ({maml['algorithm']}, {maml['inner_steps']} inner steps on the
   `{maml['adapter_preset']}` adapter, meta-batches of {maml['meta_batch_size']} speakers) with
   `recipes/vctk/meta_train_vits.py`: {n['meta_train_seconds']:.0f} s. Run folder: `{os.path.relpath(run, out)}`.
3. Adaptation to held-out speaker `{n['speaker']}` (never seen in meta-training) from {SUPPORT_CLIPS} clips,
   {VALIDATION_CLIPS} more held out for early stopping, {ADAPT_STEPS} steps: {n['adapt_seconds']:.0f} s (`tts-maml adapt`).
4. The sentence "{n['sentence']}" (which adaptation never saw) synthesised with Coqui's own `tts`
   command from the meta-trained model (`base.wav`) and the adapted one (`adapted.wav`), beside
   the real clip of the speaker saying it.

## Measured

| | value |
|---|---|
| held-out loss before adaptation | {n['heldout_loss_before']} |
| held-out loss at the exported step ({n['best_step']}) | {n['heldout_loss_best']} |
| speaker similarity to `{n['speaker']}`, base model | {n['similarity_base']} |
| speaker similarity to `{n['speaker']}`, adapted model | {n['similarity_adapted']} |
| speaker similarity of the real unseen clip (ceiling) | {n['similarity_real']} |
| `voice.pth` (only the adapted tensors) | {n['voice_kb']} KB |
| `adapted.pth` (whole model) | {n['adapted_mb']} MB |

Speaker similarity is the cosine between Resemblyzer embeddings of the synthesised clip and the
mean embedding of the speaker's {SUPPORT_CLIPS} adaptation clips. The tiny model trains for minutes
on a CPU: expect robotic audio. Each number is one synthesis through `tts`, whose VITS noise is not
seeded: differences of a few hundredths are within that noise (`tts-maml evaluate` seeds it).

![adaptation curve](adaptation_curve.png)
"""
    with open(os.path.join(out, "report.md"), "w", encoding="utf-8") as f:
        f.write(text)


# ---------------------------------------------------------------------------------------------
# The default demo: adapt the shipped meta-initialisation.

SHIPPED_MODEL = "glow_tts_dvector_meta"
DEMO_STEPS = 20
# The first test speaker of the pre-training corpus (tts_maml.corpus.speaker_split: sp248..sp255 are test).
DEMO_SPEAKER = "sp248"


def _clips_folder(clips: List[Dict[str, str]], out: str) -> Dict[str, Any]:
    """Split a voice's clips: 7 to adapt on (5 support + 2 early stopping), one unseen sentence to
    synthesise, and the rest as the speaker's reference (never seen by adaptation)."""
    n = SUPPORT_CLIPS + VALIDATION_CLIPS
    os.makedirs(out, exist_ok=True)
    for c in clips[:n]:
        shutil.copy(c["path"], out)
    write_clips_metadata(out, clips[:n])
    return {"clips": out, "unseen": clips[n], "reference": [c["path"] for c in clips[n + 1 :]]}


def _spectrograms(wavs: Dict[str, str], path: str, title: str) -> None:
    """One PNG: the log-mel spectrogram of each wav, stacked, on the same frequency axis."""
    import librosa
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(wavs), 1, figsize=(9, 2.4 * len(wavs)), sharex=True)
    for ax, (label, wav_path) in zip(axes, wavs.items()):
        wav, rate = sf.read(wav_path, dtype="float32", always_2d=True)
        mel = librosa.feature.melspectrogram(y=wav.mean(axis=1), sr=rate, n_fft=1024, hop_length=256, n_mels=80)
        ax.imshow(librosa.power_to_db(mel, ref=np.max), origin="lower", aspect="auto", cmap="magma",
                  extent=(0, mel.shape[1] * 256 / rate, 0, 80))  # fmt: skip
        ax.set_facecolor("black")  # past a shorter clip's end: silence, not white
        ax.set_ylabel("mel bin")
        ax.set_title(label, fontsize=9)
    axes[-1].set_xlabel("seconds")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _demo_voice(name: str, clips: List[Dict[str, str]], model: Any, out: str, log: str,
                floor_clip: str) -> Dict[str, Any]:  # fmt: skip
    """Adapt the shipped model to one voice, synthesise base and adapted, measure; numbers."""
    from tts_maml.evaluate.metrics import mel_cepstral_distortion

    folder = os.path.join(out, name)
    picked = _clips_folder(clips, os.path.join(folder, "clips"))
    voice = os.path.join(folder, "voice")
    seconds = _run([_bin("tts-maml"), "adapt", "--model", SHIPPED_MODEL, "--clips", picked["clips"], "--out", voice,
                    "--steps", str(DEMO_STEPS), "--val-clips", str(VALIDATION_CLIPS), "--name", name], log, show=True)  # fmt: skip
    wavs = {"real": os.path.join(folder, "real.wav"), "base": os.path.join(folder, "base.wav"),
            "adapted": os.path.join(folder, "adapted.wav")}  # fmt: skip
    wav, rate = sf.read(picked["unseen"]["path"], dtype="float32")
    sf.write(wavs["real"], wav, rate)
    sentence = picked["unseen"]["text"]
    for key, (ckpt, config) in {"base": (model.checkpoint, model.config),
                                "adapted": (os.path.join(voice, "adapted.pth"), os.path.join(voice, "config.json"))}.items():  # fmt: skip
        _run([_bin("tts"), "--model_path", ckpt, "--config_path", config, "--text", sentence, "--out_path", wavs[key]], log)
    _spectrograms({f"{k} ({name})": p for k, p in wavs.items()}, os.path.join(folder, "spectrograms.png"),
                  f'"{sentence}"')  # fmt: skip
    real = sf.read(wavs["real"], dtype="float32")
    centroid = _centroid(picked["reference"])
    mcd = {k: mel_cepstral_distortion(real[0], sf.read(wavs[k], dtype="float32")[0], real[1]) for k in ("base", "adapted")}
    return {
        "voice": name,
        "sentence": sentence,
        "adapt_seconds": round(seconds, 1),
        "similarity_floor": round(_similarity(floor_clip, centroid), 3),
        "similarity_base": round(_similarity(wavs["base"], centroid), 3),
        "similarity_adapted": round(_similarity(wavs["adapted"], centroid), 3),
        "similarity_ceiling": round(_similarity(wavs["real"], centroid), 3),
        "mcd_base": round(mcd["base"], 2),
        "mcd_adapted": round(mcd["adapted"], 2),
        "folder": os.path.relpath(folder, out),
    }


def run_shipped_demo(out: str = "demo_out") -> Dict[str, Any]:
    """The default demo into ``out`` (replaced); returns the measured numbers (also in report.json)."""
    from tts_maml.corpus.build import speaker_clips
    from tts_maml.corpus.offline import PRETRAIN_CORPUS
    from tts_maml.corpus.outside_voice import outside_voice_clips
    from tts_maml.shipped import shipped_model

    model = shipped_model(SHIPPED_MODEL)
    out = os.path.abspath(out)
    if os.path.isdir(out):
        shutil.rmtree(out)
    os.makedirs(out)
    log = os.path.join(out, "demo.log")
    start = time.perf_counter()
    logger.info("demo 1/3: clips of two voices the model never saw (test speaker %s, the outside voice)", DEMO_SPEAKER)
    corpus_args = {k: PRETRAIN_CORPUS[k] for k in ("speakers", "utterances", "seed", "held_out")}
    speaker = speaker_clips(os.path.join(out, "sources", DEMO_SPEAKER), DEMO_SPEAKER, **corpus_args)
    # The floor: a real clip of another test speaker, scored against this speaker's reference.
    other = speaker_clips(os.path.join(out, "sources", "sp249"), "sp249", **corpus_args)
    outside = outside_voice_clips(os.path.join(out, "sources", "outside"), count=14)
    logger.info("demo 2/3: adapting %s from %d clips each (tts-maml adapt) and synthesising with Coqui's tts",
                SHIPPED_MODEL, SUPPORT_CLIPS)  # fmt: skip
    voices = [_demo_voice(DEMO_SPEAKER, speaker, model, out, log, floor_clip=other[-1]["path"]),
              _demo_voice("outside", outside, model, out, log, floor_clip=speaker[-1]["path"])]  # fmt: skip
    logger.info("demo 3/3: writing the report")
    numbers = {"model": SHIPPED_MODEL, "model_sha256": model.sha256, "steps": DEMO_STEPS, "voices": voices,
               "seconds": round(time.perf_counter() - start, 1)}  # fmt: skip
    with open(os.path.join(out, "report.json"), "w", encoding="utf-8") as f:
        json.dump(numbers, f, indent=2)
    _write_shipped_report(out, numbers)
    logger.info("demo done in %s (%.0f s): report.md, and per voice real/base/adapted wavs + spectrograms.png",
                out, numbers["seconds"])  # fmt: skip
    return numbers


def _write_shipped_report(out: str, n: Dict[str, Any]) -> None:
    rows = "\n".join(
        f"| `{v['voice']}` | {v['similarity_floor']} | {v['similarity_base']} | {v['similarity_adapted']} | "
        f"{v['similarity_ceiling']} | {v['mcd_base']} | {v['mcd_adapted']} | {v['adapt_seconds']} |"
        for v in n["voices"]
    )
    images = "\n\n".join(f"![{v['voice']}]({v['folder']}/spectrograms.png)" for v in n["voices"])
    text = f"""# tts_maml demo

The shipped meta-initialisation `{n['model']}` (sha256 `{n['model_sha256'][:12]}…`, see its model card)
adapted with `tts-maml adapt` to two voices it never saw, from {SUPPORT_CLIPS} clips each
({VALIDATION_CLIPS} more held out for early stopping, {n['steps']} steps):

- `{DEMO_SPEAKER}`: a test speaker of the built-in corpus (never used in training or in choices);
- `outside`: a voice made outside the corpus recipes (flite `slt`, -250 cents, tempo 0.92).

A sentence each voice said, and that adaptation never saw, synthesised with Coqui's own `tts`
from the base model (`base.wav`: the mean voice) and the adapted one (`adapted.wav`), beside the
real clip (`real.wav`). The commands are in `demo.log`.

## Measured (one synthesis each; `tts-maml evaluate` gives means over speakers and seeds)

| voice | similarity floor | base | adapted | ceiling | MCD base (dB) | MCD adapted (dB) | adapt (s) |
|---|---|---|---|---|---|---|---|
{rows}

Similarity: the cosine between Resemblyzer embeddings of a clip and the mean embedding of the
voice's real clips that adaptation never saw. *Floor*: a real clip of another voice; *ceiling*: the
voice's own real unseen clip. MCD: mel-cepstral distortion to the real clip of the same sentence
(DTW-aligned; lower is closer). Total demo time {n['seconds']:.0f} s.

{images}
"""
    with open(os.path.join(out, "report.md"), "w", encoding="utf-8") as f:
        f.write(text)


def run_demo(out: str = "demo_out", train: bool = False, recipe_args: List[str] = ()) -> Dict[str, Any]:
    """The demo into ``out``: adapt the shipped model (default), or ``train`` from scratch first."""
    if train:
        return run_training_demo(out, recipe_args)
    return run_shipped_demo(out)
