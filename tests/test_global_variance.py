"""The global-variance term: the loss, the Glow-TTS that trains with it, and the forward pass that
meta-learning's task loss calls."""

import json
import math

import pytest
import torch
from TTS.tts.models.glow_tts import GlowTTS

from tts_maml.global_variance import GlobalVarianceGlowTTS, global_variance_loss
from tts_maml.training.pretraining import pretrain_glow_tts_config


def test_the_loss_is_the_log_ratio_of_standard_deviations_over_unmasked_frames():
    real = torch.tensor([[[0.0, 2.0, 0.0, 2.0, 9.0, -9.0]], [[1.0, 3.0, 1.0, 3.0, 1.0, 3.0]]])
    mask = torch.tensor([[[1.0, 1, 1, 1, 0, 0]], [[1.0, 1, 1, 1, 1, 1]]])  # padding after 4 frames
    assert float(global_variance_loss(real, real, mask)) == pytest.approx(0.0, abs=1e-6)
    # Half the variation in the first utterance (its padding ignored), the same in the second.
    smooth = torch.tensor([[[0.5, 1.5, 0.5, 1.5, 0.0, 0.0]], [[1.0, 3.0, 1.0, 3.0, 1.0, 3.0]]])
    assert float(global_variance_loss(smooth, real, mask)) == pytest.approx(math.log(2) / 2, abs=1e-4)


@pytest.fixture(scope="module")
def d_vector_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("d_vectors") / "d_vectors.json"
    path.write_text(json.dumps({f"clip{i}": {"name": f"sp{i}", "embedding": [0.1 * i] * 8} for i in range(2)}))
    return str(path)


def _model(cls, d_vector_file, sizes, **kwargs):
    # No data-dependent ActNorm initialisation step: every training step trains.
    config = pretrain_glow_tts_config(d_vector_file, num_chars=20, data_dep_init_steps=0, **sizes)
    config.out_channels = config.audio.num_mels
    torch.manual_seed(0)
    return cls(config, **kwargs)


def _batch(model):
    torch.manual_seed(1)
    return {"text_input": torch.randint(1, 20, (2, 7)), "text_lengths": torch.tensor([7, 5]),
            "mel_input": torch.randn(2, 24, model.config.audio.num_mels), "mel_lengths": torch.tensor([24, 18]),
            "d_vectors": torch.randn(2, 8), "speaker_ids": None}  # fmt: skip


def test_training_adds_the_weighted_term_to_coquis_losses_and_keeps_glow_tts_weights(d_vector_file, tiny_glow_tts):
    plain = _model(GlowTTS, d_vector_file, tiny_glow_tts)
    gv = _model(GlobalVarianceGlowTTS, d_vector_file, tiny_glow_tts, weight=0.5)
    gv.load_state_dict(plain.state_dict())
    assert gv.state_dict().keys() == plain.state_dict().keys()  # a plain Coqui checkpoint
    batch = _batch(plain)
    plain.train(), gv.train()
    torch.manual_seed(2)
    _, coqui = plain.train_step(batch, plain.get_criterion())
    torch.manual_seed(2)
    _, losses = gv.train_step(batch, gv.get_criterion())
    assert losses["gv_loss"].item() > 0
    assert losses["loss"].item() == pytest.approx(coqui["loss"].item() + 0.5 * losses["gv_loss"].item(), rel=1e-5)
    # The term reaches the decoder through its inverse (the synthesis path) and the encoder's means.
    gv.zero_grad()
    losses["gv_loss"].backward()
    assert gv.decoder.flows[0].logs.grad.abs().sum() > 0
    assert gv.encoder.proj_m.weight.grad.abs().sum() > 0


def test_no_term_outside_training_or_at_weight_zero(d_vector_file, tiny_glow_tts):
    batch = _batch(_model(GlowTTS, d_vector_file, tiny_glow_tts))
    gv = _model(GlobalVarianceGlowTTS, d_vector_file, tiny_glow_tts, weight=0.0).train()
    assert "gv_loss" not in gv.train_step(batch, gv.get_criterion())[1]
    gv = _model(GlobalVarianceGlowTTS, d_vector_file, tiny_glow_tts, weight=1.0).eval()
    with torch.no_grad():
        assert "gv_loss" not in gv.forward(batch["text_input"], batch["text_lengths"], batch["mel_input"],
                                           batch["mel_lengths"], aux_input={"d_vectors": batch["d_vectors"]})  # fmt: skip
    with pytest.raises(ValueError, match="weight must be >= 0"):
        _model(GlobalVarianceGlowTTS, d_vector_file, tiny_glow_tts, weight=-1.0)
