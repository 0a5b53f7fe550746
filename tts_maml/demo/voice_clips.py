"""How both demos split a voice's clips, and score a wav against that voice.

One rule for every voice: the first 5 clips to adapt on and 2 more for early stopping (a clips
folder for ``tts-maml adapt``), the next one the *unseen* sentence to synthesise (its real clip is
the ceiling), and every clip after it the voice's *reference*: the clips a synthesised wav is scored
against, which adaptation never saw.

Example:
    >>> SUPPORT_CLIPS + VALIDATION_CLIPS
    7
"""

import os
import shutil
from dataclasses import dataclass
from typing import Dict, List, Tuple

import numpy as np
import soundfile as sf

from tts_maml.corpus.build import WAV_DIR, read_clips_metadata, write_clips_metadata
from tts_maml.corpus.speaker_split import split_dev_test

SUPPORT_CLIPS = 5
VALIDATION_CLIPS = 2


@dataclass
class VoiceClips:
    """A voice's clips, split for the demo.

    Args:
        clips: the clips folder to adapt on (``SUPPORT_CLIPS + VALIDATION_CLIPS`` clips + ``metadata.csv``).
        sentence: the text of the unseen clip.
        real: the unseen clip, as a wav.
        reference: paths of the clips after the unseen one (neither adapted on nor synthesised).
    """

    clips: str
    sentence: str
    real: str
    reference: List[str]


def split_voice_clips(clips: List[Dict[str, str]], folder: str, real: str) -> VoiceClips:
    """Split ``clips`` (``{"id", "text", "path"}``, in order) by the rule above: copy the ones to adapt on
    into ``folder`` with their ``metadata.csv``, and write the unseen clip as the wav ``real``.

    Raises ``ValueError`` if there are too few clips to leave a reference.
    """
    n = SUPPORT_CLIPS + VALIDATION_CLIPS
    if len(clips) < n + 2:
        where = os.path.dirname(clips[0]["path"]) if clips else folder
        raise ValueError(f"{where}: {len(clips)} clips, the demo needs at least {n + 2} ({SUPPORT_CLIPS} to adapt on, "
                         f"{VALIDATION_CLIPS} for early stopping, 1 unseen sentence, 1 or more to score against)")  # fmt: skip
    os.makedirs(folder, exist_ok=True)
    for clip in clips[:n]:
        shutil.copy(clip["path"], folder)
    write_clips_metadata(folder, clips[:n])
    unseen = clips[n]
    wav, rate = sf.read(unseen["path"], dtype="float32")
    sf.write(real, wav, rate)
    return VoiceClips(clips=folder, sentence=unseen["text"], real=real, reference=[c["path"] for c in clips[n + 1 :]])


def held_out_speaker_clips(held_out: str) -> Tuple[str, List[Dict[str, str]]]:
    """The first *test* speaker of an offline corpus' held-out folder ``held_out`` (by the one split
    rule, :func:`tts_maml.corpus.speaker_split.split_dev_test`: the dev speakers choose the
    meta-training checkpoint, so none of them is a fair voice to show), and its clips
    ``{"id", "text", "path"}`` in ``metadata.csv`` order."""
    root = os.path.join(held_out, WAV_DIR)
    _, test = split_dev_test(os.listdir(root))
    if not test:
        raise ValueError(f"{root}: no held-out speaker folder")
    return test[0], read_clips_metadata(os.path.join(root, test[0]))


def judge_wavs(wavs: Dict[str, str], reference: List[str], sentence: str) -> Dict[str, Dict[str, float]]:
    """Each wav scored by every judge (:func:`tts_maml.judges.judge`, 3 decimals): both speaker
    encoders' cosine to the centroid of the ``reference`` clips (embedded once for all the wavs),
    and Whisper's CER and WER against ``sentence``."""
    from tts_maml import judges

    centroid = judges.centroids([judges.file_embeddings(p) for p in reference])
    scores = {}
    for key, path in wavs.items():
        wav, rate = sf.read(path, dtype="float32", always_2d=True)
        scores[key] = {m: round(v, 3) for m, v in judges.judge(wav.mean(axis=1), rate, sentence, centroid).items()}
    return scores
