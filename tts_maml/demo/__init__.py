"""The demo: the product on the built-in corpus, as a user would run it (``tts-maml demo``, ``make demo``).

By default (about a minute, :mod:`tts_maml.demo.shipped_demo`) it adapts the shipped
meta-initialisation (``tts-maml models``) to two voices it never saw, from 5 clips each (+2 held
out for early stopping), with ``tts-maml adapt``:

- a *test* speaker of the built-in corpus (rendered alone, in a second, with the corpus' own recipe);
- the *outside* voice (:mod:`tts_maml.corpus.outside_voice`): another synthesiser, pitch and tempo.

For each it synthesises a sentence the voice said (and adaptation never saw) with the base and the
adapted model through Coqui's own ``tts`` command, beside the real clip, measures speaker
similarity (Resemblyzer: floor, base, adapted, ceiling) and MCD, draws the three spectrograms, and
writes ``report.md``.

``--train`` instead (:mod:`tts_maml.demo.training_demo`) runs the whole from-scratch path:
meta-train tiny VITS with a recipe (about 8 minutes on 2 CPU cores), then adapt and synthesise.

Every step runs the real command line (subprocesses, :mod:`tts_maml.demo.commands`), so the demo
is also an end-to-end check. Both demos split a voice's clips by one rule
(:mod:`tts_maml.demo.voice_clips`). The library logs; the console summary is the CLI's.
"""

from typing import Any, BinaryIO, Dict, Optional, Sequence

from tts_maml.demo.shipped_demo import DEMO_SPEAKER, DEMO_STEPS, SHIPPED_MODEL, run_shipped_demo
from tts_maml.demo.training_demo import ADAPT_STEPS, run_training_demo, training_demo_artefacts
from tts_maml.demo.voice_clips import SUPPORT_CLIPS, VALIDATION_CLIPS

__all__ = [
    "ADAPT_STEPS", "DEMO_SPEAKER", "DEMO_STEPS", "SHIPPED_MODEL", "SUPPORT_CLIPS", "VALIDATION_CLIPS",
    "run_demo", "run_shipped_demo", "run_training_demo", "training_demo_artefacts",
]  # fmt: skip


def run_demo(out: str = "demo_out", train: bool = False, recipe_args: Sequence[str] = (),
             recipe: Optional[str] = None, echo: Optional[BinaryIO] = None) -> Dict[str, Any]:  # fmt: skip
    """The demo into ``out``: adapt the shipped model (default), or ``train`` from scratch first with
    the meta-training script ``recipe`` (required then) and its extra ``recipe_args``.

    Subprocess output (progress bars) also goes to ``echo`` where given; returns the numbers of report.json.
    """
    if train:
        if recipe is None:
            raise ValueError("the --train demo needs its meta-training recipe (recipes/vctk/meta_train_vits.py)")
        return run_training_demo(out, recipe, recipe_args, echo=echo)
    return run_shipped_demo(out, echo=echo)
