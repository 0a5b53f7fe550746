"""Fine-tuning with Adam: the adapted tensors of a loaded model, fitted to a voice's clips.

The meta-learned inner loop (plain gradient steps at the inner rate, :mod:`tts_maml.meta.learner`)
is what ``tts-maml adapt`` runs by default. :func:`fine_tune` is the other way, what a Coqui user
would do: Adam, gradients clipped at the config's ``grad_clip`` as Coqui's Trainer clips them, over
the same tensors and the same task loss, from the same start (``MetaLearner.start_weights``: with
``maml.voice_start = "d_vector"`` the voice slot starts from the support clips' d-vector).
``tts-maml adapt --optimizer adam`` adapts with it (Adam copes with many tensors at one rate, as
``--adapter-preset generator`` needs), and ``tts-maml evaluate``'s fine-tuning baseline is it.

Example:
    >>> import torch
    >>> from types import SimpleNamespace
    >>> from tts_maml.adapt.fine_tuning import fine_tune
    >>> from tts_maml.config import MamlConfig
    >>> from tts_maml.meta.learner import MetaLearner
    >>> model = torch.nn.Linear(1, 1, bias=False)
    >>> loss = lambda params, x: ((torch.func.functional_call(model, params, (x,)) - 2 * x) ** 2).mean()
    >>> loaded = SimpleNamespace(model=model, learner=MetaLearner(model, MamlConfig(), ["weight"], loss),
    ...                          backbone=SimpleNamespace(task_loss=lambda m: loss), config=SimpleNamespace(grad_clip=0))
    >>> fast = fine_tune(loaded, torch.ones(4, 1), steps=300, lr=0.05)
    >>> round(float(fast["weight"]), 2)
    2.0
"""

import math
from typing import Any, Callable, Dict, Optional

import torch
from torch import Tensor

from tts_maml.meta.inner_loop import NonFiniteError


def fine_tune(
    loaded: Any,
    support: Any,
    steps: int,
    lr: float,
    on_step: Optional[Callable[[int, Dict[str, Tensor]], None]] = None,
) -> Dict[str, Tensor]:
    """Fine-tune the adapted tensors of ``loaded`` (a :class:`tts_maml.adapt.adaptation.LoadedModel`) on
    the ``support`` batch for ``steps`` Adam steps at ``lr``; returns the fast weights (detached).

    The model's parameters are not changed (the tensors are fine-tuned as a ``{name: tensor}``
    dict through ``functional_call``, as in adaptation). ``on_step(step, fast)`` is called after
    each update. Raises :class:`tts_maml.meta.inner_loop.NonFiniteError` on a non-finite loss or gradient.
    """
    model = loaded.model
    base = {**{n: p.detach() for n, p in model.named_parameters()}, **dict(model.named_buffers())}
    fast = loaded.learner.start_weights(support)  # detached leaves that require grad
    optimizer = torch.optim.Adam(list(fast.values()), lr=lr)
    loss_fn = loaded.backbone.task_loss(model)
    clip = getattr(loaded.config, "grad_clip", 0) or 0
    clip = float(max(clip) if isinstance(clip, (list, tuple)) else clip)  # VITS: [discriminator, generator]
    for step in range(1, steps + 1):
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn({**base, **fast}, support)
        if not torch.isfinite(loss):
            raise NonFiniteError("fine-tuning loss", step)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(list(fast.values()), clip if clip > 0 else math.inf)
        if not torch.isfinite(norm):
            raise NonFiniteError("fine-tuning gradient", step)
        optimizer.step()
        if on_step is not None:
            on_step(step, {n: t.detach() for n, t in fast.items()})
    return {n: t.detach() for n, t in fast.items()}
