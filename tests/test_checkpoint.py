"""tts_maml.checkpoint: the one versioned "maml" entry, read back from every shape on disk."""

import os

import pytest
import torch

from tts_maml.checkpoint import CHECKPOINT_KEY, ENTRY_VERSION, MamlEntry, load_checkpoint

SHIPPED = os.path.join(os.path.dirname(__file__), "..", "tts_maml", "models", "glow_tts_dvector_meta", "model.pth")

# The entry MamlTrainer wrote before the version moved into MamlEntry (format 2), field for field.
FORMAT_2 = {
    "format": 2, "backbone": "vits", "algorithm": "metasgd", "adapted": ["emb_g.weight"],
    "inner_lrs": {"emb_g.weight": torch.full((2,), 0.01)}, "sampler": {"seed": 0}, "skipped_tasks_total": 1,
    "skipped_steps_total": 0, "meta_steps_done": 4, "epoch_finished": False,
    "train_averages": {"avg_values": {"avg_loss": 1.0}, "iters": {"avg_loss": 2}},
}  # fmt: skip


def test_round_trip_of_both_kinds():
    training = MamlEntry(backbone="glow_tts", algorithm="maml", adapted=["a"], meta_steps_done=3, epoch_finished=True)
    assert MamlEntry.from_checkpoint({"model": {}, CHECKPOINT_KEY: training.to_dict()}) == training
    adapted = MamlEntry(voice={"name": "x"}, base=training.base_record())
    assert adapted.to_dict() == {"format": ENTRY_VERSION, "voice": {"name": "x"}, "base": training.base_record()}
    assert MamlEntry.from_dict(adapted.to_dict()) == adapted
    assert MamlEntry.from_checkpoint({"model": {}}) is None  # a plain Coqui checkpoint


def test_the_trainers_format_2_entry_is_written_back_unchanged():
    entry = MamlEntry.from_dict(FORMAT_2)
    assert entry.version == 2 and entry.meta_steps_done == 4 and entry.epoch_finished is False
    assert list(entry.to_dict()) == list(FORMAT_2) and entry.to_dict() == FORMAT_2


def test_old_shapes_load():
    # version 1: no epoch_finished / train_averages, and before the counter existed no meta_steps_done
    v1 = {k: v for k, v in FORMAT_2.items() if k not in ("epoch_finished", "train_averages", "meta_steps_done")}
    entry = MamlEntry.from_dict({**v1, "format": 1})
    assert entry.version == 1 and entry.epoch_finished is None and entry.meta_steps_done == 0
    # adapted checkpoints before versioning: no "format", read as the current version
    entry = MamlEntry.from_dict({"voice": {"name": "x"}, "base": {}})
    assert entry.version == ENTRY_VERSION and entry.voice == {"name": "x"} and entry.base_record() == {}


def test_the_shipped_model_loads():
    entry = MamlEntry.from_checkpoint(load_checkpoint(SHIPPED), SHIPPED)
    assert entry.version == 2 and entry.backbone == "glow_tts" and entry.adapted and entry.epoch_finished


@pytest.mark.parametrize(
    "entry, message",
    [
        ({**FORMAT_2, "format": 3}, r"maml\.format .* is 3"),
        ({**FORMAT_2, "format": "2"}, r"maml\.format .* is '2'"),
        ({k: v for k, v in FORMAT_2.items() if k != "adapted"}, "no field 'adapted'"),
        ({k: v for k, v in FORMAT_2.items() if k != "train_averages"}, "no field 'train_averages'"),
        ({**{k: v for k, v in FORMAT_2.items() if k != "sampler"}, "sampler_state": {}}, "no field 'sampler'"),
        ({**FORMAT_2, "steps_done": 4}, "unknown field 'steps_done'"),
        ({"voice": {}}, "no field 'base'"),
        ({"voice": {}, "base": {}, "adapted": []}, "unknown field 'adapted'"),
        ([1, 2], "not a dict"),
    ],
)
def test_unknown_versions_and_fields_are_refused_by_name(entry, message):
    with pytest.raises(ValueError, match=message) as error:
        MamlEntry.from_checkpoint({"model": {}, CHECKPOINT_KEY: entry}, "run/checkpoint_4.pth")
    assert str(error.value).startswith("run/checkpoint_4.pth: ")
