import dataclasses
import json
import re

import pytest

from tts_maml.config import MamlConfig, MamlGlowTTSConfig, MamlVitsConfig


def test_backbone_configs_keep_coqui_model_names():
    assert MamlVitsConfig().model == "vits"
    assert MamlGlowTTSConfig().model == "glow_tts"
    assert isinstance(MamlVitsConfig().maml, MamlConfig)


def test_command_line_overrides_in_coqui_style():
    # Coqui's Trainer applies `--coqpit.*` overrides with relaxed_parser=True (trainer.py).
    config = MamlVitsConfig()
    config.parse_known_args(["--coqpit.maml.inner_lr", "0.05", "--coqpit.maml.algorithm", "fomaml",
                             "--coqpit.maml.inner_steps", "7", "--coqpit.maml.target_modules", "emb_g"],
                            relaxed_parser=True)  # fmt: skip
    assert (config.maml.inner_lr, config.maml.algorithm, config.maml.inner_steps) == (0.05, "fomaml", 7)
    assert config.maml.target_modules == ["emb_g"]


def test_json_round_trip(tmp_path):
    config = MamlGlowTTSConfig()
    config.maml.target_modules = r"decoder\..*"
    config.maml.held_out_task_names = ["VCTK_sp001"]
    path = tmp_path / "config.json"
    config.save_json(str(path))
    loaded = MamlGlowTTSConfig()
    loaded.load_json(str(path))
    assert loaded.maml == config.maml
    assert json.loads(path.read_text())["model"] == "glow_tts"


def test_every_field_is_documented():
    doc = MamlConfig.__doc__
    for f in dataclasses.fields(MamlConfig):
        assert re.search(rf"^\s+{f.name}:", doc, re.M), f.name


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("algorithm", "sgd", "maml.algorithm"),
        ("inner_steps", 0, "maml.inner_steps"),
        ("n_query", 0, "maml.n_query"),
        ("inner_lr", 0.0, "maml.inner_lr"),
        ("outer_grad_clip", -1.0, "maml.outer_grad_clip"),
        ("eval_inner_steps", -2, "maml.eval_inner_steps"),
    ],
)
def test_invalid_values_name_the_field(field, value, message):
    with pytest.raises(ValueError, match=message):  # coqpit runs check_values() on construction
        MamlConfig(**{field: value})
    config = MamlConfig()
    setattr(config, field, value)
    with pytest.raises(ValueError, match=message):
        config.check_values()


def test_second_order_flag():
    assert MamlConfig(algorithm="maml").second_order and MamlConfig(algorithm="metasgd").second_order
    assert not MamlConfig(algorithm="fomaml").second_order and not MamlConfig(algorithm="reptile").second_order
