from types import SimpleNamespace

import pytest
import torch

from tts_maml.config import MamlConfig
from tts_maml.adapt.fine_tuning import fine_tune
from tts_maml.meta.inner_loop import NonFiniteError
from tts_maml.meta.learner import MetaLearner


def _loaded(start=None, grad_clip=0.0):
    """A linear model whose loss is minimal at weight 2, bias 0, wrapped like a LoadedModel."""
    torch.manual_seed(0)
    model = torch.nn.Linear(1, 1)

    def loss(params, batch):
        x = batch["x"]
        return ((torch.func.functional_call(model, params, (x,)) - 2 * x) ** 2).mean()

    learner = MetaLearner(model, MamlConfig(), ["weight", "bias"], loss)
    return SimpleNamespace(model=model, learner=learner, backbone=SimpleNamespace(task_loss=lambda m: loss),
                           config=SimpleNamespace(grad_clip=grad_clip))  # fmt: skip


def test_fine_tune_fits_the_clips_without_touching_the_model():
    loaded = _loaded()
    before = {n: p.detach().clone() for n, p in loaded.model.named_parameters()}
    seen = []
    fast = fine_tune(loaded, {"x": torch.linspace(-1, 1, 8)[:, None]}, steps=400, lr=0.05,
                     on_step=lambda step, f: seen.append(step))  # fmt: skip
    assert float(fast["weight"]) == pytest.approx(2.0, abs=1e-2) and float(fast["bias"]) == pytest.approx(0.0, abs=1e-2)
    assert seen == list(range(1, 401))
    for n, p in loaded.model.named_parameters():
        assert torch.equal(p, before[n])


def test_fine_tune_starts_where_adapt_starts():
    """A support batch that carries its own voice start (maml.voice_start = d_vector) starts there."""
    loaded = _loaded()
    batch = {"x": torch.ones(4, 1), "voice_start": {"weight": torch.full((1, 1), 7.0)}}
    first = []
    fine_tune(loaded, batch, steps=1, lr=1e-3, on_step=lambda step, f: first.append(float(f["weight"])))
    assert first[0] == pytest.approx(7.0, abs=2e-3)


def test_fine_tune_raises_on_divergence():
    loaded = _loaded()
    with pytest.raises(NonFiniteError):
        fine_tune(loaded, {"x": torch.full((4, 1), float("nan"))}, steps=3, lr=0.1)
