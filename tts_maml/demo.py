"""The demo: the whole product on the built-in corpus, as a user would run it.

1. build (or reuse) the offline corpus;
2. meta-train VITS with the tiny preset (``recipes/vctk/meta_train_vits.py``);
3. adapt to a held-out voice from 5 clips (+2 held out for early stopping) with ``tts-maml adapt``;
4. synthesise one sentence the held-out speaker said (and that adaptation never saw) with the base
   model and the adapted model through Coqui's own ``tts`` command, beside the real clip;
5. measure speaker similarity (Resemblyzer) of both to the real voice, and write ``report.md``.

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

from tts_maml.recipes import held_out_dir, offline_corpus

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
    with open(os.path.join(clips, "metadata.csv"), "w", encoding="utf-8") as f:
        f.writelines(f"{i}|{t}\n" for i, t in rows[:n])
    unseen_id, sentence = rows[n]
    wav, rate = sf.read(os.path.join(folder, unseen_id + ".flac"))
    real = os.path.join(out, f"real_{speaker}.wav")
    sf.write(real, wav, rate)
    return {"speaker": speaker, "clips": clips, "sentence": sentence, "real": real,
            "reference": [os.path.join(folder, i + ".flac") for i, _ in rows[:SUPPORT_CLIPS]]}  # fmt: skip


def _similarity(wav_path: str, reference: List[str]) -> float:
    from tts_maml.speaker_similarity import cosine, embed_file

    centroid = np.mean([embed_file(p) for p in reference], axis=0)
    return cosine(embed_file(wav_path), centroid)


def run_demo(out: str = "demo_out", recipe_args: List[str] = ()) -> Dict[str, Any]:
    """Run the demo into ``out`` (replaced); returns the measured numbers (also in report.json)."""
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
    numbers.update(
        speaker=picked["speaker"],
        sentence=picked["sentence"],
        similarity_base=round(_similarity(wavs["base"], picked["reference"]), 3),
        similarity_adapted=round(_similarity(wavs["adapted"], picked["reference"]), 3),
        similarity_real=round(_similarity(picked["real"], picked["reference"]), 3),
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
