"""The default demo (about a minute): the shipped meta-initialisation adapted to two voices it never saw.

The voices: a *test* speaker of the pre-training corpus (rendered alone, in seconds, with the
corpus' own recipe) and the *outside* voice (:mod:`tts_maml.corpus.outside_voice`). Each is
adapted from 5 clips with ``tts-maml adapt``; an unseen sentence is synthesised with the base and
the adapted model through Coqui's ``tts``, scored by the three judges of :mod:`tts_maml.judges`
(floor, base, adapted, ceiling each; MCD)
and drawn (spectrograms); ``report.md`` / ``report.json`` gather the numbers and ``index.html``
(:mod:`tts_maml.listening_page`) plays the clips beside them.

Everything it needs comes with the package (the model via :mod:`tts_maml.shipped`, the voices from
the corpus recipes), so it runs from an installed wheel.
"""

import json
import logging
import os
import shutil
import time
from typing import Any, BinaryIO, Dict, List, Optional

import soundfile as sf

from tts_maml.corpus.build import speaker_id
from tts_maml.corpus.offline import PRETRAIN_CORPUS
from tts_maml.corpus.outside_voice import FLITE_VOICE, PITCH_CENTS, TEMPO
from tts_maml.corpus.speaker_split import split_dev_test
from tts_maml.demo.commands import console_script, run_logged, synthesise_base_and_adapted
from tts_maml.demo.voice_clips import SUPPORT_CLIPS, VALIDATION_CLIPS, judge_wavs, split_voice_clips
from tts_maml.listening_page import Clip, Voice, write_listening_page
from tts_maml.plots import plot_spectrograms

# The package's name: the demo's log lines kept the logger name they had before the demo was split.
logger = logging.getLogger(__package__)

SHIPPED_MODEL = "glow_tts_dvector_meta"
DEMO_STEPS = 20
# The first test speaker of the pre-training corpus (sp248), by the one split rule; one real clip of
# the second (sp249) is the similarity floor of DEMO_SPEAKER.
DEMO_SPEAKER, FLOOR_SPEAKER = split_dev_test(
    speaker_id(i) for i in range(PRETRAIN_CORPUS["speakers"], PRETRAIN_CORPUS["speakers"] + PRETRAIN_CORPUS["held_out"])
)[1][:2]
OUTSIDE_CLIPS = 14
# The clips each voice's judges score, in the report's order.
COLUMNS = ("floor", "base", "adapted", "ceiling")


def demo_voice(name: str, clips: List[Dict[str, str]], model: Any, out: str, log: str, floor_clip: str,
               echo: Optional[BinaryIO] = None) -> Dict[str, Any]:  # fmt: skip
    """Adapt the shipped ``model`` to the voice ``name`` from its ``clips`` (split by
    :func:`~tts_maml.demo.voice_clips.split_voice_clips`) in ``out/name``, synthesise the unseen sentence
    with the base and adapted models, draw their spectrograms and measure them; returns the voice's numbers.

    ``floor_clip`` is a real clip of another voice saying another sentence: the judges' floor. Commands go to ``log``
    (and ``echo``, for adaptation's progress).
    """
    from tts_maml.evaluate.metrics import mel_cepstral_distortion

    folder = os.path.join(out, name)
    picked = split_voice_clips(clips, os.path.join(folder, "clips"), os.path.join(folder, "real.wav"))
    voice = os.path.join(folder, "voice")
    seconds = run_logged([console_script("tts-maml"), "adapt", "--model", SHIPPED_MODEL, "--clips", picked.clips,
                          "--out", voice, "--steps", str(DEMO_STEPS), "--val-clips", str(VALIDATION_CLIPS),
                          "--name", name], log, echo)  # fmt: skip
    wavs = {"real": picked.real, "base": os.path.join(folder, "base.wav"), "adapted": os.path.join(folder, "adapted.wav")}
    synthesise_base_and_adapted((model.checkpoint, model.config), voice, picked.sentence, wavs, log)
    plot_spectrograms({f"{k} ({name})": p for k, p in wavs.items()}, os.path.join(folder, "spectrograms.png"),
                      f'"{picked.sentence}"')  # fmt: skip
    real, rate = sf.read(wavs["real"], dtype="float32")
    mcd = {k: mel_cepstral_distortion(real, sf.read(wavs[k], dtype="float32")[0], rate) for k in ("base", "adapted")}
    scores = judge_wavs({"floor": floor_clip, "base": wavs["base"], "adapted": wavs["adapted"],
                         "ceiling": wavs["real"]}, picked.reference, picked.sentence)  # fmt: skip
    return {
        "voice": name,
        "sentence": picked.sentence,
        "adapt_seconds": round(seconds, 1),
        "judges": scores,
        "mcd_base": round(mcd["base"], 2),
        "mcd_adapted": round(mcd["adapted"], 2),
        "folder": os.path.relpath(folder, out),
        "floor_clip": os.path.relpath(floor_clip, out),
    }


def run_shipped_demo(out: str = "demo_out", echo: Optional[BinaryIO] = None) -> Dict[str, Any]:
    """The default demo into ``out`` (replaced); returns the measured numbers (also in report.json).

    Commands go to ``out/demo.log``, and adaptation's progress also to ``echo`` where given.
    """
    from tts_maml.corpus.build import speaker_clips
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
    speaker = speaker_clips(os.path.join(out, "sources", DEMO_SPEAKER), DEMO_SPEAKER, **PRETRAIN_CORPUS)
    # The floor: a real clip of another test speaker, scored against this speaker's reference.
    other = speaker_clips(os.path.join(out, "sources", FLOOR_SPEAKER), FLOOR_SPEAKER, **PRETRAIN_CORPUS)
    outside = outside_voice_clips(os.path.join(out, "sources", "outside"), count=OUTSIDE_CLIPS)
    logger.info("demo 2/3: adapting %s from %d clips each (tts-maml adapt) and synthesising with Coqui's tts",
                SHIPPED_MODEL, SUPPORT_CLIPS)  # fmt: skip
    voices = [demo_voice(DEMO_SPEAKER, speaker, model, out, log, floor_clip=other[-1]["path"], echo=echo),
              demo_voice("outside", outside, model, out, log, floor_clip=speaker[-1]["path"], echo=echo)]  # fmt: skip
    logger.info("demo 3/3: writing the report")
    numbers = {"model": SHIPPED_MODEL, "model_sha256": model.sha256, "steps": DEMO_STEPS, "voices": voices,
               "seconds": round(time.perf_counter() - start, 1)}  # fmt: skip
    with open(os.path.join(out, "report.json"), "w", encoding="utf-8") as f:
        json.dump(numbers, f, indent=2)
    with open(os.path.join(out, "report.md"), "w", encoding="utf-8") as f:
        f.write(shipped_report(numbers))
    write_listening_page(out, "tts_maml demo: listen", listening_intro(numbers), listening_voices(numbers))
    logger.info("demo done in %s (%.0f s): index.html (open it in a browser to listen), report.md, and per voice "
                "real/base/adapted wavs + spectrograms.png", out, numbers["seconds"])  # fmt: skip
    return numbers


def shipped_report(n: Dict[str, Any]) -> str:
    """The text of the default demo's ``report.md`` from its numbers ``n`` (as in report.json)."""
    from tts_maml.judges import JUDGE_OF, METRICS

    rows = "\n".join(
        f"| `{v['voice']}` | {m} ({JUDGE_OF[m]}) | " + " | ".join(str(v["judges"][k][m]) for k in COLUMNS) + " |"
        for v in n["voices"] for m in METRICS
    )  # fmt: skip
    other = "\n".join(f"| `{v['voice']}` | {v['mcd_base']} | {v['mcd_adapted']} | {v['adapt_seconds']} |"
                      for v in n["voices"])  # fmt: skip
    images = "\n\n".join(f"![{v['voice']}]({v['folder']}/spectrograms.png)" for v in n["voices"])
    return f"""# tts_maml demo

The shipped meta-initialisation `{n['model']}` (sha256 `{n['model_sha256'][:12]}…`, see its model card)
adapted with `tts-maml adapt` to two voices it never saw, from {SUPPORT_CLIPS} clips each
({VALIDATION_CLIPS} more held out for early stopping, {n['steps']} steps):

- `{DEMO_SPEAKER}`: a test speaker of the built-in corpus (never used in training or in choices);
- `outside`: a voice made outside the corpus recipes (flite `{FLITE_VOICE}`, {PITCH_CENTS} cents, tempo {TEMPO}).

A sentence each voice said, and that adaptation never saw, synthesised with Coqui's own `tts`
from the base model (`base.wav`: the mean voice) and the adapted one (`adapted.wav`), beside the
real clip (`real.wav`). The commands are in `demo.log`.

## Measured (one synthesis each; `tts-maml evaluate` gives means over speakers and seeds)

| voice | judge | floor | base | adapted | ceiling |
|---|---|---|---|---|---|
{rows}

| voice | MCD base (dB) | MCD adapted (dB) | adapt (s) |
|---|---|---|---|
{other}

The judges (`tts_maml.judges`): *speaker_similarity* is the cosine between Resemblyzer embeddings of a
clip and the mean embedding of the voice's real clips that adaptation never saw (Resemblyzer also
gives the d-vectors the model is conditioned on, so it is not independent of the voice's start);
*campplus_similarity* the same with CAM++, an encoder the model never saw; *cer* and *wer*
Whisper tiny.en's character and word error rates against the sentence (lower is better).
*Floor*: a real clip of another voice saying another sentence; *ceiling*: the voice's own real
clip of the sentence. MCD: mel-cepstral distortion to the real clip of the same sentence
(DTW-aligned; lower is closer). Total demo time {n['seconds']:.0f} s.

{images}
"""


def listening_intro(n: Dict[str, Any]) -> str:
    """The listening page's opening paragraph (HTML) for the default demo's numbers ``n``."""
    return (f"<p>The shipped meta-initialisation <code>{n['model']}</code> adapted with <code>tts-maml adapt</code> "
            f"to two voices it never saw, from {SUPPORT_CLIPS} clips each, {n['steps']} steps. Each voice says a "
            "sentence that adaptation never saw: its real clip, the base model (the mean voice, before any clip) "
            "and the adapted model, synthesised with Coqui's <code>tts</code> (Griffin-Lim), and, for reference, "
            "a real clip of another voice (the floor). The numbers are in <a href=\"report.md\">report.md</a>; "
            "the commands in <a href=\"demo.log\">demo.log</a>.</p>")


def listening_voices(n: Dict[str, Any]) -> List[Voice]:
    """The listening page's voices for the default demo's numbers ``n``: per voice its real clip, the base and
    the adapted model's clips and the floor's, each judge's floor / base / adapted / ceiling."""
    from tts_maml.judges import JUDGE_OF, METRICS

    voices = []
    for v in n["voices"]:
        folder = v["folder"]
        clips = [Clip("real clip", f"{folder}/real.wav"), Clip("base model (no clips)", f"{folder}/base.wav"),
                 Clip(f"adapted ({n['steps']} steps)", f"{folder}/adapted.wav"),
                 Clip("floor: another voice, another sentence", v["floor_clip"])]  # fmt: skip
        rows = {f"{m} ({JUDGE_OF[m]})": [v["judges"][k][m] for k in COLUMNS] for m in METRICS}
        rows["MCD to the real clip (dB)"] = [None, v["mcd_base"], v["mcd_adapted"], None]
        voices.append(Voice(v["voice"], v["sentence"], clips, COLUMNS, rows, image=f"{folder}/spectrograms.png",
                            note="Similarities: higher is closer to the voice; CER / WER: lower is more intelligible. "
                                 "Ceiling: the real clip of the sentence."))  # fmt: skip
    return voices
