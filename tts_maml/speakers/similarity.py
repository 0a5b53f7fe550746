"""Speaker similarity with Resemblyzer's speaker encoder (its weights ship inside the wheel, so it
works offline).

Used to check that the offline corpus' speakers are really distinct voices (``tts-maml
check-corpus``), and to score how close an adapted voice is to the real speaker (``tts-maml
evaluate``, the demo).

Example:
    >>> import numpy as np
    >>> from tts_maml.speakers.similarity import cosine
    >>> float(cosine(np.ones(3), np.ones(3)))
    1.0
"""

import functools
import logging
import os
from dataclasses import dataclass
from typing import Callable, Dict, List, Sequence

import numpy as np

logger = logging.getLogger(__name__)


@functools.lru_cache(maxsize=1)
def _encoder():
    # Imported lazily: resemblyzer pulls in torch and librosa, which the corpus builder does not need.
    from resemblyzer import VoiceEncoder

    return VoiceEncoder("cpu", verbose=False)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two vectors."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def embed(wav: np.ndarray, sample_rate: int) -> np.ndarray:
    """The speaker embedding (unit norm, 256 values) of one mono clip."""
    from math import gcd

    from resemblyzer import preprocess_wav
    from resemblyzer.hparams import sampling_rate
    from scipy.signal import resample_poly

    wav = np.asarray(wav, dtype=np.float32)
    if sample_rate != sampling_rate:
        # Polyphase resampling to the encoder's 16 kHz: the same embedding as Resemblyzer's own
        # (librosa) resampling to a cosine of 0.99999, about 100x faster.
        g = gcd(sampling_rate, sample_rate)
        wav = resample_poly(wav, sampling_rate // g, sample_rate // g).astype(np.float32)
    return _encoder().embed_utterance(preprocess_wav(wav, sampling_rate))


def embed_file(path: str) -> np.ndarray:
    """The speaker embedding of an audio file (any format soundfile reads)."""
    import soundfile as sf

    wav, sr = sf.read(path, dtype="float32", always_2d=True)
    return embed(wav.mean(axis=1), sr)


@dataclass
class SimilarityReport:
    """How well a speaker encoder tells a set of speakers apart.

    Every clip is compared with every speaker's centroid (the mean embedding of its clips; a clip's
    own speaker's centroid leaves that clip out, so no clip is compared with itself).

    Args:
        within: per speaker, the mean cosine of its clips to its own (leave-one-out) centroid.
        nearest: per speaker, ``(other speaker, mean cosine of its clips to that centroid)`` for
            the closest other speaker.
        accuracy: per speaker, the share of its clips whose nearest centroid is its own
            (nearest-centroid speaker identification).
        mean_within: mean of ``within``.
        mean_between: mean clip-to-other-centroid cosine over all pairs of distinct speakers.
        distinct: speakers whose clips are closer to their own centroid than to any other
            (``within > nearest``).
    """

    within: Dict[str, float]
    nearest: Dict[str, tuple]
    accuracy: Dict[str, float]
    mean_within: float
    mean_between: float
    distinct: List[str]


def similarity_report(clips: Dict[str, Sequence[str]],
                      embed_path: Callable[[str], np.ndarray] = embed_file) -> SimilarityReport:  # fmt: skip
    """Compare speakers: ``clips`` maps a speaker to its audio files (two or more each), each file
    embedded by ``embed_path`` (default: Resemblyzer's :func:`embed_file`; CAM++ is
    :func:`tts_maml.judges.campplus_embed_file`)."""
    speakers = sorted(clips)
    if len(speakers) < 2:
        raise ValueError("need at least two speakers to compare")
    for spk in speakers:
        if len(clips[spk]) < 2:
            raise ValueError(f"speaker {spk} has {len(clips[spk])} clip(s); need at least two")
    embeddings = {spk: np.stack([embed_path(p) for p in clips[spk]]) for spk in speakers}
    sums = {spk: e.sum(axis=0) for spk, e in embeddings.items()}
    within, nearest, accuracy, between = {}, {}, {}, []
    for spk in speakers:
        e = embeddings[spk]
        own = sums[spk][None, :] - e  # leave-one-out centroids, one per clip
        own_sim = np.sum(e * own, axis=1) / (np.linalg.norm(e, axis=1) * np.linalg.norm(own, axis=1))
        other_sim = {}
        for other in speakers:
            if other != spk:
                c = sums[other] / np.linalg.norm(sums[other])
                other_sim[other] = (e @ c) / np.linalg.norm(e, axis=1)
        best_other = np.max(np.stack(list(other_sim.values())), axis=0)
        within[spk] = float(own_sim.mean())
        name = max(other_sim, key=lambda o: float(other_sim[o].mean()))
        nearest[spk] = (name, float(other_sim[name].mean()))
        accuracy[spk] = float(np.mean(own_sim > best_other))
        between.extend(float(v.mean()) for v in other_sim.values())
    return SimilarityReport(
        within=within,
        nearest=nearest,
        accuracy=accuracy,
        mean_within=float(np.mean(list(within.values()))),
        mean_between=float(np.mean(between)),
        distinct=[s for s in speakers if within[s] > nearest[s][1]],
    )


def corpus_clips(corpus_dir: str, max_clips: int = 6) -> Dict[str, List[str]]:
    """Up to ``max_clips`` audio files per speaker of a VCTK-layout corpus."""
    from tts_maml.corpus.build import WAV_DIR

    root = os.path.join(corpus_dir, WAV_DIR)
    if not os.path.isdir(root):
        raise FileNotFoundError(f"{root} not found: {corpus_dir} is not a VCTK-layout corpus")
    clips = {}
    for spk in sorted(os.listdir(root)):
        files = sorted(f for f in os.listdir(os.path.join(root, spk)) if f.endswith((".flac", ".wav")))[:max_clips]
        clips[spk] = [os.path.join(root, spk, f) for f in files]
    return clips
