import os

import pytest
import torch

from tts_maml.adapt.voice_delta import Voice, apply_voice, check_voice_fits, load_voice, merge
from tts_maml.checkpoint import MamlEntry
from tts_maml.files import atomic_save, sha256_file


def base_checkpoint():
    entry = MamlEntry(backbone="vits", algorithm="maml", adapted=["a"], meta_steps_done=7, epoch_finished=True)
    return {"config": {"model": "vits", "speakers": ["voice"]}, "model": {"a": torch.zeros(2), "b": torch.ones(3)},
            "optimizer": [{"state": 1}], "step": 7, "epoch": 1, "maml": entry.to_dict()}  # fmt: skip


def make_voice(base_path, tensors=None):
    return Voice("new", tensors or {"a": torch.tensor([1.0, 2.0])}, sha256_file(base_path), "vits", {"steps": 3})


def test_apply_voice_gives_a_plain_checkpoint(tmp_path):
    base = tmp_path / "base.pth"
    atomic_save(base_checkpoint(), str(base))
    adapted = apply_voice(base_checkpoint(), make_voice(str(base)))
    assert torch.equal(adapted["model"]["a"], torch.tensor([1.0, 2.0])) and torch.equal(adapted["model"]["b"], torch.ones(3))
    assert adapted["config"]["speakers"] == ["new"] and "optimizer" not in adapted
    assert adapted["maml"]["voice"]["base_sha256"] == sha256_file(str(base))
    entry = MamlEntry.from_checkpoint(adapted)
    assert entry.voice["name"] == "new" and entry.base == {"backbone": "vits", "algorithm": "maml", "adapted": ["a"],
                                                           "inner_lrs": None}  # fmt: skip
    assert "sampler" not in adapted["maml"]  # the base's training state stays behind


def test_a_base_with_an_unreadable_entry_is_refused_by_name():
    broken = {**base_checkpoint(), "maml": {**base_checkpoint()["maml"], "format": 9}}
    with pytest.raises(ValueError, match="base.pth: maml.format"):
        apply_voice(broken, Voice("new", {"a": torch.zeros(2)}, "0" * 64, "vits"), "base.pth")


def test_merge_round_trip_and_refusals(tmp_path):
    base = tmp_path / "base.pth"
    atomic_save(base_checkpoint(), str(base))
    delta = tmp_path / "voice.pth"
    atomic_save(make_voice(str(base)).to_state(), str(delta))
    out = tmp_path / "merged.pth"
    merge(str(base), str(delta), str(out))
    merged = torch.load(out, weights_only=False)
    assert torch.equal(merged["model"]["a"], torch.tensor([1.0, 2.0]))
    with pytest.raises(FileExistsError, match="--overwrite"):
        merge(str(base), str(delta), str(out))
    other = tmp_path / "other.pth"
    atomic_save({**base_checkpoint(), "step": 8}, str(other))
    with pytest.raises(ValueError, match="sha256"):
        merge(str(other), str(delta), str(tmp_path / "x.pth"))
    assert not (tmp_path / "x.pth").exists()


@pytest.mark.parametrize(
    "tensors, message",
    [({"zz": torch.zeros(2)}, "'zz' is not in the base"), ({"a": torch.zeros(3)}, r"'a' has shape \(3,\)"),
     ({"a": torch.zeros(2, dtype=torch.float64)}, "'a' is torch.float64")],
)  # fmt: skip
def test_voice_must_fit_the_base(tensors, message, tmp_path):
    base = tmp_path / "base.pth"
    atomic_save(base_checkpoint(), str(base))
    with pytest.raises(ValueError, match=message):
        check_voice_fits(make_voice(str(base), tensors), base_checkpoint()["model"])


def test_load_voice_refuses_other_files(tmp_path):
    path = tmp_path / "x.pth"
    torch.save({"model": {}}, path)
    with pytest.raises(ValueError, match="not a tts_maml voice"):
        load_voice(str(path))
    (tmp_path / "junk.pth").write_bytes(b"junk")
    with pytest.raises(ValueError, match="not a readable voice"):
        load_voice(str(tmp_path / "junk.pth"))


def test_atomic_save_leaves_no_temporary_file(tmp_path):
    atomic_save({"x": 1}, str(tmp_path / "f.pth"))
    assert os.listdir(tmp_path) == ["f.pth"]
