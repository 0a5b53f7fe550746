"""Meta-gradients across torch.distributed ranks.

The tasks of a meta-batch are split over ranks (:meth:`tts_maml.episodes.EpisodeSampler.sample`);
each rank sums its tasks' meta-gradients, and one all-reduce of ``[sum of gradients..., task count]``
gives every rank the mean over all tasks of all ranks: the same meta-gradient one process would
compute on the whole meta-batch. Works with gloo (CPU) and nccl (GPU), under ``torchrun`` or Coqui's
``python -m trainer.distribute``.

We do this ourselves rather than through DDP: coqui-tts-trainer wraps the model in DDP but calls
``train_step`` on ``ddp_model.module``, so DDP's gradient hooks never fire for it, and a meta-step
runs several backward passes per task anyway.
"""

from typing import List, Optional, Sequence, Tuple

import torch
import torch.distributed as dist
from torch import Tensor


def is_distributed() -> bool:
    """Whether a torch.distributed process group with more than one rank is running."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank_and_world_size() -> Tuple[int, int]:
    """``(rank, world_size)``; ``(0, 1)`` outside a process group."""
    if is_distributed():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def all_reduce_sum(grads: Sequence[Optional[Tensor]], like: Sequence[Tensor], count: float) -> Tuple[List[Tensor], float]:
    """Sum gradients (``None`` counts as zeros shaped like ``like``) and a task count over ranks.

    Returns the summed gradients and the summed count; without a process group, the inputs (with
    zeros for ``None``).
    """
    dense = [torch.zeros_like(p) if g is None else g for g, p in zip(grads, like)]
    if not is_distributed():
        return dense, count
    flat = torch.cat([g.reshape(-1) for g in dense] + [torch.tensor([float(count)], device=dense[0].device, dtype=dense[0].dtype)])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    out, offset = [], 0
    for g in dense:
        out.append(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()
    return out, float(flat[-1].item())
