"""Floor dequantisation: which values move and where, the floor of Coqui's audio settings, and the
Glow-TTS that pre-trains on it."""

import json
from types import SimpleNamespace

import pytest
import torch

from tts_maml.floor_dequantization import FloorDequantizedGlowTTS, dequantize_floor, mel_floor
from tts_maml.training.pretraining import pretrain_glow_tts_config


def test_only_values_on_the_floor_move_and_they_move_below_it():
    mel = torch.tensor([[-4.0, -3.9, 0.0, 4.0], [-4.0, -4.0, -2.0, -4.0]])
    out = dequantize_floor(mel, floor=-4.0, sigma=0.5, generator=torch.Generator().manual_seed(0))
    on_floor = mel == -4.0
    assert torch.equal(out[~on_floor], mel[~on_floor])  # speech and padding (0) untouched
    assert (out[on_floor] < -4.0).all() and (out[on_floor] > -4.0 - 0.5 * 6).all()
    again = dequantize_floor(mel, floor=-4.0, sigma=0.5, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out, again)  # a seeded draw repeats
    assert dequantize_floor(mel, -4.0, 0.0) is mel
    with pytest.raises(ValueError, match="floor noise must be >= 0"):
        dequantize_floor(mel, -4.0, -0.1)


def test_the_half_normal_scale_is_sigma():
    out = dequantize_floor(torch.full((200_000,), -4.0), floor=-4.0, sigma=0.5, generator=torch.Generator().manual_seed(1))
    assert float((-4.0 - out).mean()) == pytest.approx(0.5 * (2 / torch.pi) ** 0.5, rel=0.02)


def test_the_floor_comes_from_coquis_normalisation_and_without_a_clip_there_is_none():
    audio = SimpleNamespace(signal_norm=True, clip_norm=True, symmetric_norm=True, max_norm=4.0)
    assert mel_floor(audio) == -4.0
    assert mel_floor(SimpleNamespace(**{**vars(audio), "symmetric_norm": False})) == 0.0
    for off in ("signal_norm", "clip_norm"):
        with pytest.raises(ValueError, match="signal_norm and audio.clip_norm"):
            mel_floor(SimpleNamespace(**{**vars(audio), off: False}))


@pytest.fixture(scope="module")
def d_vector_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("d_vectors") / "d_vectors.json"
    path.write_text(json.dumps({f"clip{i}": {"name": f"sp{i}", "embedding": [0.1 * i] * 8} for i in range(2)}))
    return str(path)


def test_pre_training_sees_the_dequantised_floor_and_keeps_glow_tts_weights(d_vector_file, tiny_glow_tts):
    config = pretrain_glow_tts_config(d_vector_file, num_chars=20, data_dep_init_steps=0, **tiny_glow_tts)
    config.out_channels = config.audio.num_mels
    model = FloorDequantizedGlowTTS(config, floor_noise=0.5).train()
    seen, forward = {}, model.forward

    def spy(x, x_lengths, y, y_lengths=None, aux_input=None):
        seen["y"] = y
        return forward(x, x_lengths, y, y_lengths, aux_input)

    model.forward = spy
    mel = torch.randn(2, 24, config.audio.num_mels).clamp(min=-1.0)
    mel[:, :, -4:] = -4.0  # empty top bands, as a 16 kHz voice leaves them
    batch = {"text_input": torch.randint(1, 20, (2, 7)), "text_lengths": torch.tensor([7, 5]), "mel_input": mel,
             "mel_lengths": torch.tensor([24, 18]), "d_vectors": torch.randn(2, 8), "speaker_ids": None}  # fmt: skip
    _, losses = model.train_step(batch, model.get_criterion())
    assert torch.isfinite(losses["loss"])
    assert (seen["y"][:, :, -4:] < -4.0).all() and torch.equal(seen["y"][:, :, :-4], mel[:, :, :-4])
    assert torch.equal(batch["mel_input"], mel)  # the caller's batch is not written into
    assert set(model.state_dict()) == set(FloorDequantizedGlowTTS(config).state_dict())
    with pytest.raises(ValueError, match="floor noise must be >= 0"):
        FloorDequantizedGlowTTS(config, floor_noise=-1.0)
