"""tts_maml.shipped: the registry of shipped models, and the shipped models themselves."""

import json
import os
import subprocess
import sys

import pytest

from tts_maml.shipped import MODEL_FILES, shipped_model, shipped_models


def test_registry_lists_complete_folders_only(tmp_path):
    for name, files in (("b_model", MODEL_FILES), ("a_model", MODEL_FILES), ("incomplete", MODEL_FILES[:1])):
        os.makedirs(tmp_path / name)
        for f in files:
            (tmp_path / name / f).write_bytes(b"x")
    assert [m.name for m in shipped_models(str(tmp_path))] == ["a_model", "b_model"]
    assert shipped_model("b_model", str(tmp_path)).size_bytes == 1
    with pytest.raises(ValueError, match="shipped: a_model, b_model"):
        shipped_model("incomplete", str(tmp_path))


def test_models_command_prints_json():
    out = subprocess.run([sys.executable, "-m", "tts_maml.cli", "models", "--json"], capture_output=True, text=True, check=True)
    listed = json.loads(out.stdout)
    assert [m["name"] for m in listed] == [m.name for m in shipped_models()]


@pytest.mark.parametrize("model", shipped_models(), ids=lambda m: m.name)
def test_each_shipped_model_is_small_documented_and_loads_for_adaptation(model):
    from tts_maml.adapt.adaptation import load_for_adaptation

    assert model.size_bytes <= 30 * 2**20
    with open(model.card, encoding="utf-8") as f:
        card = f.read()
    assert model.sha256 in card
    loaded = load_for_adaptation(model.checkpoint, model.config)
    assert loaded.config.speakers == ["voice"] and loaded.adapted
