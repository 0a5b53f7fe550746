"""What the judges say of a voice adapted with held-out clips (``tts-maml adapt --val-clips N``).

Early stopping chooses the exported step by the held-out clips' *loss*; this reports what the
three judges of :mod:`tts_maml.judges` say of their *sentences* spoken by the model before any clip
was used (``base``: its own voice slot) and after adaptation (``adapted``: the exported weights, at
the exported Griffin-Lim exponent), beside the real held-out clips themselves (``ceiling``).
Similarities are to the centroid of the *support* clips' embeddings; error rates against each
held-out clip's own sentence. With two or more held-out clips, the error rates' ``floor`` is what
Whisper heard in each real held-out clip against another held-out sentence (a speaker-similarity
floor needs another voice, which adaptation does not have).

Each sentence is spoken seeded (``seed`` and its index), so the same adaptation gives the same
numbers. Written as ``held_out.json`` beside the exported voice.

Example:
    >>> from tts_maml.adapt.held_out import judge_held_out
    >>> scores = judge_held_out(loaded, weights.fast, batches)  # doctest: +SKIP
    >>> scores["adapted"]["cer"], scores["ceiling"]["cer"]  # doctest: +SKIP
"""

import logging
from typing import Any, Dict, List, Optional

import numpy as np
import torch

from tts_maml import judges
from tts_maml.adapt.fast_weights import weights_in
from tts_maml.adapt.vocoder_fit import griffin_lim_power

logger = logging.getLogger(__name__)

HELD_OUT_FILE = "held_out.json"


def _speak(loaded: Any, texts: List[str], fast: Dict[str, torch.Tensor], power: Optional[float],
           seed: int) -> List[np.ndarray]:  # fmt: skip
    # The model (``fast`` in) speaks each text, seeded by (seed, index), at ``power`` (None: its own).
    model = loaded.model
    speaker = model.speaker_manager.speaker_names[0]
    power = float(model.ap.power) if power is None else power
    wavs = []
    with weights_in(model, fast), torch.no_grad(), griffin_lim_power(model.ap, power):
        for i, text in enumerate(texts):
            with torch.random.fork_rng():
                torch.manual_seed(seed * 1000 + i)
                state = np.random.get_state()
                np.random.seed(seed * 1000 + i)
                try:
                    out = model.synthesize(text, speaker=speaker, use_griffin_lim=True)
                finally:
                    np.random.set_state(state)
            wavs.append(np.asarray(out["wav"], dtype=np.float32).reshape(-1))
    return wavs


def _mean(scores: List[Dict[str, float]]) -> Dict[str, float]:
    return {m: float(np.mean([s[m] for s in scores])) for m in scores[0]}


def judge_held_out(loaded: Any, fast: Dict[str, torch.Tensor], batches: Any,
                   power: Optional[float] = None, seed: int = 0) -> Dict[str, Any]:  # fmt: skip
    """``loaded`` a :class:`tts_maml.adapt.adaptation.LoadedModel`, ``batches`` its
    :class:`~tts_maml.adapt.adaptation.ClipBatches`, ``fast`` the exported weights, ``power`` the
    exported Griffin-Lim exponent (None: the model's own).

    Returns ``{"clips", "base", "adapted", "ceiling", "floor"}``: the mean of every judge's score over the
    held-out clips (module docstring); ``floor`` holds the error rates only, and is empty with one
    held-out clip. Raises ValueError without held-out clips."""
    support = [c for c, role in zip(batches.clips, batches.roles) if role == "support"]
    held = [c for c, role in zip(batches.clips, batches.roles) if role == "validation"]
    if not held:
        raise ValueError("no held-out clips to judge: adapt with --val-clips 1 or more")
    rate = int(loaded.config.audio.sample_rate)
    centroid = judges.centroids([judges.clip_embeddings(c.wav, rate) for c in support])
    texts = [c.text for c in held]
    scores = {"clips": len(held)}
    for name, weights in (("base", {}), ("adapted", fast)):
        spoken = _speak(loaded, texts, weights, power, seed)
        scores[name] = _mean([judges.judge(w, rate, t, centroid) for w, t in zip(spoken, texts)])
    real = [judges.judge_heard(c.wav, rate, c.text, centroid) for c in held]
    scores["ceiling"] = _mean([r[0] for r in real])
    heard = [r[1] for r in real]
    wrong = [judges.error_rates(texts[j], heard[i]) for i in range(len(held)) for j in range(len(held)) if i != j]
    scores["floor"] = _mean(wrong) if wrong else {}
    logger.info("held-out clips (%d) by the judges: %s", len(held), "; ".join(
        f"{m} {scores['base'][m]:.3f} -> {scores['adapted'][m]:.3f} (real {scores['ceiling'][m]:.3f})"
        for m in judges.METRICS))  # fmt: skip
    return scores
