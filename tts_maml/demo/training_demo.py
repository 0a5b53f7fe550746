"""The from-scratch demo (``tts-maml demo --train``, about 8 minutes on 2 CPU cores): meta-train a tiny
VITS with a recipe, adapt it to a held-out speaker of the built-in corpus from 5 clips, synthesise.

The recipe script is the caller's (the CLI finds ``recipes/vctk/meta_train_vits.py`` in the
repository): recipes are scripts of the repository, not part of the package.
"""

import json
import logging
import os
import shutil
import sys
import time
from typing import Any, BinaryIO, Dict, Optional, Sequence

from tts_maml.demo.commands import console_script, run_logged, synthesise_base_and_adapted
from tts_maml.demo.voice_clips import (
    SUPPORT_CLIPS,
    VALIDATION_CLIPS,
    held_out_speaker_clips,
    judge_wavs,
    split_voice_clips,
)
from tts_maml.listening_page import Clip, Voice, write_listening_page

# The package's name: the demo's log lines kept the logger name they had before the demo was split.
logger = logging.getLogger(__package__)

ADAPT_STEPS = 40
RUNS_DIR = "run"


def find_run(runs: str) -> str:
    """The one training run folder (with a ``config.json``) in ``runs``; ``FileNotFoundError`` naming
    ``runs`` if there is none or more than one."""
    found = [os.path.join(runs, d) for d in sorted(os.listdir(runs)) if os.path.isfile(os.path.join(runs, d, "config.json"))]
    if len(found) != 1:
        raise FileNotFoundError(f"{runs}: expected one training run folder with a config.json, found {len(found)}")
    return found[0]


def run_training_demo(out: str, recipe: str, recipe_args: Sequence[str] = (), corpus: Optional[str] = None,
                      echo: Optional[BinaryIO] = None) -> Dict[str, Any]:  # fmt: skip
    """The from-scratch demo into ``out`` (replaced): meta-train with the script ``recipe`` (run as
    ``recipe --output-path out/run *recipe_args``), adapt to the first test speaker of ``corpus``'s held-out folder
    (default: the built-in offline corpus, built once), synthesise; returns the measured numbers (also
    in report.json).

    Commands go to ``out/demo.log``, and training and adaptation's progress also to ``echo`` where given.
    """
    from tts_maml.corpus.offline import held_out_dir, offline_corpus

    if not os.path.isfile(recipe):
        raise FileNotFoundError(f"{recipe} not found: the demo's meta-training recipe")
    out = os.path.abspath(out)
    if os.path.isdir(out):
        shutil.rmtree(out)
    os.makedirs(out)
    log = os.path.join(out, "demo.log")
    numbers: Dict[str, Any] = {}

    logger.info("demo 1/5: the offline corpus (built once, then cached)")
    start = time.perf_counter()
    corpus = corpus or offline_corpus()
    numbers["corpus_seconds"] = round(time.perf_counter() - start, 1)

    logger.info("demo 2/5: meta-training tiny VITS (%s)", recipe)
    runs = os.path.join(out, RUNS_DIR)
    seconds = run_logged([sys.executable, recipe, "--output-path", runs, *recipe_args], log, echo)
    numbers["meta_train_seconds"] = round(seconds, 1)
    run = find_run(runs)
    base = (os.path.join(run, "best_model.pth"), os.path.join(run, "config.json"))

    logger.info("demo 3/5: adapting to a held-out voice from %d clips (tts-maml adapt)", SUPPORT_CLIPS)
    speaker, clips = held_out_speaker_clips(held_out_dir(corpus))
    picked = split_voice_clips(clips, os.path.join(out, "clips"), os.path.join(out, f"real_{speaker}.wav"))
    voice = os.path.join(out, "voice")
    numbers["adapt_seconds"] = round(run_logged([
        console_script("tts-maml"), "adapt", "--model_path", base[0], "--config_path", base[1], "--clips",
        picked.clips, "--out", voice, "--steps", str(ADAPT_STEPS), "--val-clips", str(VALIDATION_CLIPS),
        "--name", speaker], log, echo), 1)  # fmt: skip

    logger.info("demo 4/5: synthesising with Coqui's tts (base and adapted)")
    wavs = {"base": os.path.join(out, "base.wav"), "adapted": os.path.join(out, "adapted.wav")}
    synthesise_base_and_adapted(base, voice, picked.sentence, wavs, log)

    logger.info("demo 5/5: measuring and writing the report")
    # Scored against the speaker's clips that adaptation never saw, as the shipped demo does: scored
    # against the support clips, the adapted voice would be graded on what it was fitted to.
    scores = judge_wavs({**wavs, "real": picked.real}, picked.reference, picked.sentence)
    with open(os.path.join(voice, "curve.json"), encoding="utf-8") as f:
        curve = json.load(f)
    numbers.update(
        speaker=speaker,
        sentence=picked.sentence,
        judges=scores,
        heldout_loss_before=round(curve["val_loss"][0], 4),
        heldout_loss_best=round(curve["val_loss"][curve["best_step"]], 4),
        best_step=curve["best_step"],
        voice_kb=round(os.path.getsize(os.path.join(voice, "voice.pth")) / 1024, 1),
        adapted_mb=round(os.path.getsize(os.path.join(voice, "adapted.pth")) / 2**20, 2),
    )
    with open(os.path.join(out, "report.json"), "w", encoding="utf-8") as f:
        json.dump(numbers, f, indent=2)
    shutil.copy(os.path.join(voice, "curve.png"), os.path.join(out, "adaptation_curve.png"))
    with open(base[1], encoding="utf-8") as f:
        maml = json.load(f)["maml"]
    with open(os.path.join(out, "report.md"), "w", encoding="utf-8") as f:
        f.write(training_report(recipe, os.path.relpath(run, out), numbers, maml))
    write_listening_page(out, "tts_maml demo (from scratch): listen",
                         "<p>Tiny VITS, meta-trained for minutes on a CPU, then adapted to a held-out speaker: the real "
                         "clip of a sentence adaptation never saw, the meta-trained model and the adapted one. The "
                         'numbers and what was run are in <a href="report.md">report.md</a>.</p>',
                         [training_listening_voice(numbers)])  # fmt: skip
    return numbers


def training_listening_voice(n: Dict[str, Any]) -> Voice:
    """The from-scratch demo's voice on its listening page, from its numbers ``n`` (as in report.json)."""
    from tts_maml.judges import JUDGE_OF, METRICS

    said = ("real", "base", "adapted")
    clips = [Clip("real clip (ceiling)", f"real_{n['speaker']}.wav"), Clip("meta-trained model", "base.wav"),
             Clip(f"adapted ({ADAPT_STEPS} steps)", "adapted.wav")]  # fmt: skip
    rows = {f"{m} ({JUDGE_OF[m]})": [n["judges"][k][m] for k in said] for m in METRICS}
    return Voice(n["speaker"], n["sentence"], clips, ("real (ceiling)", "base", "adapted"), rows,
                 image="adaptation_curve.png", note="The picture: the adaptation curve (support and held-out loss).")


def training_demo_artefacts(out: str) -> Dict[str, str]:
    """What the from-scratch demo wrote into ``out``: a description -> path of each artefact a user looks at."""
    out = os.path.abspath(out)
    with open(os.path.join(out, "report.json"), encoding="utf-8") as f:
        speaker = json.load(f)["speaker"]
    relative = {
        "report": "report.md", "listening page": "index.html", "real voice (unseen sentence)": f"real_{speaker}.wav",
        "base model": "base.wav", "adapted model": "adapted.wav", "adaptation curve": "adaptation_curve.png",
        "adapted checkpoint": "voice/adapted.pth", "voice delta": "voice/voice.pth",
        "meta-training run": os.path.relpath(find_run(os.path.join(out, RUNS_DIR)), out),
    }  # fmt: skip
    return {what: os.path.join(out, rel) for what, rel in relative.items()}


def training_report(recipe: str, run: str, n: Dict[str, Any], maml: Dict[str, Any]) -> str:
    """The text of the from-scratch demo's ``report.md``: ``recipe`` the meta-training script as it was
    run, ``run`` its run folder (relative to the demo's folder), ``n`` the numbers (as in report.json),
    ``maml`` the run config's ``maml`` section."""
    return f"""# tts_maml demo

What was done (every step is the real command line; the commands are in `demo.log`):

1. The built-in offline corpus: 20 synthetic speakers x 30 clips, 4 held-out speakers (cached).
2. Meta-training of a tiny VITS ({maml['algorithm']}, {maml['inner_steps']} inner steps on the
   `{maml['adapter_preset']}` adapter, meta-batches of {maml['meta_batch_size']} speakers) with
   `{recipe}`: {n['meta_train_seconds']:.0f} s. Run folder: `{run}`.
3. Adaptation to test speaker `{n['speaker']}` (held out: neither trained on nor used to choose the checkpoint) from {SUPPORT_CLIPS} clips,
   {VALIDATION_CLIPS} more held out for early stopping, {ADAPT_STEPS} steps: {n['adapt_seconds']:.0f} s (`tts-maml adapt`).
4. The sentence "{n['sentence']}" (which adaptation never saw) synthesised with Coqui's own `tts`
   command from the meta-trained model (`base.wav`) and the adapted one (`adapted.wav`), beside
   the real clip of the speaker saying it.

## Measured

| | value |
|---|---|
| held-out loss before adaptation | {n['heldout_loss_before']} |
| held-out loss at the exported step ({n['best_step']}) | {n['heldout_loss_best']} |
{_judge_rows(n)}
| `voice.pth` (only the adapted tensors) | {n['voice_kb']} KB |
| `adapted.pth` (whole model) | {n['adapted_mb']} MB |

Speaker similarity is the cosine between Resemblyzer (or CAM++) embeddings of the synthesised clip and the
mean embedding of the speaker's real clips that adaptation never saw (neither its {SUPPORT_CLIPS} + {VALIDATION_CLIPS}
adaptation clips nor the unseen sentence); CER and WER are Whisper tiny.en's error rates on the
sentence (`tts_maml.judges`). The tiny model trains for minutes
on a CPU: expect robotic audio. Each number is one synthesis through `tts`, whose VITS noise is not
seeded: differences of a few hundredths are within that noise (`tts-maml evaluate` seeds it).

![adaptation curve](adaptation_curve.png)
"""


def _judge_rows(n: Dict[str, Any]) -> str:
    # One table row per judge and clip (base model, adapted model, the real unseen clip: the ceiling).
    from tts_maml.judges import JUDGE_OF, METRICS

    said = {"base": "base model", "adapted": "adapted model", "real": "the real unseen clip (ceiling)"}
    return "\n".join(f"| {m} ({JUDGE_OF[m]}) of `{n['speaker']}`, {said[k]} | {n['judges'][k][m]} |"
                     for m in METRICS for k in said)  # fmt: skip
