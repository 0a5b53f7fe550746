"""Objective measures of a synthesised clip against the real clip of the same sentence.

- :func:`mel_cepstral_distortion`: MCD in dB between the mel-cepstra (c1..c24) of the two clips,
  aligned with dynamic time warping; identical signals give 0.
- :func:`f0_errors`: F0 RMSE and mean error (Hz) over frames voiced in both clips, on the same
  DTW alignment; a tone shifted from 200 to 220 Hz gives 20 Hz. Voicing is pYIN's voiced/unvoiced
  decision (:func:`f0_track`), not a loudness threshold, so loud noise is not "voiced".
- speaker similarity: :func:`tts_maml.speakers.similarity.cosine` of Resemblyzer embeddings.

Example:
    >>> import numpy as np
    >>> from tts_maml.evaluate.metrics import mel_cepstral_distortion
    >>> t = np.arange(22050) / 22050
    >>> x = np.sin(2 * np.pi * 200 * t).astype(np.float32)
    >>> mel_cepstral_distortion(x, x, 22050)
    0.0
"""

from typing import Dict, Optional, Tuple

import numpy as np

N_MFCC = 25
HOP = 256
FMIN, FMAX = 60.0, 500.0
# 10 / ln(10) * sqrt(2): the usual constant that puts MCD in dB.
MCD_CONSTANT = 10.0 / np.log(10.0) * np.sqrt(2.0)


def mel_cepstrum(wav: np.ndarray, sample_rate: int) -> np.ndarray:
    """Mel-cepstral coefficients 1..24 per frame (``[frames, 24]``): the cosine series of the
    natural-log mel amplitude spectrum (80 bands), c0 (the energy) left out, so that the usual
    MCD constant gives dB on the scale of SPTK-based MCD."""
    import librosa
    from scipy.fft import dct

    mel = librosa.feature.melspectrogram(y=np.asarray(wav, dtype=np.float32), sr=sample_rate, n_fft=1024,
                                         hop_length=HOP, n_mels=80, power=1.0)  # fmt: skip
    # Cosine-series coefficients of the log spectrum, c_k = 2/N sum_n x_n cos(...): the cepstrum's
    # scale, independent of the number of mel bands.
    cepstrum = dct(np.log(np.maximum(mel, 1e-5)), type=2, axis=0, norm=None) / mel.shape[0]
    return cepstrum[1:N_MFCC].T


def _dtw_path(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    import librosa

    _, path = librosa.sequence.dtw(X=a.T, Y=b.T, metric="euclidean")
    return path[::-1]


def mel_cepstral_distortion(reference: np.ndarray, synthesised: np.ndarray, sample_rate: int) -> float:
    """MCD (dB) between two clips after DTW alignment of their mel-cepstra."""
    a, b = mel_cepstrum(reference, sample_rate), mel_cepstrum(synthesised, sample_rate)
    path = _dtw_path(a, b)
    diff = a[path[:, 0]] - b[path[:, 1]]
    return float(MCD_CONSTANT * np.mean(np.sqrt(np.sum(diff**2, axis=1))))


def f0_track(wav: np.ndarray, sample_rate: int) -> np.ndarray:
    """F0 per frame (Hz) with pYIN (``librosa.pyin``), 0 where pYIN's voicing decision (its HMM over
    voiced and unvoiced states) says unvoiced: breath, fricatives and noise are unvoiced however
    loud they are."""
    import librosa

    wav = np.asarray(wav, dtype=np.float32)
    f0, voiced, _ = librosa.pyin(wav, fmin=FMIN, fmax=FMAX, sr=sample_rate, frame_length=1024, hop_length=HOP)
    return np.where(voiced & np.isfinite(f0), f0, 0.0)


def f0_errors(reference: np.ndarray, synthesised: np.ndarray, sample_rate: int,
              reference_f0: Optional[np.ndarray] = None) -> Dict[str, float]:  # fmt: skip
    """``{"f0_rmse": Hz, "f0_mean_error": Hz, "voiced_frames": n}`` over frames voiced in both clips,
    aligned by DTW on the mel-cepstra; NaN when no frame is voiced in both. ``reference_f0``: the
    reference's :func:`f0_track`, if already computed (pYIN takes about a second per clip)."""
    a, b = mel_cepstrum(reference, sample_rate), mel_cepstrum(synthesised, sample_rate)
    path = _dtw_path(a, b)
    fa = f0_track(reference, sample_rate) if reference_f0 is None else reference_f0
    fb = f0_track(synthesised, sample_rate)
    ia = np.clip(path[:, 0], 0, len(fa) - 1)
    ib = np.clip(path[:, 1], 0, len(fb) - 1)
    x, y = fa[ia], fb[ib]
    voiced = (x > 0) & (y > 0)
    if not voiced.any():
        return {"f0_rmse": float("nan"), "f0_mean_error": float("nan"), "voiced_frames": 0}
    d = y[voiced] - x[voiced]
    return {"f0_rmse": float(np.sqrt(np.mean(d**2))), "f0_mean_error": float(abs(np.mean(d))), "voiced_frames": int(voiced.sum())}


def compare(reference: Tuple[np.ndarray, int], synthesised: Tuple[np.ndarray, int],
            reference_f0: Optional[np.ndarray] = None) -> Dict[str, float]:  # fmt: skip
    """MCD and F0 errors of a synthesised clip against the real one (resampled to the real clip's
    rate); ``reference_f0`` as in :func:`f0_errors`."""
    import librosa

    ref, rate = reference
    syn, syn_rate = synthesised
    if syn_rate != rate:
        syn = librosa.resample(np.asarray(syn, dtype=np.float32), orig_sr=syn_rate, target_sr=rate)
    return {"mcd": mel_cepstral_distortion(ref, syn, rate), **f0_errors(ref, syn, rate, reference_f0)}
