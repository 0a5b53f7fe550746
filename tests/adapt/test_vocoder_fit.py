import json
import os
import shutil

import numpy as np
import pytest
import torch

from tts_maml.adapt.adaptation import adapt
from tts_maml.adapt.vocoder_fit import GRIFFIN_LIM_POWERS, fit_griffin_lim_power, griffin_lim_power
from tts_maml.adapt.voice_delta import load_voice
from tts_maml.backbones import GlowTTSBackbone, VitsBackbone
from tts_maml.speakers.similarity import embed_file

from conftest import save_untrained


@pytest.fixture(scope="module")
def tiny_glow(tmp_path_factory, small_corpus):
    """An untrained tiny one-voice-slot Glow-TTS (checkpoint, config.json) and a clips folder of a corpus speaker."""
    folder = tmp_path_factory.mktemp("tiny_glow")
    clips = shutil.copytree(os.path.join(small_corpus.out, "wav48_silence_trimmed", "sp001"), folder / "clips")
    return (*save_untrained(folder, GlowTTSBackbone), str(clips))


def _texts_and_centroid(clips):
    rows = [line.split("|") for line in open(os.path.join(clips, "metadata.csv"), encoding="utf-8").read().splitlines()]
    centroid = np.mean([embed_file(os.path.join(clips, i + ".flac")) for i, _ in rows], axis=0)
    return [t for _, t in rows][:2], centroid


class RealMels:
    """A stand-in model that "speaks" each sentence as the mel spectrogram of a real clip (an
    untrained model's flat mels sound the same at every exponent)."""

    def __init__(self, clips, texts):
        from TTS.utils.audio import AudioProcessor

        self.ap = AudioProcessor(GlowTTSBackbone.tiny_config().audio)
        rows = dict(line.split("|") for line in open(os.path.join(clips, "metadata.csv"), encoding="utf-8").read().splitlines())
        by_text = {t: i for i, t in rows.items()}
        self.mels = {t: self.ap.melspectrogram(self.ap.load_wav(os.path.join(clips, by_text[t] + ".flac"))) for t in texts}

    def synthesize(self, text, speaker, use_griffin_lim):
        assert not use_griffin_lim and speaker == "v"
        return {"outputs": {"model_outputs": torch.from_numpy(self.mels[text].T[None].copy())}}


def test_the_fitted_exponent_is_the_best_scoring_one_on_the_same_draws(tiny_glow):
    clips = tiny_glow[2]
    texts, centroid = _texts_and_centroid(clips)
    model = RealMels(clips, texts)
    own = model.ap.power
    choice = fit_griffin_lim_power(model, "v", texts, centroid, seed=3)
    assert list(choice.scores) == list(GRIFFIN_LIM_POWERS) and choice.power == max(choice.scores, key=choice.scores.get)
    assert model.ap.power == own  # the model's own exponent is put back
    # The exponents really differ in what they do to a voice (a real clip's mel: the most at 1.0,
    # as the vocoder ceiling measures), and the same sentences, draws and phases give the same scores.
    assert len(set(round(v, 4) for v in choice.scores.values())) == len(GRIFFIN_LIM_POWERS)
    assert choice.scores[1.0] > choice.scores[1.5]
    assert fit_griffin_lim_power(model, "v", texts, centroid, seed=3) == choice
    with pytest.raises(ValueError, match="at least one sentence"):
        fit_griffin_lim_power(model, "v", [], centroid)


def test_a_waveform_model_has_no_exponent_to_fit():
    config = VitsBackbone.tiny_config()
    model = VitsBackbone(config).build_model().eval()
    with pytest.raises(ValueError, match="mel spectrogram.*Griffin-Lim"):
        fit_griffin_lim_power(model, model.speaker_manager.speaker_names[0], ["Hello there."], np.ones(256))


def test_adapt_and_evaluate_refuse_to_fit_a_waveform_model_before_any_step(meta_trained, tmp_path, capsys):
    from tts_maml.cli import main

    checkpoint, config = meta_trained  # a tiny VITS
    with pytest.raises(ValueError, match="a vits model speaks waveforms"):
        adapt(checkpoint, config, str(tmp_path), str(tmp_path / "out"), fit_griffin_lim=True, progress=False)
    assert not (tmp_path / "out").exists()
    assert main(["evaluate", "--model_path", checkpoint, "--config_path", config, "--voice", str(tmp_path),
                 "--fit-griffin-lim", "--out", str(tmp_path / "report")]) == 2  # fmt: skip
    assert "--fit-griffin-lim: a vits model speaks waveforms" in capsys.readouterr().err


def test_griffin_lim_power_is_restored_after_an_error():
    ap = type("AP", (), {"power": 1.25})()
    with pytest.raises(RuntimeError):
        with griffin_lim_power(ap, 1.0):
            assert ap.power == 1.0
            raise RuntimeError("inside")
    assert ap.power == 1.25


def test_adapt_exports_the_fitted_exponent_where_tts_reads_it(tiny_glow, tmp_path):
    model_path, config_path, clips = tiny_glow
    result = adapt(model_path, config_path, clips, str(tmp_path / "out"), steps=1, name="v", progress=False,
                   fit_griffin_lim=True)  # fmt: skip
    fitted = result.griffin_lim
    assert fitted is not None and fitted.power in GRIFFIN_LIM_POWERS
    with open(result.files["config.json"], encoding="utf-8") as f:
        assert json.load(f)["audio"]["power"] == fitted.power
    provenance = load_voice(result.files["voice.pth"]).provenance
    assert provenance["griffin_lim_power"] == fitted.power
    assert provenance["griffin_lim_scores"] == {str(k): v for k, v in fitted.scores.items()}
    # Without the flag the model's own exponent is exported and nothing is recorded.
    plain = adapt(model_path, config_path, clips, str(tmp_path / "plain"), steps=1, name="v", progress=False)
    with open(plain.files["config.json"], encoding="utf-8") as f:
        assert plain.griffin_lim is None and json.load(f)["audio"]["power"] == GlowTTSBackbone.tiny_config().audio.power
    assert "griffin_lim_power" not in load_voice(plain.files["voice.pth"]).provenance
