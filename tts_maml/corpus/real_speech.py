"""Real human speech from Debian packages, laid out as a user hands over a voice: a clips folder
(audio + ``metadata.csv``, ``id|text``) that ``tts-maml adapt`` and ``tts-maml evaluate --voice``
read. For dev and test only: never trained on.

- **LibriVox** (Debian ``pocketsphinx-testdata``): 5 clips of one reader of *Sense and Sensibility*,
  16 kHz, 3-7 s, with exact transcripts (:func:`librivox_voice`).
- **Hedgewars** (Debian ``hedgewars-data``): 10 English character packs of short acted lines, 44.1 kHz
  stereo. A clip's file name is the game event (``Youllregretthat.ogg``) and each character says its
  own line for it ("You're gonna wish you hadn't done that"), so the file name is not the transcript.
  :func:`hedgewars_voice` keeps a clip only where Whisper's transcript, without spaces and
  punctuation, *is* the file name: the words are then confirmed by both, and the clip's text is
  Whisper's words. Sounds that are not words (``Ow1``, ``Laugh``) do not match; an event a character
  says in words does (Surfer's ``Firepunch1``: "Fire punch!").

Measured (Whisper tiny.en, all 591 clips of the 10 English packs, 8 min at one thread): Classic keeps 16
clips, Singer 12, Default 5, Russian 5, British 4, Mobster 4, Surfer 2, Pirate 1, HillBilly 0, Robot 0.
:func:`real_voices` lays out the voices with enough clips for the evaluation protocol.

Example:
    >>> from tts_maml.corpus.real_speech import librivox_voice
    >>> clips = librivox_voice("voices/librivox")  # doctest: +SKIP
    >>> len(clips), clips[1]["text"]  # doctest: +SKIP
    (5, 'he was not an ill disposed young man')
"""

import logging
import os
import re
from typing import Callable, Dict, List, Sequence

import numpy as np
import soundfile as sf

from tts_maml.corpus.build import write_clips_metadata

logger = logging.getLogger(__name__)

LIBRIVOX_DIR = "/usr/share/pocketsphinx/test/data/librivox"
HEDGEWARS_VOICES_DIR = "/usr/share/games/hedgewars/Data/Sounds/voices"
# The English packs (Default_uk is Ukrainian; Default_es, _pl, _ru and Russian_pl are other languages).
HEDGEWARS_ENGLISH: Sequence[str] = (
    "British", "Classic", "Default", "HillBilly", "Mobster", "Pirate", "Robot", "Russian", "Singer", "Surfer",
)  # fmt: skip
DEBIAN_PACKAGES = {"librivox": "pocketsphinx-testdata", "hedgewars": "hedgewars-data"}
Clips = List[Dict[str, str]]


def _need(folder: str, source: str) -> None:
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"{folder} not found: install the Debian package `{DEBIAN_PACKAGES[source]}` "
                                "(run scripts/setup.sh)")  # fmt: skip


def librivox_voice(out: str, root: str = LIBRIVOX_DIR) -> Clips:
    """The LibriVox reader's clips into the clips folder ``out`` (16 kHz wavs, their exact
    transcripts); returns ``{"id", "text", "path"}`` per clip, in order."""
    _need(root, "librivox")
    os.makedirs(out, exist_ok=True)
    texts = {}
    with open(os.path.join(root, "transcription"), encoding="utf-8") as f:
        for line in f:
            found = re.fullmatch(r"\s*<s>(.*)</s>\s*\((.+)\)\s*", line)
            if found:
                texts[found.group(2).strip()] = " ".join(found.group(1).split())
    clips = []
    for clip_id in sorted(texts):
        wav, rate = sf.read(os.path.join(root, clip_id + ".wav"), dtype="float32")
        path = os.path.join(out, clip_id + ".wav")
        sf.write(path, wav, rate)
        clips.append({"id": clip_id, "text": texts[clip_id], "path": path})
    write_clips_metadata(out, clips)
    return clips


def _letters(text: str) -> str:
    return re.sub(r"[^a-z]", "", text.lower())


def hedgewars_voice(pack: str, out: str, transcribe: Callable[[np.ndarray, int], str],
                    root: str = HEDGEWARS_VOICES_DIR) -> Clips:  # fmt: skip
    """The clips of Hedgewars character ``pack`` whose words Whisper confirms (module docstring), as a
    mono clips folder ``out``; ``transcribe(wav, rate)`` is the recogniser
    (:func:`tts_maml.judges.transcribe`). Returns ``{"id", "text", "path"}`` per kept clip; logs how many
    of the pack's clips were kept."""
    folder = os.path.join(root, pack)
    _need(folder, "hedgewars")
    os.makedirs(out, exist_ok=True)
    names = sorted(n for n in os.listdir(folder) if n.endswith(".ogg"))
    clips = []
    for name in names:
        stem = name[: -len(".ogg")]
        wav, rate = sf.read(os.path.join(folder, name), dtype="float32", always_2d=True)
        mono = wav.mean(axis=1)
        heard = transcribe(mono, rate)
        if not _letters(heard) or _letters(heard) != _letters(stem):
            continue
        clip_id = f"{pack.lower()}_{stem.lower()}"
        path = os.path.join(out, clip_id + ".wav")
        sf.write(path, mono, rate)
        clips.append({"id": clip_id, "text": heard.strip(), "path": path})
    logger.info("hedgewars %s: %d of %d clips say their file name's words", pack, len(clips), len(names))
    write_clips_metadata(out, clips)
    return clips


# The packs with at least 8 confirmed clips (5 support + 3 query sentences): Classic 16, Singer 12.
HEDGEWARS_EVALUATED: Sequence[str] = ("Classic", "Singer")


def real_voices(out: str, transcribe: Callable[[np.ndarray, int], str]) -> Dict[str, Clips]:
    """Every real voice as a clips folder under ``out``: ``librivox`` (5 clips: evaluate it with
    ``--shots 3 --queries 2``) and ``hedgewars_<pack>`` for :data:`HEDGEWARS_EVALUATED`."""
    voices = {"librivox": librivox_voice(os.path.join(out, "librivox"))}
    for pack in HEDGEWARS_EVALUATED:
        name = f"hedgewars_{pack.lower()}"
        voices[name] = hedgewars_voice(pack, os.path.join(out, name), transcribe)
    return voices
