"""Evaluation trials: one test speaker under one seed, its support and query clips, and what the
measures compare with (the real query clips, their F0 tracks, the speaker's centroid per speaker
encoder, and what every judge of :mod:`tts_maml.judges` says of the real query clips).

Example:
    >>> from tts_maml.evaluate.trials import clip_key
    >>> clip_key({"audio_file": "/data/sp001/sp001_003_mic1.flac", "audio_unique_name": "vctk#sp001_003"})
    'vctk#sp001_003'
"""

import os
import zlib
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import soundfile as sf

from tts_maml import judges
from tts_maml.adapt.adaptation import clip_samples
from tts_maml.adapt.clips import read_clips
from tts_maml.evaluate.metrics import f0_track


def clip_key(clip: Dict[str, Any]) -> str:
    """A clip's identity (its unique name, else its file name), not where its file happens to be."""
    return str(clip.get("audio_unique_name") or os.path.basename(clip["audio_file"]))


@dataclass
class Trial:
    """One test (or dev) speaker under one seed: support and query clips, and what the measures
    compare with.

    Args:
        centroids: per speaker encoder (``judges.SIMILARITY_METRICS``), the mean embedding of the
            speaker's clips other than the query clips.
        reals: the real query clips ``(wav, rate)``; real_f0: their F0 tracks.
        real_embeddings: per real query clip, its embedding by each encoder.
        real_scores: per real query clip, every judge's score (:func:`tts_maml.judges.judge`
            against ``centroids`` and its own sentence): the ceiling of each judge.
        real_transcripts: per real query clip, what Whisper heard.
    """

    seed: int
    speaker: str
    support: List[Dict[str, Any]]
    query: List[Dict[str, Any]]
    centroids: Dict[str, np.ndarray]
    reals: List[Any] = field(repr=False)
    real_f0: List[np.ndarray] = field(repr=False)
    real_embeddings: List[Dict[str, np.ndarray]] = field(repr=False)
    real_scores: List[Dict[str, float]] = field(repr=False, default_factory=list)
    real_transcripts: List[str] = field(repr=False, default_factory=list)


def make_trials(samples: Sequence[Dict[str, Any]], speakers: Sequence[str], seeds: Sequence[int], shots: int,
                  queries: int, cache: Optional[Dict[str, np.ndarray]] = None) -> List[Trial]:  # fmt: skip
    """The trials of ``speakers`` x ``seeds``: support/query split drawn from ``(seed, speaker)``;
    the centroids are the mean embeddings (Resemblyzer, CAM++) of the speaker's clips other than the
    query clips. Embeddings come from :func:`tts_maml.judges.file_embeddings` (cached per file and
    process; Resemblyzer's shared with the voice start of the batches); ``cache`` keeps F0 tracks
    and transcripts by file across calls."""
    cache = {} if cache is None else cache

    def pitch(path: str, wav: np.ndarray, rate: int) -> np.ndarray:
        if "f0:" + path not in cache:
            cache["f0:" + path] = f0_track(wav, rate)
        return cache["f0:" + path]

    def heard(path: str, wav: np.ndarray, rate: int) -> str:
        if "text:" + path not in cache:
            cache["text:" + path] = judges.transcribe(wav, rate)
        return cache["text:" + path]

    episodes = []
    for seed in seeds:
        for speaker in speakers:
            clips = sorted((s for s in samples if s["speaker_name"] == speaker), key=clip_key)
            if len(clips) < shots + queries:
                raise ValueError(f"speaker {speaker} has {len(clips)} clips; --shots {shots} + --queries {queries} "
                                 "are needed")  # fmt: skip
            order = np.random.default_rng([seed, zlib.crc32(speaker.encode())]).permutation(len(clips))
            query = [clips[i] for i in order[shots : shots + queries]]
            rest = [clips[i] for i in order if i not in set(order[shots : shots + queries])]
            reals = [sf.read(c["audio_file"], dtype="float32") for c in query]
            centroids = judges.centroids([judges.file_embeddings(c["audio_file"]) for c in rest])
            embeddings = [judges.file_embeddings(c["audio_file"]) for c in query]
            transcripts = [heard(c["audio_file"], w, r) for c, (w, r) in zip(query, reals)]
            episodes.append(Trial(
                seed=seed, speaker=speaker, support=[clips[i] for i in order[:shots]], query=query,
                centroids=centroids, reals=reals,
                real_f0=[pitch(c["audio_file"], w, r) for c, (w, r) in zip(query, reals)],
                real_embeddings=embeddings, real_transcripts=transcripts,
                real_scores=[_real_scores(e, centroids, c["text"], t) for e, c, t in zip(embeddings, query, transcripts)],
            ))  # fmt: skip
    return episodes


def _real_scores(embedding: Dict[str, np.ndarray], centroids: Dict[str, np.ndarray], text: str,
                 transcript: str) -> Dict[str, float]:  # fmt: skip
    # Every judge's score of a real query clip: the ceiling.
    scores = {k: judges.cosine(embedding[k], centroids[k]) for k in judges.SIMILARITY_METRICS}
    return {**scores, **judges.error_rates(text, transcript)}


def voice_folder_samples(loaded: Any, folders: Sequence[str], work: str) -> List[Dict[str, Any]]:
    """The clips of each voice folder (a clips folder as ``tts-maml adapt`` reads it: read,
    converted and checked by :func:`tts_maml.adapt.clips.read_clips`) as samples of a voice named
    after its folder; the converted wavs go into ``work``. Raises ValueError for two folders of the
    same name."""
    samples: List[Dict[str, Any]] = []
    names: Dict[str, str] = {}
    for folder in folders:
        name = os.path.basename(os.path.normpath(folder))
        if name in names:
            raise ValueError(f"--voice {folder}: same voice name {name!r} as --voice {names[name]}")
        names[name] = folder
        clips = read_clips(folder, loaded.config, loaded.model.tokenizer, loaded.model.ap)
        os.makedirs(os.path.join(work, "voices", name), exist_ok=True)
        samples += clip_samples(clips, os.path.join(work, "voices", name), int(loaded.config.audio.sample_rate), name)
    return samples

