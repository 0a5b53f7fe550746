"""The inner loop: k functional gradient steps on the support loss over the adapted tensors.

Nothing is copied or mutated: the loop maps a ``{name: tensor}`` dict of initial weights to a dict
of fast weights, as in the torch.func MAML example, and the caller's ``support_loss(fast)`` runs the
model with ``torch.func.functional_call(model, {**params, **fast, **buffers}, ...)``. Gradients come
from ``torch.autograd.grad(..., create_graph=not first_order)`` (not ``torch.func.grad``: Coqui's
monotonic alignment search leaves autograd, and clips differ in length).

Example:
    >>> import torch
    >>> from tts_maml.meta.inner_loop import inner_loop
    >>> w = torch.tensor([1.0], requires_grad=True)
    >>> result = inner_loop(lambda fast: (fast["w"] - 3.0).pow(2).sum(), {"w": w}, steps=1, lr=0.25)
    >>> result.fast["w"].item()   # 1 - 0.25 * 2 * (1 - 3)
    2.0
"""

from dataclasses import dataclass, field
from typing import Callable, Dict, List, Mapping, Optional, Union

import torch
from torch import Tensor

# A float for every tensor and step, or per tensor a [steps] tensor of learned rates (Meta-SGD).
LearningRates = Union[float, Mapping[str, Tensor]]


class NonFiniteError(RuntimeError):
    """A loss or gradient inside the inner loop is NaN or infinite."""

    def __init__(self, what: str, step: int, name: Optional[str] = None) -> None:
        where = f" of {name}" if name else ""
        super().__init__(f"non-finite {what}{where} at inner step {step}")
        self.what = what
        self.step = step
        self.name = name


@dataclass
class InnerLoopResult:
    """What the inner loop returns.

    Args:
        fast: the adapted tensors after the last step, keyed like ``named_parameters()``.
        support_losses: the support loss before each step (``steps`` values).
        grad_norms: the global gradient norm at each step (before clipping).
    """

    fast: Dict[str, Tensor]
    support_losses: List[float] = field(default_factory=list)
    grad_norms: List[float] = field(default_factory=list)


def _step_lr(lr: LearningRates, name: str, step: int) -> Union[float, Tensor]:
    if isinstance(lr, (int, float)):
        return float(lr)
    return lr[name][step]


def inner_loop(
    support_loss: Callable[[Dict[str, Tensor]], Tensor],
    init: Mapping[str, Tensor],
    steps: int,
    lr: LearningRates,
    first_order: bool = False,
    grad_clip: float = 0.0,
    on_step: Optional[Callable[[int, Dict[str, Tensor]], None]] = None,
) -> InnerLoopResult:
    """Take ``steps`` SGD steps on ``support_loss`` from ``init``; return the fast weights.

    Args:
        support_loss: maps fast weights ``{name: tensor}`` to the scalar support loss.
        init: the initial adapted tensors. Pass the live parameters to differentiate the result
            with respect to them (MAML), or detached tensors that require grad to adapt only.
        steps: number of inner steps (0 returns ``init`` unchanged).
        lr: one learning rate, or per tensor a ``[steps]`` tensor of rates (learnable, Meta-SGD).
        first_order: if True, gradients are constants (no graph through them: FOMAML); if False,
            the result is differentiable through every step (second-order MAML).
        grad_clip: clip each step's gradient to this global L2 norm (0: off); differentiable.
        on_step: called as ``on_step(step, fast)`` after each update (``step`` counts from 1),
            e.g. to score a validation set for early stopping.

    Raises:
        NonFiniteError: a support loss or a gradient is NaN or infinite.
    """
    fast = dict(init)
    names = list(fast)
    result = InnerLoopResult(fast=fast)
    for step in range(steps):
        loss = support_loss(fast)
        if not torch.isfinite(loss):
            raise NonFiniteError("support loss", step)
        grads = torch.autograd.grad(
            loss, [fast[n] for n in names], create_graph=not first_order, allow_unused=True
        )
        grads = [torch.zeros_like(fast[n]) if g is None else g for n, g in zip(names, grads)]
        norm = torch.sqrt(sum((g.detach().double() ** 2).sum() for g in grads))
        if not torch.isfinite(norm):
            bad = next(n for n, g in zip(names, grads) if not torch.isfinite(g).all())
            raise NonFiniteError("gradient", step, bad)
        if grad_clip > 0:
            # Differentiable clipping: the scale is a function of the gradients, as in clip_grad_norm_.
            total = torch.sqrt(sum((g**2).sum() for g in grads))
            scale = torch.clamp(grad_clip / (total + 1e-6), max=1.0)
            grads = [g * scale for g in grads]
        fast = {n: fast[n] - _step_lr(lr, n, step) * g for n, g in zip(names, grads)}
        result.support_losses.append(float(loss.detach()))
        result.grad_norms.append(float(norm))
        if on_step is not None:
            on_step(step + 1, fast)
    result.fast = fast
    return result


def detached(tensors: Mapping[str, Tensor]) -> Dict[str, Tensor]:
    """Copies that share no graph with ``tensors`` but require grad: the start of an adaptation
    that must not reach the meta-parameters (Reptile, evaluation, few-shot adaptation)."""
    return {n: t.detach().clone().requires_grad_(True) for n, t in tensors.items()}

