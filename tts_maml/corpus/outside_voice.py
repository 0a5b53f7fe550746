"""A test voice made outside the corpus recipes: another synthesiser, another pitch and tempo.

The built-in corpus speaks with espeak-ng (formant synthesis) and festival's diphone voices. To
check that adaptation is not only learning the corpus' own recipe space, a test voice comes from a
third synthesiser, flite (Debian package ``flite``), with its ``slt`` voice (a statistical
parametric voice, female, US English), lowered by 250 cents and slowed by 8% with sox. It is
delivered as a user would hand it over: a folder of clips with a ``metadata.csv``.

Example:
    >>> from tts_maml.corpus.outside_voice import outside_voice_clips
    >>> clips = outside_voice_clips("/tmp/outside", count=3)  # doctest: +SKIP
    >>> len(clips)  # doctest: +SKIP
    3
"""

import os
import shutil
import subprocess
import tempfile
from typing import Dict, List

import numpy as np
import soundfile as sf

from tts_maml.corpus.build import trim_and_normalise, write_clips_metadata
from tts_maml.corpus.sentences import generate_sentences

FLITE_VOICE = "slt"
PITCH_CENTS = -250
TEMPO = 0.92
# Sentences drawn with another seed than any corpus speaker's (the corpus uses its own seed).
SENTENCE_SEED = 9173


def synthesize_outside(text: str, sample_rate: int = 22050) -> np.ndarray:
    """Speak ``text`` with the outside voice: mono float32 at ``sample_rate`` (not trimmed)."""
    for program, package in (("flite", "flite"), ("sox", "sox")):
        if shutil.which(program) is None:
            raise RuntimeError(f"`{program}` was not found on PATH: install the Debian package `{package}`")
    with tempfile.TemporaryDirectory() as tmp:
        raw, out = os.path.join(tmp, "raw.wav"), os.path.join(tmp, "out.wav")
        subprocess.run(["flite", "-voice", FLITE_VOICE, "-t", text, "-o", raw], check=True, capture_output=True)
        subprocess.run(["sox", "-G", raw, "-e", "float", "-b", "32", "-c", "1", "-r", str(sample_rate), out,
                        "pitch", str(PITCH_CENTS), "tempo", str(TEMPO)], check=True, capture_output=True)  # fmt: skip
        wav, _ = sf.read(out, dtype="float32")
    return wav.reshape(-1)


def outside_voice_clips(out: str, count: int = 12, sample_rate: int = 22050) -> List[Dict[str, str]]:
    """Write ``count`` clips of the outside voice into ``out`` (FLAC + ``metadata.csv``, ``id|text``).

    Returns the clips in order, ``{"id", "text", "path"}``.
    """
    os.makedirs(out, exist_ok=True)
    clips = []
    for i, text in enumerate(generate_sentences(count, seed=SENTENCE_SEED)):
        clip_id = f"outside_{i + 1:03d}"
        path = os.path.join(out, clip_id + ".flac")
        sf.write(path, trim_and_normalise(synthesize_outside(text, sample_rate), sample_rate), sample_rate,
                 subtype="PCM_16")  # fmt: skip
        clips.append({"id": clip_id, "text": text, "path": path})
    write_clips_metadata(out, clips)
    return clips
