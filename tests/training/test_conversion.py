"""tts_maml.training.conversion: Coqui multi-speaker checkpoints become one-voice-slot models, faithfully."""

import json
import os

import numpy as np
import pytest
import torch

from tts_maml.backbones import GlowTTSBackbone, VitsBackbone
from tts_maml.config import load_config
from tts_maml.speakers.d_vectors import DVectorProjection
from tts_maml.training.conversion import convert


def _coqui_model(tmp_path, backbone, **fields):
    """A tiny plain-Coqui multi-speaker model saved as a checkpoint + config.json."""
    from TTS.tts.models import setup_model

    config = backbone.tiny_config()
    config.maml = None
    data = {k: v for k, v in config.to_dict().items() if k != "maml"}
    data.update(fields)
    path = tmp_path / "coqui_config.json"
    path.write_text(json.dumps(data))
    config = load_config(str(path))
    torch.manual_seed(0)
    model = setup_model(config)
    checkpoint = tmp_path / "coqui.pth"
    torch.save({"model": model.state_dict(), "config": data, "step": 10, "epoch": 1}, checkpoint)
    return model.eval(), str(checkpoint), str(path)


def _glow_outputs(model, aux):
    torch.manual_seed(0)
    x = torch.randint(1, 20, (1, 12))
    y = torch.randn(1, 30, 80)  # [B, T, C], as Coqui's forward takes it
    with torch.no_grad():
        out = model.forward(x, torch.tensor([12]), y, torch.tensor([30]), aux_input=aux)
    return out["z"], out["logdet"]


def _converted(out):
    from TTS.tts.models import setup_model

    config = load_config(os.path.join(out, "config.json"))
    model = setup_model(config)
    model.load_state_dict(torch.load(os.path.join(out, "model.pth"), weights_only=False)["model"])
    return model.eval(), config


def test_speaker_table_glow_tts_collapses_to_the_mean_row_and_keeps_every_speaker_exactly(tmp_path):
    model, ckpt, cfg = _coqui_model(tmp_path, GlowTTSBackbone, speakers=["a", "b", "c"])
    summary = convert(ckpt, cfg, str(tmp_path / "out"))
    assert summary["kind"] == "speaker_table" and summary["speakers"] == 3 and summary["voice_start"] == "learned"
    converted, config = _converted(str(tmp_path / "out"))
    assert config.speakers == ["voice"] and config.maml.voice_start == "learned"
    table = model.emb_g.weight.detach()
    assert torch.allclose(converted.emb_g.weight, table.mean(0, keepdim=True))
    # A speaker's own row in the slot computes exactly what the original computes for that speaker.
    with torch.no_grad():
        converted.emb_g.weight.copy_(table[1:2])
    original = _glow_outputs(model, {"speaker_ids": torch.tensor([1]), "d_vectors": None})
    slot = _glow_outputs(converted, {"speaker_ids": torch.tensor([0]), "d_vectors": None})
    for a, b in zip(original, slot):
        assert torch.equal(a, b)


def test_d_vector_glow_tts_starts_new_voices_from_their_d_vector(tmp_path):
    width = GlowTTSBackbone.tiny_config().hidden_channels_enc
    rng = np.random.default_rng(0)
    projection = DVectorProjection.fit(rng.normal(size=(64, 256)), dim=width)
    projection.save(str(tmp_path / "d_vector_projection.json"))
    vectors = {"a": rng.normal(size=width), "b": rng.normal(size=width)}
    d_file = tmp_path / "d_vectors.json"
    d_file.write_text(json.dumps({f"{s}#{i}": {"name": s, "embedding": list(map(float, v))}
                                  for s, v in vectors.items() for i in range(2)}))  # fmt: skip
    model, ckpt, cfg = _coqui_model(tmp_path, GlowTTSBackbone, use_speaker_embedding=False, use_d_vector_file=True,
                                    d_vector_file=str(d_file), d_vector_dim=width)  # fmt: skip
    summary = convert(ckpt, cfg, str(tmp_path / "out"))
    assert summary["kind"] == "d_vectors" and summary["speakers"] == 2 and summary["voice_start"] == "d_vector"
    converted, config = _converted(str(tmp_path / "out"))
    assert config.maml.voice_start == "d_vector"
    assert DVectorProjection.from_dict(config.maml.d_vector_projection).dim == width
    assert not config.use_d_vector_file and config.use_speaker_embedding
    b = torch.tensor(vectors["b"], dtype=torch.float32).view(1, -1)
    with torch.no_grad():
        converted.emb_g.weight.copy_(b)
    original = _glow_outputs(model, {"speaker_ids": None, "d_vectors": b})
    slot = _glow_outputs(converted, {"speaker_ids": torch.tensor([0]), "d_vectors": None})
    for x, y in zip(original, slot):
        assert torch.allclose(x, y, atol=1e-6)


def test_speaker_table_vits_converts(tmp_path):
    _, ckpt, cfg = _coqui_model(tmp_path, VitsBackbone, speakers=["a", "b"])
    summary = convert(ckpt, cfg, str(tmp_path / "out"))
    assert summary["speakers"] == 2
    converted, config = _converted(str(tmp_path / "out"))
    assert converted.emb_g.weight.shape[0] == 1 and config.speakers == ["voice"]


def test_misfitting_tensors_are_all_named_and_nothing_is_written(tmp_path):
    _, ckpt, cfg = _coqui_model(tmp_path, GlowTTSBackbone, speakers=["a", "b"])
    state = torch.load(ckpt, weights_only=False)
    state["model"]["decoder.extra.weight"] = torch.zeros(2)
    state["model"]["encoder.emb.weight"] = torch.zeros(3, 3)
    torch.save(state, ckpt)
    with pytest.raises(ValueError) as e:
        convert(ckpt, cfg, str(tmp_path / "out"))
    assert "decoder.extra.weight" in str(e.value) and "encoder.emb.weight" in str(e.value)
    assert not os.path.exists(tmp_path / "out")


def test_single_speaker_models_and_mismatched_widths_are_refused_by_name(tmp_path):
    _, ckpt, cfg = _coqui_model(tmp_path, GlowTTSBackbone, use_speaker_embedding=False, speakers=[])
    with pytest.raises(ValueError, match="not a multi-speaker model"):
        convert(ckpt, cfg, str(tmp_path / "out"))
    d_file = tmp_path / "d.json"
    d_file.write_text(json.dumps({"a#0": {"name": "a", "embedding": [0.1] * 7}}))
    _, ckpt, cfg = _coqui_model(tmp_path, GlowTTSBackbone, use_speaker_embedding=False, use_d_vector_file=True,
                                d_vector_file=str(d_file), d_vector_dim=7)  # fmt: skip
    with pytest.raises(ValueError, match="hidden_channels_enc"):
        convert(ckpt, cfg, str(tmp_path / "out2"))


def test_the_pre_training_loss_terms_are_kept_for_the_task_loss_and_refused_for_vits(tmp_path):
    _, ckpt, cfg = _coqui_model(tmp_path, GlowTTSBackbone, speakers=["a", "b"])
    convert(ckpt, cfg, str(tmp_path / "out"), global_variance_weight=1.0, floor_noise=0.5)
    _, config = _converted(str(tmp_path / "out"))
    assert config.maml.global_variance_weight == 1.0 and config.maml.floor_noise == 0.5
    with pytest.raises(ValueError, match="maml.floor_noise must be >= 0"):
        convert(ckpt, cfg, str(tmp_path / "bad"), floor_noise=-1.0)
    _, ckpt, cfg = _coqui_model(tmp_path, VitsBackbone, speakers=["a", "b"])
    with pytest.raises(ValueError, match="floor_noise are Glow-TTS terms; this is a vits model"):
        convert(ckpt, cfg, str(tmp_path / "vits"), floor_noise=0.5)
    assert not os.path.exists(tmp_path / "vits" / "model.pth")
