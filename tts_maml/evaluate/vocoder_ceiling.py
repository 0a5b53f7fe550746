"""The vocoder's ceiling: how much of a voice survives the model's own mel spectrogram and Griffin-Lim.

A Glow-TTS model of this package predicts a mel spectrogram and Coqui turns it into audio with
Griffin-Lim (``AudioProcessor.inv_melspectrogram``, at the config's ``audio.power`` and
``griffin_lim_iters``). A *real* clip of a voice, turned into that mel spectrogram and back, is
what a perfect acoustic model would speak through this vocoder; its speaker similarity to the
voice's centroid (by each speaker encoder of :mod:`tts_maml.judges`), and Whisper's error rate on it,
are the most any adaptation can reach with these audio settings. It differs from
voice to voice and with the exponent: at the shipped model's ``audio.power`` 1.25 the corpus's test
speakers keep 0.864 of the 0.925 their real clips score and the outside voice 0.793 of 0.942; at
1.0, 0.914 and 0.908 (``benchmarks/vocoder_ceiling.py``, docs/results.md). It also depends on the clip's
level (Coqui's mel normalisation floors quiet bins): voices of clips folders are measured as
``tts-maml adapt`` reads them, at its common speech level.

Example:
    >>> from tts_maml.evaluate.vocoder_ceiling import round_trip
    >>> wav = round_trip(ap, real, 22050)  # doctest: +SKIP
"""

from typing import Any, Callable, Dict, List, Sequence

import numpy as np

from tts_maml import judges
from tts_maml.evaluate.subject import seeded
from tts_maml.evaluate.trials import Trial, clip_key


def round_trip(ap: Any, wav: np.ndarray, rate: int) -> np.ndarray:
    """``wav`` (at ``rate`` Hz) through Coqui's ``AudioProcessor`` ``ap``: its mel spectrogram, then its
    Griffin-Lim, at ``ap.sample_rate``. Griffin-Lim starts from random phases drawn from numpy's
    global generator: seed it for a repeatable result."""
    wav = np.asarray(wav, dtype=np.float32).reshape(-1)
    if rate != ap.sample_rate:
        import librosa

        wav = librosa.resample(wav, orig_sr=rate, target_sr=ap.sample_rate)
    return np.asarray(ap.inv_melspectrogram(ap.melspectrogram(wav)), dtype=np.float32)


def vocoder_scores(episodes: Sequence[Trial], ap: Any,
                   unit: Callable[[Trial], Any] = lambda e: e.speaker) -> List[Dict[str, Any]]:  # fmt: skip
    """``{"speaker": unit(episode), metric: ...}`` per episode, for every judge's metric
    (:data:`tts_maml.judges.METRICS`): the mean score of its real query clips after
    :func:`round_trip`, against the episode's centroids (the same as the ceiling's) and each clip's
    own sentence, each clip seeded by the episode's seed and the clip, as synthesis is. The interval
    over units is :func:`tts_maml.evaluate.evaluation.speaker_interval`'s."""
    rows = []
    for e in episodes:
        scores = []
        for clip, (wav, rate) in zip(e.query, e.reals):
            with seeded(e.seed, clip_key(clip)):
                heard = round_trip(ap, wav, rate)
            scores.append(judges.judge(heard, ap.sample_rate, clip["text"], e.centroids))
        rows.append({"speaker": unit(e), **{m: float(np.mean([s[m] for s in scores])) for m in judges.METRICS}})
    return rows
