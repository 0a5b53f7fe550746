"""A tiny regression meta-learning problem in float64, for exact checks of the meta-gradients.

Each task is a 1-D function y = a * sin(x + b); the model is a 2-layer tanh MLP whose last layer is
the adapter set, so the second-order path reaches the first layer only through the inner loop.
"""

import torch
from torch.func import functional_call

from tts_maml.meta.learner import TaskBatch


def make_model(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(1, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    return model.double()


ADAPTED = ["2.weight", "2.bias"]
BASE = ["0.weight", "0.bias"]


def make_loss(model):
    def loss(params, batch):
        x, y = batch
        return ((functional_call(model, params, (x,)) - y) ** 2).mean()

    return loss


def task_samples(n_tasks: int = 6, clips: int = 12, seed: int = 0):
    """Sample dicts as EpisodeSampler takes them: one 'clip' is one (x, y) point."""
    g = torch.Generator().manual_seed(seed)
    samples = []
    for t in range(n_tasks):
        a = 0.5 + torch.rand(1, generator=g, dtype=torch.float64).item()
        b = torch.rand(1, generator=g, dtype=torch.float64).item() * 3
        for i in range(clips):
            x = (torch.rand(1, generator=g, dtype=torch.float64) * 6 - 3).item()
            samples.append({"speaker_name": f"task{t}", "audio_file": f"task{t}_{i:02d}", "x": x, "y": a * torch.sin(torch.tensor(x + b)).item()})
    return samples


def to_batch(clips):
    x = torch.tensor([[c["x"]] for c in clips], dtype=torch.float64)
    y = torch.tensor([[c["y"]] for c in clips], dtype=torch.float64)
    return x, y


def to_task(episode) -> TaskBatch:
    return TaskBatch(episode.task, to_batch(episode.support), to_batch(episode.query))
