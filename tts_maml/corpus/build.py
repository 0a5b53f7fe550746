"""The offline multi-speaker corpus, written in the VCTK 0.92 layout.

No data can be downloaded where tts_maml is tested, so it builds its own corpus from synthetic
voices (:mod:`tts_maml.corpus.synthetic_voices`) speaking generated sentences (:mod:`tts_maml.corpus.sentences`). The
output is read unchanged by Coqui's ``vctk`` formatter::

    OUT/
      wav48_silence_trimmed/<spk>/<spk>_<nnn>_mic1.flac   22050 Hz mono, trimmed, peak-normalised
      wav48_silence_trimmed/<spk>/metadata.csv           id|text: the folder is a `tts-maml adapt` clips folder
      txt/<spk>/<spk>_<nnn>.txt                          one line: the transcript
      speaker-info.txt                                   VCTK's columns; COMMENTS holds the recipe
      styles.csv                                         file_id|speaker|style, one row per clip
      corpus.json                                        how it was built (seed, recipes, ...)
      held_out/                                          the same layout for held-out speakers

Coqui names the speakers ``VCTK_<spk>``. The corpus is built in a temporary folder beside OUT and
moved into place at the end, so an interrupted build leaves no half-written OUT.

Example:
    >>> from tts_maml.corpus.build import build_corpus
    >>> summary = build_corpus("/tmp/corpus", speakers=2, utterances=3, overwrite=True)  # doctest: +SKIP
"""

import csv
import json
import logging
import multiprocessing
import os
import secrets
import shutil
import tempfile
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import soundfile as sf
from tqdm import tqdm

from tts_maml.corpus.sentences import generate_sentences
from tts_maml.corpus.synthetic_voices import (
    INSTALLED_SHIFTS,
    STYLES,
    NoAudioError,
    VoiceRecipe,
    check_family_tools,
    check_tools,
    family_recipes,
    installed_voice_recipes,
    source_role,
    speaker_recipes,
    synthesize,
)
from tts_maml.files import check_output_folder

logger = logging.getLogger(__name__)

WAV_DIR = "wav48_silence_trimmed"
TXT_DIR = "txt"
HELD_OUT_DIR = "held_out"
STYLES_FILE = "styles.csv"
MANIFEST_FILE = "corpus.json"
MIC = "mic1"
# Styles other than "neutral", rotated over a speaker's odd-numbered clips: every speaker gets
# at least two styles (with 2 clips or more), and every style is spoken by every speaker (with
# 8 clips or more), so tasks can be cut by speaker or by style.
EXPRESSIVE_STYLES: Tuple[str, ...] = ("fast", "slow", "high", "low")
# The installed-voice corpus: its speakers' ids (``iv000``...), so that it trains beside a recipe
# corpus without a name in both; its sentences drawn with another seed than a recipe corpus's
# (new text, not the recipe speakers' sentences again); and spare sentences per clip, for a
# sentence that a voice's front end cannot speak.
INSTALLED_PREFIX = "iv"
INSTALLED_SENTENCE_SEED = 7919
SPARE_SENTENCES = 3
# The family corpora (:func:`build_family_corpus`): speaker ids that say their role (the dev/test
# split of speaker_split reads ``dev``/``test`` ids), and their own sentences.
FAMILY_PREFIXES: Dict[str, str] = {"pretrain": "fp", "meta_train": "fm", "dev": "dev", "test": "test"}
FAMILY_SENTENCE_SEED = 104729


@dataclass(frozen=True)
class ClipJob:
    """One clip to render: where it goes and how it is spoken."""

    subdir: str
    speaker: str
    file_id: str
    text: str
    style: str
    recipe: VoiceRecipe
    spare_texts: Tuple[str, ...] = ()


@dataclass
class CorpusSummary:
    """What :func:`build_corpus` wrote.

    Args:
        out: the corpus folder.
        speakers: training speaker ids (Coqui names them ``VCTK_<id>``).
        held_out_speakers: speaker ids written under ``OUT/held_out``.
        clips: number of clips written (both parts).
        sample_rate: audio sample rate in Hz.
        seconds: total audio duration in seconds.
    """

    out: str
    speakers: List[str]
    held_out_speakers: List[str]
    clips: int
    sample_rate: int
    seconds: float = 0.0
    recipes: Dict[str, str] = field(default_factory=dict)
    sources: Dict[str, str] = field(default_factory=dict)
    roles: Dict[str, str] = field(default_factory=dict)


def speaker_id(index: int, prefix: str = "sp") -> str:
    """The id of the ``index``-th speaker (``sp000``, ``sp001``...); held-out ids follow on."""
    return f"{prefix}{index:03d}"


def clip_style(speaker_index: int, clip_index: int) -> str:
    """The speaking style of a clip: even clips neutral, odd ones rotate the expressive styles."""
    if clip_index % 2 == 0:
        return "neutral"
    return EXPRESSIVE_STYLES[(speaker_index + clip_index // 2) % len(EXPRESSIVE_STYLES)]


def plan_corpus(speakers: int, utterances: int, seed: int = 0, held_out: int = 0, clear: bool = False) -> List[ClipJob]:
    """Every clip of the corpus, in order: training speakers first, then held-out ones; ``clear``: the
    clear recipes (:func:`tts_maml.corpus.synthetic_voices.speaker_recipes`)."""
    if speakers < 1 or utterances < 1 or held_out < 0:
        raise ValueError(
            f"need speakers >= 1, utterances >= 1, held_out >= 0 (got {speakers}, {utterances}, {held_out})"
        )
    total = speakers + held_out
    recipes = speaker_recipes(total, seed=seed, clear=clear)
    sentences = generate_sentences(total * utterances, seed=seed)
    jobs = []
    for s in range(total):
        spk = speaker_id(s)
        for u in range(utterances):
            style = clip_style(s, u)
            jobs.append(
                ClipJob(
                    subdir="" if s < speakers else HELD_OUT_DIR,
                    speaker=spk,
                    file_id=f"{spk}_{u + 1:03d}",
                    text=sentences[s * utterances + u],
                    style=style,
                    recipe=recipes[s].styled(STYLES[style]),
                )
            )
    return jobs


def plan_voices(voices: Sequence[Tuple[str, str, VoiceRecipe]], utterances: int, sentence_seed: int) -> List[ClipJob]:
    """Every clip of a corpus of ``voices`` (``(speaker id, subdir, recipe)``, in order), each with
    the recipe corpus's styles. Sentences come from ``sentence_seed``; each clip carries
    :data:`SPARE_SENTENCES` spares, drawn after every clip's own sentence."""
    if utterances < 1 or not voices:
        raise ValueError(f"need utterances >= 1 and at least one voice (got {utterances}, {len(voices)})")
    n = len(voices) * utterances
    sentences = generate_sentences(n * (1 + SPARE_SENTENCES), seed=sentence_seed)
    jobs = []
    for s, (spk, subdir, recipe) in enumerate(voices):
        for u in range(utterances):
            k, style = s * utterances + u, clip_style(s, u)
            jobs.append(ClipJob(subdir=subdir, speaker=spk, file_id=f"{spk}_{u + 1:03d}", text=sentences[k],
                                style=style, recipe=recipe.styled(STYLES[style]),
                                spare_texts=tuple(sentences[n + k * SPARE_SENTENCES: n + (k + 1) * SPARE_SENTENCES])))  # fmt: skip
    return jobs


def plan_installed_corpus(recipes: Sequence[VoiceRecipe], utterances: int, seed: int = 0) -> List[ClipJob]:
    """Every clip of an installed-voice corpus (:func:`build_installed_voices_corpus`), in order
    (:func:`plan_voices`, sentences from ``INSTALLED_SENTENCE_SEED + seed``)."""
    voices = [(speaker_id(s, INSTALLED_PREFIX), "", r) for s, r in enumerate(recipes)]
    return plan_voices(voices, utterances, INSTALLED_SENTENCE_SEED + seed)


def family_voices(role: str, held_out_roles: Sequence[str] = (), seed: int = 0) -> List[Tuple[str, str, VoiceRecipe]]:
    """``(speaker id, subdir, recipe)`` of a family corpus: the voices of ``role`` (training
    speakers), then those of each of ``held_out_roles`` under ``held_out/``; ids say the role
    (:data:`FAMILY_PREFIXES`: ``fm000``, ``dev000``, ``test000``...)."""
    voices = []
    for subdir, r in [("", role)] + [(HELD_OUT_DIR, h) for h in held_out_roles]:
        voices += [(speaker_id(i, FAMILY_PREFIXES[r]), subdir, recipe) for i, recipe in enumerate(family_recipes(r, seed))]
    return voices


def trim_and_normalise(wav: np.ndarray, sample_rate: int, top_db: float = 40.0, pad_ms: float = 30.0,
                       peak: float = 0.95) -> np.ndarray:  # fmt: skip
    """Cut leading/trailing audio quieter than ``top_db`` below the peak (keeping ``pad_ms``) and
    scale the peak to ``peak``. Raises ``ValueError`` on silent audio."""
    wav = np.asarray(wav, dtype=np.float32).reshape(-1)
    amax = float(np.max(np.abs(wav))) if wav.size else 0.0
    if amax < 1e-4:
        raise ValueError("the audio is silent")
    frame = max(1, int(sample_rate * 0.01))
    n_frames = int(np.ceil(wav.size / frame))
    padded = np.pad(wav, (0, n_frames * frame - wav.size))
    rms = np.sqrt(np.mean(padded.reshape(n_frames, frame) ** 2, axis=1))
    loud = np.flatnonzero(rms > np.max(rms) * 10 ** (-top_db / 20))
    pad = int(sample_rate * pad_ms / 1000)
    start = max(0, loud[0] * frame - pad)
    end = min(wav.size, (loud[-1] + 1) * frame + pad)
    wav = wav[start:end]
    return (wav * (peak / float(np.max(np.abs(wav))))).astype(np.float32)


def _speak(job: ClipJob, sample_rate: int) -> Tuple[np.ndarray, str]:
    """The clip's audio and the sentence it says: its own, or the first spare its voice can speak."""
    texts = (job.text, *job.spare_texts)
    for i, text in enumerate(texts):
        try:
            wav = trim_and_normalise(synthesize(job.recipe, text, sample_rate), sample_rate)
        except NoAudioError:
            if i == len(texts) - 1:
                raise
            continue
        return wav, text
    raise AssertionError("unreachable")


def _render(args: Tuple[str, int, ClipJob]) -> Tuple[float, str, str]:
    """Render one clip; its seconds of audio, file id and the sentence it says."""
    root, sample_rate, job = args
    try:
        wav, text = _speak(job, sample_rate)
    except Exception as e:  # name the clip: a worker's traceback alone does not say which one
        raise RuntimeError(f"could not render {job.file_id} ({job.recipe.describe()}): {e}") from e
    base = os.path.join(root, job.subdir)
    wav_path = os.path.join(base, WAV_DIR, job.speaker, f"{job.file_id}_{MIC}.flac")
    txt_path = os.path.join(base, TXT_DIR, job.speaker, f"{job.file_id}.txt")
    sf.write(wav_path, wav, sample_rate, subtype="PCM_16")
    with open(txt_path, "w", encoding="utf-8") as f:
        f.write(text + "\n")
    return wav.size / sample_rate, job.file_id, text


def _write_metadata(root: str, jobs: List[ClipJob], recipes: Dict[str, VoiceRecipe]) -> None:
    for subdir in sorted({j.subdir for j in jobs}):
        part = [j for j in jobs if j.subdir == subdir]
        speakers = sorted({j.speaker for j in part})
        with open(os.path.join(root, subdir, "speaker-info.txt"), "w", encoding="utf-8") as f:
            # VCTK 0.92's columns; COMMENTS carries the synthetic voice recipe.
            f.write("ID  AGE  GENDER  ACCENTS  REGION  COMMENTS\n")
            for spk in speakers:
                r = recipes[spk]
                f.write(f"{spk}  -  {r.gender}  {r.accent}  synthetic  {r.describe()}\n")
        with open(os.path.join(root, subdir, STYLES_FILE), "w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f, delimiter="|", lineterminator="\n")
            writer.writerow(["file_id", "speaker", "style"])
            for j in part:
                writer.writerow([j.file_id, j.speaker, j.style])
        # Every speaker's audio folder is also a clips folder for `tts-maml adapt` (LJSpeech-style
        # metadata.csv, `id|text`); Coqui's vctk formatter ignores the file.
        for spk in speakers:
            write_clips_metadata(os.path.join(root, subdir, WAV_DIR, spk),
                                 [{"id": f"{j.file_id}_{MIC}", "text": j.text} for j in part if j.speaker == spk])  # fmt: skip


def _move_into_place(tmp: str, out: str) -> None:
    if not os.path.exists(out):
        os.replace(tmp, out)
        return
    # os.replace cannot replace a non-empty folder: move the old one aside first, then drop it.
    old = tempfile.mkdtemp(prefix=f".{os.path.basename(out)}.old-", dir=os.path.dirname(out))
    os.replace(out, os.path.join(old, "corpus"))
    os.replace(tmp, out)
    shutil.rmtree(old, ignore_errors=True)


def _render_all(root: str, jobs: List[ClipJob], sample_rate: int, workers: Optional[int],
                progress: bool) -> Tuple[float, List[ClipJob]]:  # fmt: skip
    """Render every clip into ``root`` (folders made first), in ``workers`` processes; the seconds of
    audio and the jobs with the sentence each clip says."""
    for j in jobs:
        for kind in (WAV_DIR, TXT_DIR):
            os.makedirs(os.path.join(root, j.subdir, kind, j.speaker), exist_ok=True)
    work = [(root, sample_rate, j) for j in jobs]
    workers = workers or os.cpu_count() or 1
    bar = tqdm(total=len(jobs), desc="make-corpus", unit="clip", disable=not progress)
    seconds = 0.0
    spoken: Dict[str, str] = {}
    with bar:
        if workers == 1:
            results: Iterable[Tuple[float, str, str]] = map(_render, work)
        else:
            pool = multiprocessing.get_context("spawn").Pool(workers)
            results = pool.imap_unordered(_render, work, chunksize=4)
        try:
            for duration, file_id, text in results:
                seconds += duration
                spoken[file_id] = text
                bar.update(1)
        finally:
            if workers != 1:
                pool.terminate()
    for j in jobs:  # logged here: a worker process's log lines go nowhere
        if spoken[j.file_id] != j.text:
            logger.info("%s: festival voice %s spoke no audio for its sentence; it says a spare one instead",
                        j.file_id, j.recipe.voice)  # fmt: skip
    return seconds, [replace(j, text=spoken[j.file_id], spare_texts=()) for j in jobs]


def _write_manifest(root: str, summary: CorpusSummary, seed: int, utterances: int) -> None:
    """``corpus.json``: how the corpus was built (the summary without its folder, which moves)."""
    manifest: Dict[str, Any] = {
        "format": "VCTK-0.92 layout (Coqui formatter 'vctk'); speakers are named VCTK_<id> by Coqui",
        "seed": seed,
        "utterances_per_speaker": utterances,
        **asdict(summary),
    }
    manifest.pop("out")
    with open(os.path.join(root, MANIFEST_FILE), "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2)


def build_corpus(
    out: str,
    speakers: int = 20,
    utterances: int = 30,
    seed: int = 0,
    sample_rate: int = 22050,
    held_out: int = 0,
    overwrite: bool = False,
    workers: Optional[int] = None,
    progress: bool = True,
    clear: bool = False,
) -> CorpusSummary:
    """Build the offline multi-speaker corpus in the VCTK 0.92 layout (see the module docstring).

    Args:
        out: output folder; must be missing or empty unless ``overwrite``.
        speakers: number of training speakers.
        utterances: clips per speaker (training and held-out alike).
        seed: the same seed gives the same voices, sentences and styles.
        sample_rate: audio sample rate in Hz.
        held_out: number of extra speakers written under ``OUT/held_out`` (never in OUT's own list).
        overwrite: replace a non-empty ``out``.
        workers: processes to synthesise with (default: all cores).
        progress: show a progress bar.
        clear: the recipes a listener understands best
            (:func:`tts_maml.corpus.synthetic_voices.speaker_recipes`), not the shipped model's.

    Returns:
        A :class:`CorpusSummary`.
    """
    out = os.path.abspath(out)
    check_output_folder(out, overwrite)
    check_tools()
    jobs = plan_corpus(speakers, utterances, seed=seed, held_out=held_out, clear=clear)
    recipes = {speaker_id(i): r for i, r in enumerate(speaker_recipes(speakers + held_out, seed=seed, clear=clear))}
    summary = _write_corpus(out, jobs, recipes, speakers, seed, utterances, sample_rate, workers, progress)
    logger.info(
        "wrote %d clips (%.1f min of audio) of %d speakers (+%d held out) to %s",
        summary.clips, summary.seconds / 60, speakers, held_out, out,
    )  # fmt: skip
    return summary


def build_installed_voices_corpus(
    out: str,
    utterances: int = 20,
    shifts: Sequence[int] = INSTALLED_SHIFTS,
    seed: int = 0,
    sample_rate: int = 22050,
    overwrite: bool = False,
    workers: Optional[int] = None,
    progress: bool = True,
) -> CorpusSummary:
    """Build a corpus of the festival voices of other languages installed on the machine, in the
    layout of :func:`build_corpus`, to train on beside a recipe corpus.

    One speaker (``iv000``, ``iv001``...) per installed voice x formant shift
    (:func:`tts_maml.corpus.synthetic_voices.installed_voice_recipes`), with the recipe corpus's
    styles; no held-out speakers. A sentence a voice's front end cannot speak is replaced by a
    spare one (logged), and the transcript records what was said.

    Example:
        >>> from tts_maml.corpus.build import build_installed_voices_corpus
        >>> build_installed_voices_corpus("/tmp/installed", utterances=2, shifts=(0,))  # doctest: +SKIP
    """
    out = os.path.abspath(out)
    check_output_folder(out, overwrite)
    check_tools()
    voices = installed_voice_recipes(shifts, seed=seed)
    jobs = plan_installed_corpus(voices, utterances, seed=seed)
    recipes = {speaker_id(i, INSTALLED_PREFIX): r for i, r in enumerate(voices)}
    summary = _write_corpus(out, jobs, recipes, len(voices), seed, utterances, sample_rate, workers, progress)
    logger.info("wrote %d clips (%.1f min of audio) of %d installed-voice speakers to %s",
                summary.clips, summary.seconds / 60, len(voices), out)  # fmt: skip
    return summary


def build_family_corpus(
    out: str,
    role: str,
    held_out_roles: Sequence[str] = (),
    utterances: int = 20,
    seed: int = 0,
    sample_rate: int = 22050,
    overwrite: bool = False,
    workers: Optional[int] = None,
    progress: bool = True,
) -> CorpusSummary:
    """Build a corpus of the voice families (RHVoice, MBROLA, flite, Piper) in the layout of :func:`build_corpus`:
    the voices whose source speaker has ``role`` (:data:`tts_maml.corpus.synthetic_voices.SOURCE_ROLES`)
    as training speakers, and those of ``held_out_roles`` under ``held_out/``, their ids saying their
    role (``dev000``, ``test000``), which is how the dev/test split reads them. ``corpus.json`` records
    each speaker's source speaker and role.

    Example:
        >>> from tts_maml.corpus.build import build_family_corpus
        >>> build_family_corpus("/tmp/families", "meta_train", ("dev", "test"), utterances=2)  # doctest: +SKIP
    """
    out = os.path.abspath(out)
    check_output_folder(out, overwrite)
    check_tools()
    check_family_tools()
    voices = family_voices(role, held_out_roles, seed)
    jobs = plan_voices(voices, utterances, FAMILY_SENTENCE_SEED + seed)
    recipes = {spk: r for spk, _, r in voices}
    roles = {spk: source_role(r) for spk, _, r in voices}
    training = sum(1 for _, subdir, _ in voices if not subdir)
    summary = _write_corpus(out, jobs, recipes, training, seed, utterances, sample_rate, workers, progress, roles)
    logger.info("wrote %d clips (%.1f min of audio) of %d family speakers (%s; %d held out: %s) to %s", summary.clips,
                summary.seconds / 60, training, role, len(voices) - training, ", ".join(held_out_roles), out)  # fmt: skip
    return summary


def _write_corpus(out: str, jobs: List[ClipJob], recipes: Dict[str, VoiceRecipe], speakers: int, seed: int,
                  utterances: int, sample_rate: int, workers: Optional[int], progress: bool,
                  roles: Optional[Dict[str, str]] = None) -> CorpusSummary:  # fmt: skip
    """Render ``jobs`` and write the corpus into ``out`` atomically; the first ``speakers`` of
    ``recipes`` (in order) are training speakers, the rest held out; ``roles``: each speaker's part
    of the work, where the corpus has them."""
    names = list(recipes)
    parent = os.path.dirname(out)
    os.makedirs(parent, exist_ok=True)
    # Not mkdtemp: its 0700 would survive the rename; mkdir gives the folder the user's usual mode.
    tmp = os.path.join(parent, f".{os.path.basename(out)}.partial-{secrets.token_hex(8)}")
    os.mkdir(tmp)
    try:
        seconds, jobs = _render_all(tmp, jobs, sample_rate, workers, progress)
        _write_metadata(tmp, jobs, recipes)
        summary = CorpusSummary(
            out=out,
            speakers=names[:speakers],
            held_out_speakers=names[speakers:],
            clips=len(jobs),
            sample_rate=sample_rate,
            seconds=round(seconds, 2),
            recipes={k: v.describe() for k, v in recipes.items()},
            sources={k: v.source for k, v in recipes.items()},
            roles=dict(roles or {}),
        )
        _write_manifest(tmp, summary, seed, utterances)
        _move_into_place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return summary


def speaker_clips(out: str, speaker: str, speakers: int, utterances: int, seed: int = 0, held_out: int = 0,
                  sample_rate: int = 22050, clear: bool = False) -> List[Dict[str, str]]:  # fmt: skip
    """Render one speaker of a corpus alone, as a clips folder for ``tts-maml adapt`` (one FLAC per
    clip + ``metadata.csv``, ``id|text``): the same audio as in the corpus built with the same
    ``speakers``, ``utterances``, ``seed``, ``held_out`` and ``clear``, in seconds instead of minutes.

    Returns the clips in order, ``{"id", "text", "path"}``.
    """
    jobs = [j for j in plan_corpus(speakers, utterances, seed=seed, held_out=held_out, clear=clear)
            if j.speaker == speaker]  # fmt: skip
    if not jobs:
        raise ValueError(f"speaker {speaker!r} is not in a corpus of {speakers} + {held_out} speakers")
    os.makedirs(out, exist_ok=True)
    clips = []
    for job in jobs:
        wav = trim_and_normalise(synthesize(job.recipe, job.text, sample_rate), sample_rate)
        path = os.path.join(out, f"{job.file_id}_{MIC}.flac")
        sf.write(path, wav, sample_rate, subtype="PCM_16")
        clips.append({"id": f"{job.file_id}_{MIC}", "text": job.text, "path": path})
    write_clips_metadata(out, clips)
    return clips


def write_clips_metadata(folder: str, clips: List[Dict[str, str]]) -> None:
    """Write a clips folder's ``metadata.csv`` (``id|text`` per clip, LJSpeech style)."""
    with open(os.path.join(folder, "metadata.csv"), "w", encoding="utf-8") as f:
        f.writelines(f"{c['id']}|{c['text']}\n" for c in clips)


def read_clips_metadata(folder: str) -> List[Dict[str, str]]:
    """The clips of a folder this module wrote (a corpus speaker's folder, :func:`speaker_clips`):
    ``{"id", "text", "path"}`` (the FLAC) in ``metadata.csv`` order. User clip folders, in every
    format ``tts-maml adapt`` takes, are read by :func:`tts_maml.adapt.clips.read_clips`."""
    with open(os.path.join(folder, "metadata.csv"), encoding="utf-8") as f:
        rows = [line.rstrip("\n").split("|", 1) for line in f if line.strip()]
    return [{"id": i, "text": t, "path": os.path.join(folder, i + ".flac")} for i, t in rows]


def load_styles(corpus_dir: str) -> Dict[str, str]:
    """Map each clip's file id (``sp000_001``) to its style label, from ``corpus_dir/styles.csv``."""
    path = os.path.join(corpus_dir, STYLES_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} not found: is {corpus_dir} a corpus written by `tts-maml make-corpus`?")
    with open(path, encoding="utf-8", newline="") as f:
        return {row["file_id"]: row["style"] for row in csv.DictReader(f, delimiter="|")}


def clip_file_id(audio_file: str) -> str:
    """The VCTK file id of a clip path: ``.../sp000_001_mic1.flac`` -> ``sp000_001``."""
    name = os.path.basename(audio_file).rsplit(".", 1)[0]
    return name[: -len(f"_{MIC}")] if name.endswith(f"_{MIC}") else name


def attach_styles(samples: List[Dict[str, Any]], corpus_dir: str, key: str = "style") -> List[Dict[str, Any]]:
    """Add each sample's style label under ``key`` (so episodes can use ``task_key="style"``).

    ``samples`` are the dicts that Coqui's ``load_tts_samples`` returns for this corpus. Raises
    ``KeyError`` naming the first clip that ``styles.csv`` does not list.
    """
    styles = load_styles(corpus_dir)
    labelled = []
    for sample in samples:
        file_id = clip_file_id(sample["audio_file"])
        if file_id not in styles:
            raise KeyError(f"{sample['audio_file']}: no style for {file_id} in {corpus_dir}/{STYLES_FILE}")
        labelled.append({**sample, key: styles[file_id]})
    return labelled
