"""A folder of a new voice's clips, read and checked before any adaptation step runs.

The folder holds ``.wav`` / ``.flac`` clips and their transcripts, either

- an LJSpeech-style ``metadata.csv`` (``id|text`` or ``id|text|normalized text``; ``id`` is the
  clip's file name without extension, the clip in the folder or in its ``wavs/`` subfolder), or
- a ``.txt`` file beside each clip with the same name (``clip_001.wav`` + ``clip_001.txt``).

Every clip goes through Coqui's ``AudioProcessor`` settings of the model: resampled to the model's
rate (with a log line), silence trimmed as the model's config says; every transcript is checked
against the model's tokenizer (characters or espeak phonemes). All problems are collected and
reported in one :class:`ClipError` that names each file and what is wrong; nothing is written.

Example:
    >>> from tts_maml.clips import read_transcripts
    >>> read_transcripts("/no/such/folder")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    ClipError: /no/such/folder is not a folder
"""

import csv
import logging
import os
import unicodedata
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import soundfile as sf

logger = logging.getLogger(__name__)

AUDIO_EXTENSIONS = (".wav", ".flac")
MIN_SAMPLE_RATE = 8000
MIN_SECONDS = 0.5
MAX_SECONDS = 20.0
SILENCE_PEAK = 1e-4


class ClipError(ValueError):
    """Clips that cannot be used; the message names every file and what is wrong with it."""

    def __init__(self, problems: List[Tuple[str, str]]) -> None:
        self.problems = problems
        if len(problems) == 1:
            message = f"{problems[0][0]}: {problems[0][1]}"
        else:
            message = f"{len(problems)} problems with the clips:\n" + "\n".join(f"  {f}: {w}" for f, w in problems)
        super().__init__(message)


@dataclass
class Clip:
    """One usable clip.

    Args:
        path: the original file.
        clip_id: its name without extension.
        text: the transcript.
        wav: mono float32 audio at the model's rate, trimmed as the model's config says.
        source_rate: the file's own sample rate.
    """

    path: str
    clip_id: str
    text: str
    wav: np.ndarray
    source_rate: int


def _audio_files(directory: str) -> List[str]:
    found = []
    for folder in (directory, os.path.join(directory, "wavs")):
        if os.path.isdir(folder):
            found += [
                os.path.join(folder, f)
                for f in sorted(os.listdir(folder))
                if f.lower().endswith(AUDIO_EXTENSIONS) and not f.startswith(".")
            ]
    return found


def _read_text(path: str) -> str:
    with open(path, "rb") as f:
        raw = f.read()
    try:
        return raw.decode("utf-8").lstrip("\ufeff")
    except UnicodeDecodeError as e:
        raise ClipError([(path, f"not UTF-8 text (byte {e.start}); save it as UTF-8")]) from e


def read_transcripts(directory: str) -> Dict[str, Tuple[str, Optional[str]]]:
    """Map each audio file of ``directory`` to ``(transcript source, text or None if missing)``."""
    if not os.path.isdir(directory):
        raise ClipError([(directory, "is not a folder")])
    files = _audio_files(directory)
    if not files:
        raise ClipError([(directory, f"has no audio clips ({', '.join(AUDIO_EXTENSIONS)})")])
    metadata = os.path.join(directory, "metadata.csv")
    out: Dict[str, Tuple[str, Optional[str]]] = {}
    if os.path.isfile(metadata):
        texts: Dict[str, str] = {}
        problems = []
        for number, row in enumerate(csv.reader(_read_text(metadata).splitlines(), delimiter="|", quoting=csv.QUOTE_NONE), 1):
            if not row or not "".join(row).strip():
                continue
            if len(row) < 2:
                problems.append((f"{metadata}:{number}", "expected `id|text`"))
                continue
            texts[row[0].strip()] = row[1].strip()
        if problems:
            raise ClipError(problems)
        for path in files:
            stem = os.path.splitext(os.path.basename(path))[0]
            out[path] = (metadata, texts.get(stem))
        return out
    for path in files:
        txt = os.path.splitext(path)[0] + ".txt"
        out[path] = (txt, _read_text(txt).strip() if os.path.isfile(txt) else None)
    return out


def _speakable(char: str, punctuations: str) -> bool:
    if char.isspace() or char in punctuations or char.isdigit() or unicodedata.combining(char):
        return True
    return char.isalpha() and "LATIN" in unicodedata.name(char, "")


def unknown_characters(tokenizer: Any, text: str) -> List[str]:
    """Characters of ``text`` that the model's tokenizer cannot handle.

    Character models: what the tokenizer cannot encode after its cleaner. Phoneme models: what
    espeak would silently drop or spell out (symbols, non-Latin letters, after the cleaner), and
    what the tokenizer cannot encode after espeak. Combining marks that espeak adds (e.g. the
    syllabic mark) and that Coqui drops silently are not counted."""
    unknown: List[str] = []
    if tokenizer.use_phonemes:
        cleaned = tokenizer.text_cleaner(text) if tokenizer.text_cleaner is not None else text
        punctuations = getattr(tokenizer.characters, "punctuations", "") or ""
        unknown = sorted({c for c in cleaned if not _speakable(c, punctuations)})
    before = set(tokenizer.not_found_characters)
    ids = tokenizer.text_to_ids(text)
    new = [c for c in tokenizer.not_found_characters if c not in before]
    # Coqui remembers unknown characters once; forget ours so the next transcript is checked afresh.
    tokenizer.not_found_characters[:] = [c for c in tokenizer.not_found_characters if c in before]
    unknown += [c for c in new if not unicodedata.combining(c) and c not in unknown]
    if not ids and not unknown:
        unknown = ["(nothing the model can speak)"]
    return unknown


def _load_audio(path: str, model_rate: int, ap: Any, trim: bool, max_seconds: float) -> Tuple[np.ndarray, int]:
    if os.path.getsize(path) == 0:
        raise ValueError("the file is empty (0 bytes)")
    try:
        wav, rate = sf.read(path, dtype="float32", always_2d=True)
    except Exception as e:  # soundfile raises several types for unreadable files
        raise ValueError(f"not a readable audio file ({e})") from e
    if wav.shape[1] != 1:
        raise ValueError(f"{wav.shape[1]} channels; tts_maml needs mono clips (e.g. `sox in.wav -c 1 out.wav`)")
    wav = wav[:, 0]
    if wav.size == 0:
        raise ValueError("no audio samples (zero length)")
    if rate < MIN_SAMPLE_RATE:
        raise ValueError(f"sample rate {rate} Hz is too low (at least {MIN_SAMPLE_RATE} Hz)")
    if not np.all(np.isfinite(wav)):
        raise ValueError("the audio holds NaN or infinite samples")
    if float(np.max(np.abs(wav))) < SILENCE_PEAK:
        raise ValueError("the clip is silent")
    if rate != model_rate:
        import librosa

        logger.info("resampling %s from %d Hz to the model's %d Hz", path, rate, model_rate)
        wav = librosa.resample(wav, orig_sr=rate, target_sr=model_rate).astype(np.float32)
    if trim:
        wav = ap.trim_silence(wav).astype(np.float32)
    seconds = wav.size / model_rate
    if seconds < MIN_SECONDS:
        raise ValueError(f"{seconds:.2f} s of speech after trimming silence; at least {MIN_SECONDS} s")
    if seconds > max_seconds:
        raise ValueError(f"{seconds:.1f} s long; at most {max_seconds:.0f} s (split it into sentences)")
    return wav, rate


def read_clips(directory: str, config: Any, tokenizer: Any, ap: Any) -> List[Clip]:
    """Read and check every clip of ``directory`` for a model with ``config``, ``tokenizer`` and
    AudioProcessor ``ap``. Raises :class:`ClipError` listing every unusable file."""
    transcripts = read_transcripts(directory)
    rate = int(config.audio.sample_rate)
    max_len = getattr(config, "max_audio_len", None)
    max_seconds = min(MAX_SECONDS, max_len / rate) if isinstance(max_len, (int, float)) and max_len > 0 else MAX_SECONDS
    trim = bool(getattr(config.audio, "do_trim_silence", False))
    clips, problems = [], []
    for path, (source, text) in transcripts.items():
        if text is None:
            where = "metadata.csv" if source.endswith("metadata.csv") else os.path.basename(source)
            problems.append((path, f"no transcript (expected in {where})"))
            continue
        if not text:
            problems.append((path, f"the transcript in {os.path.basename(source)} is empty"))
            continue
        try:
            wav, source_rate = _load_audio(path, rate, ap, trim, max_seconds)
        except ValueError as e:
            problems.append((path, str(e)))
            continue
        unknown = unknown_characters(tokenizer, text)
        if unknown:
            problems.append((path, f"the transcript has characters the model cannot speak: {' '.join(unknown)}"))
            continue
        clips.append(Clip(path, os.path.splitext(os.path.basename(path))[0], text, wav, source_rate))
    if problems:
        raise ClipError(problems)
    return clips


def _sample_problem(sample: Dict[str, Any], rate: int, tokenizer: Any, max_seconds: float) -> Optional[str]:
    path = sample["audio_file"]
    if not os.path.isfile(path):
        return "the file does not exist"
    if os.path.getsize(path) == 0:
        return "the file is empty (0 bytes)"
    try:
        info = sf.info(path)
    except Exception as e:  # soundfile raises several types for unreadable files
        return f"not a readable audio file ({e})"
    if info.channels != 1:
        return f"{info.channels} channels; tts_maml needs mono clips"
    if info.samplerate != rate:
        return f"sample rate {info.samplerate} Hz, the model's is {rate} Hz (resample the corpus)"
    if info.frames == 0:
        return "no audio samples (zero length)"
    seconds = info.frames / rate
    if seconds < MIN_SECONDS or seconds > max_seconds:
        return f"{seconds:.2f} s long; clips must be {MIN_SECONDS}-{max_seconds:.0f} s"
    wav, _ = sf.read(path, dtype="float32", always_2d=True)
    if not np.all(np.isfinite(wav)):
        return "the audio holds NaN or infinite samples"
    if float(np.max(np.abs(wav))) < SILENCE_PEAK:
        return "the clip is silent"
    text = str(sample.get("text") or "").strip()
    if not text:
        return "the transcript is empty"
    unknown = unknown_characters(tokenizer, text)
    if unknown:
        return f"the transcript has characters the model cannot speak: {' '.join(unknown)}"
    return None


def screen_samples(samples: List[Dict[str, Any]], config: Any, tokenizer: Any, what: str = "training") -> List[Dict[str, Any]]:
    """The usable clips of a meta-training corpus: each unusable one is skipped with one log line
    naming the file and the problem, and the total is logged (nothing is stopped for a few bad
    files; a corpus with no usable clip raises ``ValueError``)."""
    rate = int(config.audio.sample_rate)
    max_len = getattr(config, "max_audio_len", None)
    max_seconds = min(MAX_SECONDS, max_len / rate) if isinstance(max_len, (int, float)) and max_len > 0 else MAX_SECONDS
    kept = []
    for sample in samples:
        problem = _sample_problem(sample, rate, tokenizer, max_seconds)
        if problem is None:
            kept.append(sample)
        else:
            logger.warning("skipping %s clip %s: %s", what, sample["audio_file"], problem)
    if len(kept) < len(samples):
        logger.warning("skipped %d of %d %s clips (see the lines above)", len(samples) - len(kept), len(samples), what)
    if not kept:
        raise ValueError(f"no usable {what} clip among {len(samples)}")
    return kept
