import numpy as np
import pytest

from tts_maml.evaluate.metrics import compare, f0_errors, mel_cepstral_distortion

RATE = 22050


def voiced(f0, seconds=1.0, rate=RATE):
    """A harmonic tone with a slow amplitude envelope (speech-like enough for YIN and MFCCs)."""
    t = np.arange(int(seconds * rate)) / rate
    wav = sum(np.sin(2 * np.pi * f0 * h * t) / h for h in range(1, 6))
    return (0.3 * wav * (0.6 + 0.4 * np.sin(2 * np.pi * 2 * t))).astype(np.float32)


def test_identical_signals_give_zero_mcd_and_no_f0_error():
    x = voiced(200)
    assert mel_cepstral_distortion(x, x, RATE) == pytest.approx(0.0, abs=1e-9)
    errors = f0_errors(x, x, RATE)
    assert errors["f0_rmse"] == pytest.approx(0.0, abs=1e-6) and errors["voiced_frames"] > 50


def test_a_shifted_pitch_gives_the_expected_f0_error():
    errors = f0_errors(voiced(200), voiced(220), RATE)
    assert errors["f0_mean_error"] == pytest.approx(20.0, abs=2.0)
    assert errors["f0_rmse"] == pytest.approx(20.0, abs=3.0)
    low = f0_errors(voiced(200), voiced(150), RATE)
    assert low["f0_mean_error"] == pytest.approx(50.0, abs=4.0)


def test_mcd_grows_with_the_difference():
    x = voiced(200)
    near = mel_cepstral_distortion(x, voiced(205), RATE)
    far = mel_cepstral_distortion(x, voiced(400), RATE)
    assert 0 < near < far


def test_dtw_alignment_absorbs_a_time_stretch():
    x = voiced(200, seconds=1.0)
    stretched = voiced(200, seconds=1.3)
    assert f0_errors(x, stretched, RATE)["f0_rmse"] < 3.0


def test_compare_resamples_and_reports_everything():
    out = compare((voiced(200), RATE), (voiced(200, rate=16000), 16000))
    assert set(out) == {"mcd", "f0_rmse", "f0_mean_error", "voiced_frames"} and out["f0_rmse"] < 5.0


def test_silence_has_no_voiced_frames():
    out = f0_errors(np.zeros(RATE, dtype=np.float32), voiced(200), RATE)
    assert out["voiced_frames"] == 0 and np.isnan(out["f0_rmse"])


def test_voicing_is_pyins_decision_not_loudness():
    """A tone then loud white noise: the tone's frames are voiced at its pitch, the noise's are not
    (an RMS threshold would call the louder noise voiced)."""
    from tts_maml.evaluate.metrics import HOP, f0_track

    tone = voiced(180, seconds=1.0)
    noise = np.random.default_rng(0).uniform(-0.9, 0.9, RATE).astype(np.float32)
    f0 = f0_track(np.concatenate([tone, noise]), RATE)
    frames = RATE // HOP
    tone_part, noise_part = f0[5 : frames - 5], f0[frames + 5 : 2 * frames - 5]
    assert np.mean(tone_part > 0) > 0.9 and np.median(tone_part[tone_part > 0]) == pytest.approx(180, abs=5)
    assert np.mean(noise_part > 0) < 0.1
