import dataclasses
import json
import re

import pytest

from tts_maml.config import CONFIG_CLASSES, MamlConfig, MamlGlowTTSConfig, MamlVitsConfig, load_config


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
        ("global_variance_weight", -0.5, "maml.global_variance_weight"),
        ("floor_noise", -0.1, "maml.floor_noise"),
        ("meta_learned", "decoder", "maml.meta_learned"),
        ("inner_lr_meta_lr", 0.0, "maml.inner_lr_meta_lr"),
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


def test_every_maml_field_has_flag_help():
    for f in dataclasses.fields(MamlConfig):
        assert f.metadata.get("help"), f.name
    parser = MamlVitsConfig.init_argparse(instance=MamlVitsConfig(), arg_prefix="coqpit", relaxed_parser=True)
    helps = {a.dest: a.help for a in parser._actions}
    assert "inner-loop SGD learning rate" in helps["coqpit.maml.inner_lr"]
    flags = [f for f in dataclasses.fields(MamlConfig) if f"coqpit.maml.{f.name}" in helps]
    assert len(flags) >= len(dataclasses.fields(MamlConfig)) - 1  # coqpit gives dict fields no flag
    for f in flags:
        assert helps[f"coqpit.maml.{f.name}"].split(" - ", 1)[1] == f.metadata["help"], f.name


@pytest.mark.parametrize("config_class", [MamlVitsConfig, MamlGlowTTSConfig])
def test_invalid_maml_is_refused_without_a_manual_check(config_class, tmp_path):
    section = MamlConfig()
    section.inner_steps = 0
    with pytest.raises(ValueError, match="maml.inner_steps"):  # on construction
        config_class(maml=section)
    config = config_class()
    with pytest.raises(ValueError, match="maml.algorithm"):  # on command-line overrides
        config.parse_known_args(["--coqpit.maml.algorithm", "sgd"], relaxed_parser=True)
    data = config_class().to_dict()
    data["maml"]["n_query"] = 0
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))}: maml.n_query"):  # on loading
        load_config(str(path))


def test_defaults_describe_a_one_voice_slot_model():
    vits, glow = MamlVitsConfig(), MamlGlowTTSConfig()
    assert vits.speakers == glow.speakers == ["voice"]
    assert vits.use_speaker_embedding and vits.model_args.use_speaker_embedding and glow.use_speaker_embedding
    assert glow.data_dep_init_steps == 0
    assert CONFIG_CLASSES == {"vits": MamlVitsConfig, "glow_tts": MamlGlowTTSConfig}
