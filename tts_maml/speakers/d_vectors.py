"""Speaker d-vectors: Resemblyzer embeddings projected to the width of a model's speaker conditioning.

Coqui's multi-speaker models can be conditioned on a *d-vector* (a speaker encoder's embedding of a
clip, as YourTTS does) instead of a learned speaker table. tts_maml pre-trains that way on many
speakers, so that the conditioning space is one a speaker encoder can place a new voice in; the
tts_maml model then starts each voice (an adaptation, an inner loop) from the d-vector of its clips,
and meta-learned gradient steps refine it.

The encoder is Resemblyzer's (256 values, weights inside its wheel, so offline). Glow-TTS' speaker
table has ``hidden_channels_enc`` values per row; a :class:`DVectorProjection` (PCA fitted on the
training clips) maps the 256 values to that width, so that a d-vector model and a one-row speaker
table model have exactly the same weights and the same forward pass (Coqui L2-normalises both).

A d-vector file is Coqui's own format (``{clip key: {"name": speaker, "embedding": [...]}}``, keyed
by the sample's ``audio_unique_name``), read by Coqui's ``SpeakerManager``.

Example:
    >>> import numpy as np
    >>> from tts_maml.speakers.d_vectors import DVectorProjection
    >>> rng = np.random.default_rng(0)
    >>> p = DVectorProjection.fit(rng.normal(size=(50, 8)), dim=3)
    >>> p.project(rng.normal(size=(2, 8))).shape
    (2, 3)
"""

import functools
import json
import logging
import os
import zlib
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Optional, Sequence

import numpy as np
from tqdm import tqdm

logger = logging.getLogger(__name__)

ENCODER = "resemblyzer"
# Clips embedded per speaker of a pre-training corpus (the first in file order).
CLIPS_PER_SPEAKER = 8


@dataclass
class DVectorProjection:
    """A linear map from speaker-encoder embeddings to a model's speaker-conditioning width.

    Args:
        mean: the training embeddings' mean (subtracted first), shape ``(E,)``.
        components: the principal directions, shape ``(D, E)`` (``D`` = the model's width).
        encoder: the speaker encoder the embeddings come from.
        explained: share of the training embeddings' variance that the ``D`` directions keep.
    """

    mean: np.ndarray
    components: np.ndarray
    encoder: str = ENCODER
    explained: float = 1.0

    @classmethod
    def fit(cls, embeddings: np.ndarray, dim: int) -> "DVectorProjection":
        """PCA of ``embeddings`` (``(N, E)``), keeping ``dim`` directions."""
        x = np.asarray(embeddings, dtype=np.float64)
        if x.ndim != 2 or dim < 1 or dim > min(x.shape):
            raise ValueError(f"cannot fit {dim} directions to embeddings of shape {x.shape}")
        mean = x.mean(axis=0)
        _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
        explained = float((s[:dim] ** 2).sum() / max((s**2).sum(), 1e-12))
        return cls(mean=mean.astype(np.float32), components=vt[:dim].astype(np.float32), explained=explained)

    @property
    def dim(self) -> int:
        """The projected width."""
        return int(self.components.shape[0])

    def project(self, embeddings: np.ndarray) -> np.ndarray:
        """Project ``(N, E)`` (or ``(E,)``) embeddings to ``(N, D)`` (or ``(D,)``)."""
        x = np.asarray(embeddings, dtype=np.float32)
        return (x - self.mean) @ self.components.T

    def to_dict(self) -> Dict[str, Any]:
        """Plain lists, for JSON and checkpoints."""
        return {
            "encoder": self.encoder,
            "explained": self.explained,
            "mean": self.mean.tolist(),
            "components": self.components.tolist(),
        }

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "DVectorProjection":
        """The inverse of :meth:`to_dict`; raises ``ValueError`` naming a missing field."""
        for key in ("encoder", "mean", "components"):
            if key not in data:
                raise ValueError(f"d-vector projection: missing field {key!r}")
        if data["encoder"] != ENCODER:
            raise ValueError(f"d-vector projection: encoder {data['encoder']!r} is not {ENCODER!r}")
        return cls(
            mean=np.asarray(data["mean"], dtype=np.float32),
            components=np.asarray(data["components"], dtype=np.float32),
            encoder=data["encoder"],
            explained=float(data.get("explained", 1.0)),
        )

    def save(self, path: str) -> None:
        """Write the projection as JSON."""
        from tts_maml.files import atomic_write_text

        atomic_write_text(json.dumps(self.to_dict()), path)

    @classmethod
    def load(cls, path: str) -> "DVectorProjection":
        """Read a projection written by :meth:`save`."""
        with open(path, encoding="utf-8") as f:
            return cls.from_dict(json.load(f))


@functools.lru_cache(maxsize=None)
def clip_embedding(path: str) -> np.ndarray:
    """The speaker-encoder embedding of one audio file, computed once per file and process
    (meta-training draws the same clips into many episodes)."""
    from tts_maml.speakers.similarity import embed_file

    return embed_file(path)


def embed_files(paths: Sequence[str], progress: bool = False) -> np.ndarray:
    """Speaker-encoder embeddings ``(N, 256)`` of audio files."""
    return np.stack([clip_embedding(p) for p in tqdm(paths, desc="d-vectors", unit="clip", disable=not progress)])


def voice_vector(paths: Sequence[str], projection: DVectorProjection) -> np.ndarray:
    """The projected mean d-vector of a voice's clips (what a voice slot starts from)."""
    if not paths:
        raise ValueError("voice_vector needs at least one clip")
    return projection.project(embed_files(paths).mean(axis=0))


def speaker_embeddings(
    samples: List[Dict[str, Any]], clips_per_speaker: int = CLIPS_PER_SPEAKER, progress: bool = True
) -> Dict[str, np.ndarray]:
    """Each speaker's embeddings ``(n, 256)`` of up to ``clips_per_speaker`` of its clips (the first in
    file order)."""
    by_speaker: Dict[str, List[str]] = {}
    for s in samples:
        by_speaker.setdefault(s["speaker_name"], []).append(s["audio_file"])
    chosen = {spk: sorted(files)[:clips_per_speaker] for spk, files in sorted(by_speaker.items())}
    flat = embed_files([p for files in chosen.values() for p in files], progress=progress)
    embeddings, i = {}, 0
    for spk, files in chosen.items():
        embeddings[spk] = flat[i : i + len(files)]
        i += len(files)
    return embeddings


def d_vector_mapping(
    samples: Iterable[Dict[str, Any]],
    embeddings: Dict[str, np.ndarray],
    projection: DVectorProjection,
    clips_per_vector: Optional[int] = None,
    seed: int = 0,
) -> Dict[str, Any]:
    """Coqui's d-vector mapping: every sample's ``audio_unique_name`` → its speaker and a projected
    d-vector of that speaker.

    Args:
        samples: Coqui samples (``audio_unique_name``, ``speaker_name``).
        embeddings: each speaker's clip embeddings ``(n, 256)`` (:func:`speaker_embeddings`).
        projection: the map to the model's width.
        clips_per_vector: None: every sample gets its speaker's mean over all ``n`` clips (one vector
            per speaker). ``k``: every sample gets the mean of its own draw of ``k`` of its
            speaker's ``n`` clips (all ``n`` when ``k >= n``), so that training sees a cloud of
            vectors around each speaker, spread as much as the mean of a new voice's ``k`` clips
            is around that voice's true mean; a speaker's mean over its samples stays near its
            mean embedding.
        seed: the draws depend on it and on the sample's name only (not on the samples' order).
    """
    if clips_per_vector is not None and clips_per_vector < 1:
        raise ValueError(f"clips_per_vector must be at least 1 or None, got {clips_per_vector}")
    means = {spk: e.mean(axis=0) for spk, e in embeddings.items()}
    mapping = {}
    for s in samples:
        key, spk = s["audio_unique_name"], s["speaker_name"]
        clips = embeddings[spk]
        if clips_per_vector is None or clips_per_vector >= len(clips):
            vector = means[spk]
        else:
            rng = np.random.default_rng([seed, zlib.crc32(key.encode("utf-8"))])
            vector = clips[rng.choice(len(clips), size=clips_per_vector, replace=False)].mean(axis=0)
        mapping[key] = {"name": spk, "embedding": [float(v) for v in projection.project(vector)]}
    return mapping


def prepare_d_vectors(
    samples: List[Dict[str, Any]], out_dir: str, dim: int, clips_per_vector: Optional[int] = None
) -> Dict[str, str]:
    """Embed up to ``CLIPS_PER_SPEAKER`` (8) clips of each speaker of ``samples``
    (:func:`speaker_embeddings`), fit the projection to ``dim`` on them, and write Coqui's d-vector
    file (``d_vectors.json``, :func:`d_vector_mapping` with ``clips_per_vector``), the projection
    (``d_vector_projection.json``) and the settings (``d_vector_settings.json``) into ``out_dir``.

    The projection depends on the clips only, so files made with another ``clips_per_vector`` from
    the same samples share it. Reuses the files when they are already there for the same clips and
    settings (a resumed pre-training run); a folder written before the settings file existed holds
    one vector per speaker. Returns the paths of the d-vector file and the projection.
    """
    from tts_maml.files import atomic_write_text

    paths = {"d_vector_file": os.path.join(out_dir, "d_vectors.json"),
             "projection": os.path.join(out_dir, "d_vector_projection.json")}  # fmt: skip
    settings_path = os.path.join(out_dir, "d_vector_settings.json")
    settings = {"clips_per_speaker": CLIPS_PER_SPEAKER, "clips_per_vector": clips_per_vector}
    keys = sorted(s["audio_unique_name"] for s in samples)
    if all(os.path.isfile(p) for p in paths.values()):
        with open(paths["d_vector_file"], encoding="utf-8") as f:
            same_clips = sorted(json.load(f)) == keys
        written = {**settings, "clips_per_vector": None}  # a folder from before the settings file
        if os.path.isfile(settings_path):
            with open(settings_path, encoding="utf-8") as f:
                written = json.load(f)
        if same_clips and written == settings:
            logger.info("reusing the d-vectors in %s", paths["d_vector_file"])
            return paths
        logger.info("the d-vectors in %s were made for other clips or settings (%s); making them again",
                    out_dir, written)  # fmt: skip
    os.makedirs(out_dir, exist_ok=True)
    embeddings = speaker_embeddings(samples)
    projection = DVectorProjection.fit(np.concatenate(list(embeddings.values())), dim)
    logger.info("d-vectors: %d speakers, 256 -> %d dims keep %.1f%% of the clips' variance; %s",
                len(embeddings), dim, 100 * projection.explained,
                "one per speaker" if clips_per_vector is None else f"each clip's the mean of {clips_per_vector} clips drawn for it")  # fmt: skip
    projection.save(paths["projection"])
    atomic_write_text(json.dumps(d_vector_mapping(samples, embeddings, projection, clips_per_vector)), paths["d_vector_file"])
    atomic_write_text(json.dumps(settings), settings_path)
    return paths
