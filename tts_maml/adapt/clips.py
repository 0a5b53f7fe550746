r"""A folder of a new voice's clips, read, normalised and checked before any adaptation step runs.

The folder (or its ``wavs/`` subfolder) holds the clips, in any format FFmpeg reads (WAV 8-64 bit,
FLAC, MP3, M4A/AAC, OGG Vorbis/Opus, WebM, AIFF...: the extensions in :data:`AUDIO_EXTENSIONS`), and
their transcripts, either

- a ``metadata.csv``: LJSpeech's ``id|text`` (more columns are ignored), or tab-separated, or a
  comma-separated file with a header line (Hugging Face's ``file_name,transcription``). ``id`` is the
  clip's file name, with or without its extension or folder. A header line (``id|text``,
  ``file_name|transcript``...) picks the columns by name; a UTF-8 byte-order mark and CRLF line
  endings are fine; or
- a ``.txt`` (or ``.lab``) file beside each clip with the same name (``a.wav`` + ``a.txt``).

Clips are decoded by FFmpeg through torchcodec (the decoder coqui-tts itself uses). What can be
handled is handled, with a log line: several channels are mixed down to mono, any rate from 8 kHz up
is resampled to the model's, silence is trimmed as the model's config says, each clip's speech level
is brought to :data:`TARGET_LEVEL_DB` (peaks kept below :data:`PEAK_CEILING`), a clipped recording
gets a warning, and transcripts are normalised (:func:`normalise_text`: typographic quotes,
dashes, ellipses, Unicode spaces, NFKC) before the check against the model's tokenizer. What cannot
be used is refused: an unreadable, empty, silent, too short or too long clip, a missing or empty
transcript, characters the model cannot speak even after normalisation, two clips with one name.
All problems are reported in one :class:`ClipError` that names each file; nothing is written.

Example:
    >>> from tts_maml.adapt.clips import normalise_text, read_transcripts
    >>> normalise_text("It\u2019s fine\u00a0\u2014 really\u2026")
    "It's fine, really..."
    >>> read_transcripts("/no/such/folder")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    ClipError: /no/such/folder is not a folder
"""

import csv
import logging
import os
import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import soundfile as sf

logger = logging.getLogger(__name__)

AUDIO_EXTENSIONS = (
    ".wav", ".wave", ".flac", ".mp3", ".m4a", ".mp4", ".aac", ".ogg", ".oga", ".opus", ".webm", ".weba", ".mka",
    ".mkv", ".mov", ".aif", ".aiff", ".aifc", ".caf", ".wma", ".amr", ".3gp", ".wv", ".au",
)  # fmt: skip
TRANSCRIPT_EXTENSIONS = (".txt", ".lab")
MIN_SAMPLE_RATE = 8000
MIN_SECONDS = 0.5
MAX_SECONDS = 20.0
SILENCE_PEAK = 1e-4
# The speech level clips are brought to (dB RMS re full scale, pauses not counted): that of the
# built-in corpus, whose clips are peak-normalised to 0.95 (-19 dBFS on average).
TARGET_LEVEL_DB = -20.0
PEAK_CEILING = 0.95
# A recording is called clipped when more than this share of its samples sit at full scale.
FULL_SCALE = 0.999
CLIPPED_SHARE = 0.001
# More gain than this brings the noise floor up with the speech: worth a warning.
QUIET_GAIN_DB = 30.0
# Header names of the id and text columns of a metadata.csv (lower case; text: in preference order).
ID_COLUMNS = ("id", "file_name", "filename", "file", "file_id", "fileid", "path", "audio", "audio_file",
              "audio_path", "audio_filename", "wav", "wav_file", "wav_filename", "clip", "name", "utt_id",
              "utterance_id")  # fmt: skip
TEXT_COLUMNS = ("text", "transcript", "transcription", "sentence", "normalized_text", "normalised_text",
                "raw_text", "utterance", "prompt")  # fmt: skip


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
        text: the transcript, normalised (:func:`normalise_text`).
        wav: mono float32 audio at the model's rate, trimmed as the model's config says, at the
            common speech level.
        source_rate: the file's own sample rate.
        channels: the file's number of channels (mixed down to mono).
        gain_db: the gain that brought it to the common level.
    """

    path: str
    clip_id: str
    text: str
    wav: np.ndarray
    source_rate: int
    channels: int = 1
    gain_db: float = 0.0


# Typographic punctuation -> what tokenizers and cleaners know. Em dashes and horizontal bars are
# a pause in speech, so they become a comma (below); the other dashes and the minus a hyphen.
_PUNCTUATION = str.maketrans({
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "\u02bc": "'", "\u00b4": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"', "\u00ab": '"', "\u00bb": '"',
    "\u2039": '"', "\u203a": '"', "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2212": "-",
    "\u2043": "-", "\u2044": "/",
})  # fmt: skip
_PAUSE_DASH = re.compile(r"(?<=\w)\s*[\u2014\u2015]+\s*(?=\S)")


def normalise_text(text: str) -> str:
    """``text`` as a tokenizer expects it: Unicode NFKC (ligatures, full-width forms, the ellipsis
    character become plain letters and ``...``), typographic quotes and apostrophes as ASCII ``'``
    and ``"``, dashes as ``-`` (an em dash after a word, a pause, as ``, ``), every Unicode space
    and line break as one space, invisible format characters (zero-width spaces, soft hyphens,
    byte-order marks) removed.

    Example:
        >>> normalise_text("\u201cWell\u2014it\u2019s 9\u00a0o\u2019clock\u2026\u201d")
        '"Well, it\\'s 9 o\\'clock..."'
    """
    text = unicodedata.normalize("NFKC", text.translate(_PUNCTUATION)).translate(_PUNCTUATION)
    text = _PAUSE_DASH.sub(", ", text).replace("\u2014", " ").replace("\u2015", " ")
    text = "".join(c for c in text if c.isspace() or unicodedata.category(c) not in ("Cf", "Cc"))
    return " ".join(text.split())


def _normalised(where: str, text: str) -> str:
    """``normalise_text(text)``, with a log line when more than spacing changed."""
    out = normalise_text(text)
    if out != " ".join(text.split()):
        logger.info("%s: transcript normalised: %r -> %r", where, text.strip(), out)
    return out


def _clip_name(name: str) -> str:
    """The clip a metadata id names: its file name without folder and without an audio extension."""
    base = name.strip().replace("\\", "/").rsplit("/", 1)[-1]
    stem, ext = os.path.splitext(base)
    return stem if ext.lower() in AUDIO_EXTENSIONS else base


def _folder_files(directory: str) -> Tuple[List[str], List[str]]:
    """The audio files of ``directory`` and ``directory/wavs``, and the other files that are not
    transcripts (to log: nothing in the folder is passed over silently)."""
    audio, other = [], []
    for folder in (directory, os.path.join(directory, "wavs")):
        if not os.path.isdir(folder):
            continue
        for name in sorted(os.listdir(folder)):
            path = os.path.join(folder, name)
            ext = os.path.splitext(name)[1].lower()
            if name.startswith(".") or not os.path.isfile(path):
                continue
            if ext in AUDIO_EXTENSIONS:
                audio.append(path)
            elif ext not in TRANSCRIPT_EXTENSIONS and name != "metadata.csv":
                other.append(path)
    return audio, other


def _read_text(path: str) -> str:
    with open(path, "rb") as f:
        raw = f.read()
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):  # Windows editors' "Unicode" is UTF-16 with a BOM
        logger.info("%s: read as UTF-16 (it has a UTF-16 byte-order mark)", path)
        return raw.decode("utf-16")
    try:
        return raw.decode("utf-8").lstrip("\ufeff")
    except UnicodeDecodeError as e:
        raise ClipError([(path, f"not UTF-8 text (byte {e.start}); save it as UTF-8")]) from e


def _metadata_rows(path: str) -> Tuple[List[Tuple[int, List[str]]], str]:
    """The non-blank rows of a metadata file with their line numbers, and the delimiter."""
    lines = _read_text(path).replace("\r\n", "\n").replace("\r", "\n").split("\n")
    numbered = [(n, line) for n, line in enumerate(lines, 1) if line.strip()]
    first = numbered[0][1] if numbered else ""
    delimiter = "|" if "|" in first else "\t" if "\t" in first else ","
    # LJSpeech texts hold quotation marks: only a comma-separated file uses CSV quoting.
    quoting = csv.QUOTE_MINIMAL if delimiter == "," else csv.QUOTE_NONE
    return [(n, next(csv.reader([line], delimiter=delimiter, quoting=quoting))) for n, line in numbered], delimiter


def _read_metadata(path: str, clip_names: set) -> Tuple[Dict[str, Tuple[str, str]], List[Tuple[str, str]]]:
    """``{clip name: (path:line, text)}`` from a metadata file, and its problems."""
    rows, delimiter = _metadata_rows(path)
    id_col, text_col, header = 0, 1, None
    if rows:
        names = [f.strip().lower() for f in rows[0][1]]
        if _clip_name(rows[0][1][0]) not in clip_names and set(names) & set(ID_COLUMNS + TEXT_COLUMNS):
            header = rows.pop(0)
            id_col = next((i for i, f in enumerate(names) if f in ID_COLUMNS), 0)
            text_col = next((names.index(t) for t in TEXT_COLUMNS if t in names), 1 if id_col != 1 else 0)
            logger.info("%s: line %d is a header: clip names from column %r, transcripts from column %r",
                        path, header[0], header[1][id_col].strip(), header[1][text_col].strip())  # fmt: skip
    if delimiter == "," and header is None and rows:
        return {}, [(f"{path}:{rows[0][0]}", "expected `id|text` (LJSpeech), or a header line naming the columns "
                     "of a comma-separated file (e.g. `file_name,text`)")]  # fmt: skip
    texts: Dict[str, Tuple[str, str]] = {}
    problems, unknown = [], []
    for number, row in rows:
        where = f"{path}:{number}"
        if len(row) <= max(id_col, text_col):
            sep = "," if delimiter == "," else "|"
            problems.append((where, f"expected `id{sep}text`"))
            continue
        if header is not None and delimiter == "," and len(row) > len(header[1]):
            problems.append((where, f"{len(row)} fields, the header has {len(header[1])} (quote texts with commas)"))
            continue
        name, text = _clip_name(row[id_col]), row[text_col]
        if name in texts and texts[name][1] != text:
            first = texts[name][0].rsplit(":", 1)[1]
            problems.append((where, f"{name} is listed again with another text (first at line {first})"))
        elif name not in clip_names:
            unknown.append(name)
        texts.setdefault(name, (where, text))
    if unknown:
        shown = ", ".join(unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
        logger.warning("%s lists %d clip(s) that are not in the folder (not used): %s", path, len(unknown), shown)
    return texts, problems


def _read_folder(directory: str) -> Tuple[Dict[str, Tuple[str, Optional[str]]], List[Tuple[str, str]]]:
    if not os.path.isdir(directory):
        raise ClipError([(directory, "is not a folder")])
    files, other = _folder_files(directory)
    if not files:
        raise ClipError([(directory, f"has no audio clips ({', '.join(AUDIO_EXTENSIONS[:11])}...)")])
    for path in other:
        logger.warning("ignoring %s: not an audio file (%s...) nor a transcript", path, ", ".join(AUDIO_EXTENSIONS[:4]))
    problems: List[Tuple[str, str]] = []
    first: Dict[str, str] = {}
    for path in files:
        stem = os.path.splitext(os.path.basename(path))[0]
        if stem in first:
            problems.append((path, f"has the same name as {first[stem]}: clip names must be unique (keep one)"))
        first.setdefault(stem, path)
    files = list(first.values())
    metadata = os.path.join(directory, "metadata.csv")
    out: Dict[str, Tuple[str, Optional[str]]] = {}
    if os.path.isfile(metadata):
        texts, bad_rows = _read_metadata(metadata, set(first))
        problems += bad_rows
        for stem, path in first.items():
            where, text = texts.get(stem, (metadata, None))
            out[path] = (where, None if text is None else _normalised(where, text))
        return out, problems
    for path in files:
        base = os.path.splitext(path)[0]
        found = [base + ext for ext in TRANSCRIPT_EXTENSIONS if os.path.isfile(base + ext)]
        if not found:
            out[path] = (base + TRANSCRIPT_EXTENSIONS[0], None)
            continue
        try:
            out[path] = (found[0], _normalised(found[0], _read_text(found[0])))
        except ClipError as e:
            problems += e.problems
    return out, problems


def read_transcripts(directory: str) -> Dict[str, Tuple[str, Optional[str]]]:
    """Map each audio file of ``directory`` to ``(transcript source, normalised text or None if
    missing)``; the source is ``metadata.csv:LINE`` or the ``.txt`` file. Raises :class:`ClipError`
    for a missing folder, no clips, unreadable transcript files and bad metadata lines."""
    out, problems = _read_folder(directory)
    if problems:
        raise ClipError(problems)
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


def _unspeakable(unknown: List[str]) -> str:
    named = [c if len(c) > 1 else f"{c} ({unicodedata.name(c, f'U+{ord(c):04X}')})" for c in unknown]
    return f"the transcript has characters the model cannot speak: {', '.join(named)}; write them out in words"


def _decode(path: str) -> Tuple[np.ndarray, int]:
    """The best audio stream of ``path`` decoded by FFmpeg: float32 (channels, samples) in [-1, 1]
    (float files may go beyond), and its sample rate."""
    try:
        from torchcodec.decoders import AudioDecoder
    except Exception as e:  # torchcodec raises RuntimeError when it cannot load FFmpeg's libraries
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise RuntimeError(f"torchcodec cannot decode audio: install FFmpeg (Debian `ffmpeg`) ({first})") from e
    try:
        samples = AudioDecoder(path).get_all_samples()
    except Exception as e:  # torchcodec raises RuntimeError or ValueError for what FFmpeg cannot read
        # Drop torchcodec's "Function, file.cpp:123, " prefix and the path: the error names the file.
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        message = re.sub(r"^\w+, \S+:\d+, ", "", first).replace(f"{path} ", "")
        if "No audio frames were decoded" in message:
            raise ValueError("no audio samples (zero length)") from e
        if "best audio stream is unknown" in message:
            raise ValueError("no audio stream in the file") from e
        raise ValueError(f"not a readable audio file ({message})") from e
    return samples.data.numpy(), int(samples.sample_rate)


def speech_level_db(wav: np.ndarray, rate: int) -> float:
    """The level of the speech in ``wav``, in dB RMS re full scale: the mean power of its 50 ms
    blocks within 40 dB of the loudest block, so that pauses do not lower it."""
    n = max(1, min(int(0.05 * rate), wav.size))
    power = np.mean(wav[: wav.size // n * n].astype(np.float64).reshape(-1, n) ** 2, axis=1)
    return float(10 * np.log10(np.mean(power[power >= power.max() * 1e-4]) + 1e-20))


def _to_common_level(path: str, wav: np.ndarray, rate: int) -> Tuple[np.ndarray, float, float, bool]:
    """``wav`` at :data:`TARGET_LEVEL_DB`, or lower where its peaks would pass :data:`PEAK_CEILING`;
    with its level before, the gain and whether the peaks limited it."""
    level = speech_level_db(wav, rate)
    peak = float(np.max(np.abs(wav)))
    gain_db = TARGET_LEVEL_DB - level
    limited = peak * 10 ** (gain_db / 20) > PEAK_CEILING
    if limited:
        gain_db = 20 * np.log10(PEAK_CEILING / peak)
    if gain_db > QUIET_GAIN_DB:
        logger.warning("%s is very quiet (speech at %.1f dBFS): raised by %.0f dB, its noise with it",
                       path, level, gain_db)  # fmt: skip
    logger.debug("%s: speech at %.1f dBFS, gain %+.1f dB%s", path, level, gain_db, " (peak-limited)" if limited else "")
    return (wav * 10 ** (gain_db / 20)).astype(np.float32), level, float(gain_db), limited


# What makes a clip unusable, said once for adaptation's clips (read_clips) and a training corpus' (screen_samples).
EMPTY_FILE = "the file is empty (0 bytes)"
NO_SAMPLES = "no audio samples (zero length)"


def max_clip_seconds(config: Any) -> float:
    """The longest usable clip for a model with ``config``: :data:`MAX_SECONDS`, or less where the
    config's ``max_audio_len`` (in samples) is shorter."""
    rate = int(config.audio.sample_rate)
    max_len = getattr(config, "max_audio_len", None)
    return min(MAX_SECONDS, max_len / rate) if isinstance(max_len, (int, float)) and max_len > 0 else MAX_SECONDS


def _non_finite(channels: np.ndarray) -> Optional[str]:
    """The problem of audio (channels, samples) holding NaN or infinite samples, if it does."""
    return None if np.all(np.isfinite(channels)) else "the audio holds NaN or infinite samples"


def _silence(channels: np.ndarray) -> Optional[str]:
    """The problem of audio (channels, samples) that is silent once mixed to mono, if it is."""
    if float(np.max(np.abs(channels.mean(axis=0)))) >= SILENCE_PEAK:
        return None
    loud = channels.shape[0] > 1 and float(np.max(np.abs(channels))) >= SILENCE_PEAK
    return "the clip is silent" + (" once its channels are mixed (they cancel out)" if loud else "")


def _length(seconds: float, max_seconds: float, trimmed: bool) -> Optional[str]:
    """The problem of a clip of ``seconds`` outside [:data:`MIN_SECONDS`, ``max_seconds``], if it is;
    ``trimmed``: the seconds are those left after trimming silence (adaptation's clips)."""
    if not trimmed:
        if seconds < MIN_SECONDS or seconds > max_seconds:
            return f"{seconds:.2f} s long; clips must be {MIN_SECONDS}-{max_seconds:.0f} s"
        return None
    if seconds < MIN_SECONDS:
        return f"{seconds:.2f} s of speech after trimming silence; at least {MIN_SECONDS} s"
    if seconds > max_seconds:
        return f"{seconds:.1f} s long; at most {max_seconds:.0f} s (split it into sentences)"
    return None


def _raise_if(problem: Optional[str]) -> None:
    """Raise ``ValueError(problem)`` when there is one (adaptation refuses the clip)."""
    if problem is not None:
        raise ValueError(problem)


def _load_audio(path: str, model_rate: int, ap: Any, trim: bool, max_seconds: float) -> Tuple[np.ndarray, int, int]:
    """Decode, check and convert one clip: mono float32 at ``model_rate``, trimmed as the config
    says; with the file's rate and channel count. Raises ``ValueError`` saying what is wrong."""
    if os.path.getsize(path) == 0:
        raise ValueError(EMPTY_FILE)
    channels, rate = _decode(path)
    if channels.size == 0:
        raise ValueError(NO_SAMPLES)
    if rate < MIN_SAMPLE_RATE:
        raise ValueError(f"sample rate {rate} Hz is too low (at least {MIN_SAMPLE_RATE} Hz)")
    _raise_if(_non_finite(channels))
    clipped = float(np.max(np.mean(np.abs(channels) >= FULL_SCALE, axis=1)))
    if clipped > CLIPPED_SHARE:
        logger.warning("%s is clipped: %.1f%% of its samples are at full scale (distorted; if you can, record "
                       "it again with a lower input level)", path, 100 * clipped)  # fmt: skip
    done = []  # what was done to the clip: one log line
    wav = channels.mean(axis=0)
    if channels.shape[0] > 1:
        done.append(f"mixed {channels.shape[0]} channels down to mono")
    _raise_if(_silence(channels))
    if rate != model_rate:
        import librosa

        done.append(f"resampled from {rate} Hz to the model's {model_rate} Hz")
        wav = librosa.resample(wav, orig_sr=rate, target_sr=model_rate).astype(np.float32)
    if trim:
        before = wav.size
        wav = ap.trim_silence(wav).astype(np.float32)
        if before - wav.size > 0.5 * model_rate:
            done.append(f"trimmed {(before - wav.size) / model_rate:.1f} s of leading/trailing silence")
    _raise_if(_length(wav.size / model_rate, max_seconds, trimmed=True))
    if done:
        logger.info("%s: %s", path, "; ".join(done))
    return wav, rate, channels.shape[0]


def read_clips(directory: str, config: Any, tokenizer: Any, ap: Any) -> List[Clip]:
    """Read, convert and check every clip of ``directory`` for a model with ``config``,
    ``tokenizer`` and AudioProcessor ``ap`` (see the module docstring). Raises :class:`ClipError`
    listing every unusable file and bad metadata line."""
    transcripts, problems = _read_folder(directory)
    rate = int(config.audio.sample_rate)
    max_seconds = max_clip_seconds(config)
    trim = bool(getattr(config.audio, "do_trim_silence", False))
    clips, levels, limited = [], [], 0
    for path, (source, text) in transcripts.items():
        if text is None:
            where = "metadata.csv" if source.endswith("metadata.csv") else os.path.basename(source)
            problems.append((path, f"no transcript (expected in {where})"))
            continue
        if not text:
            problems.append((path, f"the transcript in {os.path.basename(source)} is empty"))
            continue
        try:
            wav, source_rate, channels = _load_audio(path, rate, ap, trim, max_seconds)
        except ValueError as e:
            problems.append((path, str(e)))
            continue
        unknown = unknown_characters(tokenizer, text)
        if unknown:
            problems.append((path, _unspeakable(unknown)))
            continue
        wav, level, gain_db, peak_limited = _to_common_level(path, wav, rate)
        levels.append(level)
        limited += peak_limited
        clips.append(Clip(path, os.path.splitext(os.path.basename(path))[0], text, wav, source_rate, channels, gain_db))
    if problems:
        raise ClipError(problems)
    peaks = f"; {limited} kept lower by their peaks" if limited else ""
    logger.info("brought %d clip(s) to a speech level of %.0f dBFS (they were at %.1f to %.1f dBFS%s)",
                len(clips), TARGET_LEVEL_DB, min(levels), max(levels), peaks)  # fmt: skip
    return clips


def _sample_problem(sample: Dict[str, Any], rate: int, tokenizer: Any, max_seconds: float) -> Optional[str]:
    path = sample["audio_file"]
    if not os.path.isfile(path):
        return "the file does not exist"
    if os.path.getsize(path) == 0:
        return EMPTY_FILE
    try:
        info = sf.info(path)
    except Exception as e:  # soundfile raises several types for unreadable files
        return f"not a readable audio file ({e})"
    if info.channels != 1:
        return f"{info.channels} channels; tts_maml needs mono clips"
    if info.samplerate != rate:
        return f"sample rate {info.samplerate} Hz, the model's is {rate} Hz (resample the corpus)"
    if info.frames == 0:
        return NO_SAMPLES
    problem = _length(info.frames / rate, max_seconds, trimmed=False)
    if problem:
        return problem
    channels = sf.read(path, dtype="float32", always_2d=True)[0].T  # mono here: (1, samples)
    problem = _non_finite(channels) or _silence(channels)
    if problem:
        return problem
    text = str(sample.get("text") or "").strip()
    if not text:
        return "the transcript is empty"
    unknown = unknown_characters(tokenizer, text)
    if unknown:
        return _unspeakable(unknown)
    return None


def screen_samples(samples: List[Dict[str, Any]], config: Any, tokenizer: Any, what: str = "training") -> List[Dict[str, Any]]:
    """The usable clips of a meta-training corpus: each unusable one is skipped with one log line
    naming the file and the problem, and the total is logged (nothing is stopped for a few bad
    files; a corpus with no usable clip raises ``ValueError``)."""
    rate = int(config.audio.sample_rate)
    max_seconds = max_clip_seconds(config)
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
