"""The vocoder fitted to a voice: the Griffin-Lim exponent chosen on the voice's own clips.

Coqui's Glow-TTS speaks through Griffin-Lim, which raises the predicted magnitudes to
``audio.power`` before it inverts them. The exponent sharpens the spectrum and decides how much of a
voice survives (:mod:`tts_maml.evaluate.vocoder_ceiling`): the shipped model's 1.25, chosen on
training speakers, keeps most of the corpus's voices and loses much of a voice unlike them. After
adaptation, :func:`fit_griffin_lim_power` synthesises sentences of the voice's clips once, inverts
each mel spectrogram at every exponent of :data:`GRIFFIN_LIM_POWERS`, and keeps the exponent whose
audio is nearest (Resemblyzer) to the centroid of the voice's clips. It changes no weight: the
exported ``config.json`` carries the exponent as ``audio.power``, which Coqui's ``tts`` reads.

The judge of :mod:`tts_maml.evaluate` is the same encoder, so a fitted exponent is checked against
MCD, which does not use it.

Example:
    >>> from tts_maml.adapt.vocoder_fit import fit_griffin_lim_power
    >>> choice = fit_griffin_lim_power(model, "voice", texts, centroid)  # doctest: +SKIP
    >>> choice.power in GRIFFIN_LIM_POWERS  # doctest: +SKIP
    True
"""

import contextlib
from dataclasses import dataclass
from typing import Any, Dict, Iterator, Sequence

import numpy as np
import torch

from tts_maml.speakers.similarity import cosine, embed

# The exponents the model card's inference sweep tried on the training speakers (Coqui's default
# is 1.5): the grid was fixed there, before any voice was fitted.
GRIFFIN_LIM_POWERS: Sequence[float] = (1.0, 1.1, 1.25, 1.5)


@dataclass(frozen=True)
class PowerChoice:
    """The fitted exponent and each exponent's mean similarity to the voice's centroid."""

    power: float
    scores: Dict[float, float]


@contextlib.contextmanager
def griffin_lim_power(ap: Any, power: float) -> Iterator[None]:
    """Run the block with the AudioProcessor ``ap`` at Griffin-Lim exponent ``power``, restored after."""
    saved, ap.power = ap.power, float(power)
    try:
        yield
    finally:
        ap.power = saved


def check_fits_griffin_lim(backbone: Any) -> None:
    """Raise ``ValueError`` unless the backbone's model speaks through Griffin-Lim (Glow-TTS)."""
    if not backbone.speaks_through_griffin_lim:
        raise ValueError(f"--fit-griffin-lim: a {backbone.name} model speaks waveforms and uses no Griffin-Lim; "
                         "the exponent is fitted for a model that predicts a mel spectrogram (Glow-TTS)")  # fmt: skip


def fit_griffin_lim_power(model: Any, speaker: str, texts: Sequence[str], centroid: np.ndarray,
                          powers: Sequence[float] = GRIFFIN_LIM_POWERS, seed: int = 0) -> PowerChoice:  # fmt: skip
    """The exponent of ``powers`` whose Griffin-Lim audio of ``texts``, spoken by ``model`` (a Coqui
    model as it is: adapted weights already in) as ``speaker``, is nearest on average to ``centroid``
    (a Resemblyzer embedding of the voice's clips); ties go to the first. Synthesis and every
    inversion are seeded by ``seed`` and the sentence, so the exponents are compared on the same draws.
    """
    if not texts or not powers:
        raise ValueError("fitting the Griffin-Lim exponent needs at least one sentence and one exponent")
    ap = model.ap
    scores: Dict[float, list] = {float(p): [] for p in powers}
    for i, text in enumerate(texts):
        with torch.random.fork_rng():
            torch.manual_seed(seed * 1000 + i)
            with torch.no_grad():
                mel = model.synthesize(text, speaker=speaker, use_griffin_lim=False)["outputs"]["model_outputs"]
        mel = mel[0].detach().cpu().numpy().squeeze()
        if mel.ndim != 2:
            raise ValueError("fitting the Griffin-Lim exponent needs a model that predicts a mel spectrogram "
                             "(Glow-TTS); this one speaks waveforms and uses no Griffin-Lim")  # fmt: skip
        for power in scores:
            state = np.random.get_state()
            np.random.seed(seed * 1000 + i)  # Griffin-Lim's random start phases: the same for every exponent
            with griffin_lim_power(ap, power):
                wav = np.asarray(ap.inv_melspectrogram(mel.T), dtype=np.float32)
            np.random.set_state(state)
            scores[power].append(cosine(embed(wav, ap.sample_rate), centroid))
    means = {p: float(np.mean(v)) for p, v in scores.items()}
    return PowerChoice(power=max(means, key=lambda p: (means[p], -list(means).index(p))), scores=means)
