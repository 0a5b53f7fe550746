"""Fast weights inside a model: synthesis runs the model's own inference, which takes no
parameter dict, so adapted tensors are copied in for a block and the originals restored after.

Example:
    >>> import torch
    >>> from tts_maml.adapt.fast_weights import weights_in
    >>> m = torch.nn.Linear(1, 1, bias=False)
    >>> with weights_in(m, {"weight": torch.ones(1, 1)}):
    ...     float(m(torch.ones(1, 1)))
    1.0
"""

import contextlib
from typing import Dict, Iterator

import torch


@contextlib.contextmanager
def weights_in(model: torch.nn.Module, tensors: Dict[str, torch.Tensor]) -> Iterator[None]:
    """Run the block with ``tensors`` copied into the model's parameters, restored afterwards
    (synthesis calls the model's own inference, which takes no parameter dict)."""
    params = dict(model.named_parameters())
    saved = {n: params[n].detach().clone() for n in tensors}
    with torch.no_grad():
        for n, t in tensors.items():
            params[n].copy_(t)
    try:
        yield
    finally:
        with torch.no_grad():
            for n, t in saved.items():
                params[n].copy_(t)

