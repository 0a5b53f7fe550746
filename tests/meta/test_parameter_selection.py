import pytest
import torch
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from tts_maml.meta.parameter_selection import (
    AdapterPreset,
    count_parameters,
    plain_name,
    resolve_adapter,
    select_parameters,
)


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb_g = nn.Embedding(1, 4)
        self.encoder = nn.ModuleDict({"proj": nn.Linear(4, 4), "norm": nn.LayerNorm(4)})
        self.decoder = nn.Sequential(weight_norm(nn.Conv1d(4, 4, 3)), nn.Conv1d(4, 4, 1))
        self.disc = nn.Linear(4, 1)


ALL = [n for n, _ in Tiny().named_parameters()]

CASES = [
    # (target_modules, exclude_modules, expected)
    (["emb_g.weight"], None, ["emb_g.weight"]),
    (["emb_g"], None, ["emb_g.weight"]),
    (["proj.bias"], None, ["encoder.proj.bias"]),
    (["norm"], None, ["encoder.norm.weight", "encoder.norm.bias"]),
    (["encoder"], ["norm"], ["encoder.proj.weight", "encoder.proj.bias"]),
    (["decoder.0"], None, ["decoder.0.bias", "decoder.0.parametrizations.weight.original0",
                           "decoder.0.parametrizations.weight.original1"]),
    (["decoder.0.weight"], None, ["decoder.0.parametrizations.weight.original0",
                                  "decoder.0.parametrizations.weight.original1"]),
    (["original0"], None, ["decoder.0.parametrizations.weight.original0"]),
    (r"encoder\..*\.bias", None, ["encoder.proj.bias", "encoder.norm.bias"]),
    (r"decoder\.\d", None, [n for n in ALL if n.startswith("decoder.")]),
    (r".*", r"disc", [n for n in ALL if not n.startswith("disc.")]),
    (r".*", ["encoder", "decoder"], ["emb_g.weight", "disc.weight", "disc.bias"]),
]


@pytest.mark.parametrize("target, exclude, expected", CASES, ids=[str(c[0]) + "-" + str(c[1]) for c in CASES])
def test_selection_table(target, exclude, expected):
    assert sorted(select_parameters(Tiny(), target, exclude)) == sorted(expected)


def test_order_follows_named_parameters():
    names = select_parameters(Tiny(), ["disc", "emb_g"])
    assert names == ["emb_g.weight", "disc.weight", "disc.bias"]


def test_never_wins_over_everything():
    names = select_parameters(Tiny(), r".*", never=["disc"])
    assert not any(n.startswith("disc.") for n in names) and "emb_g.weight" in names


NO_MATCH = [
    (["emb_gg"], None, "target_modules 'emb_gg'.*emb_g"),
    (["encoder", "nope"], None, "target_modules 'nope'"),
    (r"enc\.x", None, r"target_modules 'enc\\\\.x'"),
    (["encoder"], ["prj"], "exclude_modules 'prj'.*proj"),
    (["proj"], ["proj"], "leaves no parameter"),
    ([], None, "target_modules is empty"),
    (None, None, "target_modules is empty"),
]


@pytest.mark.parametrize("target, exclude, message", NO_MATCH)
def test_no_match_raises_with_closest_names(target, exclude, message):
    with pytest.raises(ValueError, match=message):
        select_parameters(Tiny(), target, exclude)


def test_weight_norm_names_are_the_real_parameters():
    model = Tiny()
    names = select_parameters(model, ["decoder.0.weight"])
    params = dict(model.named_parameters())
    assert all(params[n].requires_grad for n in names)
    assert plain_name("decoder.0.parametrizations.weight.original1") == "decoder.0.weight"
    assert plain_name("a.b.weight") == "a.b.weight"


PRESETS = {
    "conditioning": AdapterPreset("conditioning", ["emb_g"], description="speaker embedding"),
    "generator": AdapterPreset("generator", r".*", exclude_modules=["norm"], description="everything"),
}


def test_resolve_preset_and_overrides():
    model = Tiny()
    assert resolve_adapter(model, PRESETS, "conditioning") == ["emb_g.weight"]
    gen = resolve_adapter(model, PRESETS, "generator", never=["disc"])
    assert "encoder.norm.weight" not in gen and "disc.weight" not in gen and "encoder.proj.weight" in gen
    # target_modules overrides the preset; exclude_modules applies to either
    assert resolve_adapter(model, PRESETS, "conditioning", target_modules=["proj"]) == [
        "encoder.proj.weight", "encoder.proj.bias"]  # fmt: skip
    assert resolve_adapter(model, PRESETS, "generator", exclude_modules=["decoder"], never=["disc"]) == [
        "emb_g.weight", "encoder.proj.weight", "encoder.proj.bias"]  # fmt: skip
    with pytest.raises(ValueError, match="not one of: conditioning, generator"):
        resolve_adapter(model, PRESETS, "flow")
    with pytest.raises(ValueError, match="removes every parameter"):
        resolve_adapter(model, PRESETS, "conditioning", exclude_modules=["emb_g"])


def test_count_parameters():
    model = Tiny()
    assert count_parameters(model, ["emb_g.weight", "disc.bias"]) == 4 + 1
    assert count_parameters(model, [n for n, _ in model.named_parameters()]) == sum(
        p.numel() for p in model.parameters())  # fmt: skip
    assert torch.is_tensor(dict(model.named_parameters())["emb_g.weight"])
