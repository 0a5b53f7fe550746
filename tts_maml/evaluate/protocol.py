"""The evaluation protocol's numbers, in one place: what `tts-maml evaluate` and `train-baseline`
use by default, what the library functions default to, and what the protocol asks for.

A light module (no torch, no Coqui): the command line builds its help from it.

Example:
    >>> from tts_maml.evaluate.protocol import DEFAULT_STEPS, REFERENCE_STEP, format_numbers
    >>> REFERENCE_STEP in DEFAULT_STEPS, format_numbers(DEFAULT_STEPS)
    (True, '0,5,10,20,50,100,200')
    >>> format_numbers((1e-4, 3.5e-4, 0.1))
    '1e-4,3.5e-4,0.1'
"""

from typing import Sequence

# Adaptation steps measured, 0 = the model's start for the voice (before any step).
DEFAULT_STEPS = (0, 5, 10, 20, 50, 100, 200)
# The meta model's step that the fine-tuning baseline has to match (the steps ratio divides by it).
REFERENCE_STEP = 5
# Support clips and unseen query sentences per speaker.
SHOTS, QUERIES = 5, 3
# The baseline: Adam rates to choose from on the dev speakers, after this many steps, by one of these.
BASELINE_LRS = (1e-4, 3e-4, 1e-3, 3e-3)
BASELINE_STEPS = 200
SELECT_BY = ("speaker_similarity", "query_loss")
# What the protocol asks for; fewer is allowed (tests, quick looks) and said in the report.
MIN_TEST_SPEAKERS, MIN_SEEDS = 8, 3


def format_numbers(values: Sequence[float]) -> str:
    """``values`` as the command line takes them: comma-separated, small rates in scientific form
    (``1e-4,3e-4``)."""

    def short(v: float) -> str:
        if v == 0 or abs(v) >= 0.01:
            return f"{v:g}"
        mantissa, exponent = f"{v:e}".split("e")
        return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"

    return ",".join(short(v) for v in values)
