"""The fine-tuning baseline: what a Coqui user would do instead of meta-learning.

Take the pre-trained multi-speaker model that the meta-learning started from (converted to one
voice slot by ``tts-maml convert``), and fine-tune it on the same few clips with Adam, as Coqui's
Trainer would (Adam, gradients clipped at the config's ``grad_clip``), at a learning rate chosen on
the dev speakers. :func:`tts_maml.adapt.fine_tuning.fine_tune` is that loop (``tts-maml adapt
--optimizer adam`` runs it too), over the same tensors and the same task loss as ``tts-maml adapt``
(the model's adapter selection, or any preset: ``generator`` for every weight), starting where
``tts-maml adapt`` starts (``MetaLearner.start_weights``: with ``maml.voice_start = "d_vector"``
the voice slot starts from the support clips' d-vector).
:class:`FineTuned` is the baseline as an evaluation subject (measured as the meta-learned model
is), :func:`choose_baseline_lr` chooses its learning rate on the dev speakers, and
:func:`train_baseline` writes that choice; ``tts-maml evaluate`` does the same choice itself
unless it is given one.
"""

import copy
import dataclasses
import json
import logging
import math
import os
import tempfile
from typing import Any, Dict, Optional, Sequence

import numpy as np
from tqdm import tqdm

from tts_maml.adapt.adaptation import OnStep, adapt_steps
from tts_maml.corpus.speaker_split import held_out_samples, split_dev_test
from tts_maml.evaluate.protocol import BASELINE_LRS, BASELINE_STEPS, QUERIES, SELECT_BY, SHOTS
from tts_maml.evaluate.subject import LOWER_IS_BETTER, Subject
from tts_maml.evaluate.trials import Trial, make_trials
from tts_maml.files import atomic_write_text, check_output_folder, sha256_file

logger = logging.getLogger(__name__)


class FineTuned(Subject):
    """The baseline as a :class:`~tts_maml.evaluate.subject.Subject` named ``baseline``: the
    starting checkpoint, adapted as ``tts-maml adapt --optimizer adam`` adapts (Adam at ``adam_lr``,
    :func:`~tts_maml.adapt.fine_tuning.fine_tune`) instead of by its inner loop, measured in the same way.

    Args:
        model_path, config_path: the starting checkpoint and its config.json.
        adam_lr: Adam's learning rate (None until chosen: see :meth:`at`).
        adapter_preset, device, phoneme_cache, fit_griffin_lim: as in :class:`~tts_maml.evaluate.subject.Subject`.
    """

    def __init__(self, model_path: str, config_path: str, adam_lr: Optional[float] = None,
                 adapter_preset: Optional[str] = None, device: str = "cpu",
                 phoneme_cache: Optional[str] = None, fit_griffin_lim: bool = False) -> None:  # fmt: skip
        super().__init__("baseline", model_path, config_path, adapter_preset=adapter_preset, device=device,
                         phoneme_cache=phoneme_cache, fit_griffin_lim=fit_griffin_lim)  # fmt: skip
        self.adam_lr = adam_lr

    def at(self, adam_lr: float) -> "FineTuned":
        """The same subject (the same loaded model, not a copy of it) fine-tuned at ``adam_lr``."""
        tuned = copy.copy(self)
        tuned.adam_lr = adam_lr
        return tuned

    def adapt_steps(self, support: Any, steps: int, on_step: OnStep) -> None:
        """Fine-tune on the ``support`` batch for ``steps`` Adam steps, ``on_step(step, fast)`` at
        steps 0..steps (step 0: where ``tts-maml adapt`` starts)."""
        if self.adam_lr is None:
            raise ValueError("the baseline's Adam learning rate is not set (FineTuned.at(lr))")
        # tts-maml adapt --optimizer adam's own step, on a view of the same loaded model
        adapt_steps(dataclasses.replace(self.loaded, optimizer="adam", lr=self.adam_lr), support, steps, on_step)


def choose_baseline_lr(subject: FineTuned, episodes: Sequence[Trial], lrs: Sequence[float], steps: int,
                       select_by: str = SELECT_BY[0], progress: bool = True) -> Dict[str, Any]:  # fmt: skip
    """Fine-tune ``subject`` on the dev ``episodes`` at every rate of ``lrs`` for ``steps`` Adam
    steps (:meth:`FineTuned.at`); pick the rate with the best mean ``select_by`` (over dev
    speakers) after ``steps`` (ties go to the other measure).

    Returns ``{"chosen", "select_by", "steps", "speakers", "seeds", "lrs": {lr: {"speaker_similarity",
    "query_loss", "diverged"}}}``; a rate that diverged on any dev episode is never chosen."""
    if select_by not in SELECT_BY:
        raise ValueError(f"--baseline-select-by must be one of {', '.join(SELECT_BY)}, got {select_by!r}")
    table: Dict[str, Dict[str, Any]] = {}
    for lr in tqdm(lrs, desc="baseline lr on dev speakers", unit="lr", disable=not progress):
        tuned = subject.at(lr)
        rows = [tuned.measure(e, tuned.trajectory(e, [0, steps])[steps]) for e in episodes]
        diverged = any(not math.isfinite(r["query_loss"]) for r in rows)
        means = {k: float(np.nanmean([r[k] for r in rows])) for k in ("speaker_similarity", "query_loss")}
        table[repr(float(lr))] = {"lr": float(lr), "diverged": diverged, **means}
    usable = [v for v in table.values() if not v["diverged"]]
    if not usable:
        raise ValueError(f"the baseline diverged at every learning rate of {list(lrs)} on the dev speakers")
    sign = -1.0 if select_by in LOWER_IS_BETTER else 1.0
    other = "query_loss" if select_by == "speaker_similarity" else "speaker_similarity"
    # Ties (a voice that does not move at any rate) go to the other measure.
    chosen = max(usable, key=lambda v: (sign * v[select_by], -sign * v[other]))["lr"]
    return {"chosen": chosen, "select_by": select_by, "steps": steps,
            "speakers": sorted({e.speaker for e in episodes}), "seeds": sorted({e.seed for e in episodes}),
            "lrs": table}  # fmt: skip


def train_baseline(
    model_path: str,
    config_path: str,
    corpus: str,
    out: str,
    lrs: Sequence[float] = BASELINE_LRS,
    steps: int = BASELINE_STEPS,
    select_by: str = SELECT_BY[0],
    adapter_preset: Optional[str] = None,
    held_out_speakers: Optional[int] = None,
    shots: int = SHOTS,
    queries: int = QUERIES,
    device: str = "cpu",
    overwrite: bool = False,
    progress: bool = True,
    fit_griffin_lim: bool = False,
) -> Dict[str, Any]:
    """Choose the baseline's learning rate on the dev speakers of ``corpus`` and write it to
    ``out/baseline.json`` (the starting checkpoint and its sha256, the chosen rate, the dev score of
    every rate); returns that record. ``tts-maml evaluate --baseline_lr`` takes the chosen rate.

    Every rate of ``lrs`` fine-tunes the starting checkpoint for ``steps`` Adam steps on each dev
    speaker's ``shots`` support clips (seed 0), and is scored on ``queries`` unseen sentences by
    ``select_by`` (``speaker_similarity`` of the synthesised speech, or ``query_loss``), spoken at
    the Griffin-Lim exponent fitted to the support clips with ``fit_griffin_lim`` (as ``tts-maml
    evaluate --fit-griffin-lim`` measures).
    """
    check_output_folder(out, overwrite)
    with tempfile.TemporaryDirectory(prefix="tts_maml_baseline_") as work:  # the dev clips' phonemes
        subject = FineTuned(model_path, config_path, adapter_preset=adapter_preset, device=device, phoneme_cache=work,
                            fit_griffin_lim=fit_griffin_lim)  # fmt: skip
        samples = held_out_samples(corpus, held_out_speakers, seed=subject.loaded.config.maml.seed)
        dev, _ = split_dev_test(s["speaker_name"] for s in samples)
        if not dev:
            raise ValueError(f"{corpus}: no dev speakers (the held-out speakers split into dev and test)")
        choice = choose_baseline_lr(subject, make_trials(samples, dev, [0], shots, queries), lrs, steps,
                                    select_by, progress)  # fmt: skip
    record = {"model_path": os.path.abspath(model_path), "config_path": os.path.abspath(config_path),
              "sha256": sha256_file(model_path), "optimizer": "adam", **subject.describe(), **choice}  # fmt: skip
    record.pop("inner_lr")  # the inner loop's rate, not the baseline's
    os.makedirs(out, exist_ok=True)
    atomic_write_text(json.dumps(record, indent=2), os.path.join(out, "baseline.json"))
    return record
