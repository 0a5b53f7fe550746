"""The ordinary-training baseline: the same model trained jointly on the same clips, no inner loop.

This is the comparison the MAML-for-TTS literature makes: the same architecture trained on the same
speakers the ordinary way (every clip of a meta-batch's tasks in one loss, one gradient step), for
the same number of steps, then adapted to a new voice exactly like the meta-learned model.

Example:
    >>> import torch
    >>> from tts_maml.baseline import joint_step
    >>> model = torch.nn.Linear(1, 1)
    >>> loss = lambda params, batch: ((torch.func.functional_call(model, params, (batch,)) - 1) ** 2).mean()
    >>> joint_step(model, loss, [torch.ones(2, 1)], torch.optim.SGD(model.parameters(), lr=0.1)) >= 0
    True
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
        parameters: the trained parameters (default: every parameter of ``model``).
    """
    params = dict(model.named_parameters())
    trained = list(parameters) if parameters is not None else list(model.parameters())
    optimizer.zero_grad(set_to_none=True)
    total = 0.0
    for batch in batches:
        loss = task_loss({**params, **dict(model.named_buffers())}, batch) / len(batches)
        loss.backward()
        total += float(loss.detach())
    if grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(trained, grad_clip)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return total
