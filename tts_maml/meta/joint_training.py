"""Joint training: the ordinary, non-meta step that meta-learning is compared with.

Multi-task ("joint") training takes one optimiser step on the mean task loss of the tasks'
clips, support and query together, with no inner loop: what pre-training does, and the control of
a meta-step's value (``tests/training/test_trainer_model.py``: meta-training must grow the
adaptation gain beyond it) and of its cost (``benchmarks/meta_step_cost.py``).

Example:
    >>> import torch
    >>> from tts_maml.meta.joint_training import joint_step
    >>> model = torch.nn.Linear(1, 1, bias=False)
    >>> loss = lambda params, x: ((torch.func.functional_call(model, params, (x,)) - 2 * x) ** 2).mean()
    >>> optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    >>> for _ in range(100):
    ...     _ = joint_step(model, loss, [torch.ones(4, 1), 2 * torch.ones(4, 1)], optimizer, grad_clip=0)
    >>> round(float(model.weight.detach()), 2)
    2.0
"""

from typing import Any, Callable, Dict, Optional, Sequence

import torch
from torch import Tensor, nn


def joint_step(
    model: nn.Module,
    task_loss: Callable[[Dict[str, Tensor], Any], Tensor],
    batches: Sequence[Any],
    optimizer: torch.optim.Optimizer,
    grad_clip: float = 5.0,
    parameters: Optional[Sequence[nn.Parameter]] = None,
) -> float:
    """One ordinary training step on the mean task loss of ``batches``; returns that loss.

    Args:
        model: the model (its live parameters are used).
        task_loss: ``loss(params, batch)``, the same loss the meta-learner uses.
        batches: one batch per task (support and query clips together).
        optimizer: updates ``parameters``.
        grad_clip: global gradient-norm clip (0: off).
        parameters: the trained parameters (default: every parameter of ``model``); only their
            gradients are computed.
    """
    params = dict(model.named_parameters())
    trained = list(parameters) if parameters is not None else list(model.parameters())
    optimizer.zero_grad(set_to_none=True)
    total = 0.0
    for batch in batches:
        loss = task_loss({**params, **dict(model.named_buffers())}, batch) / len(batches)
        # Gradients of the trained parameters only: the others' .grad stays untouched (None).
        for p, g in zip(trained, torch.autograd.grad(loss, trained, allow_unused=True)):
            if g is not None:
                p.grad = g if p.grad is None else p.grad + g
        total += float(loss.detach())
    if grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(trained, grad_clip)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return total
