"""Meta-gradients across torch.distributed ranks.

The tasks of a meta-batch are split over ranks (:meth:`tts_maml.meta.episodes.EpisodeSampler.sample`);
each rank sums its tasks' meta-gradients, and one all-reduce of ``[sum of gradients..., task count]``
gives every rank the mean over all tasks of all ranks: the same meta-gradient one process would
compute on the whole meta-batch. Works with gloo (CPU) and nccl (GPU), under ``torchrun`` or Coqui's
``python -m trainer.distribute``.

The two launchers tell a rank who it is differently: Coqui's passes ``--rank`` and ``--use_ddp`` on
the command line and sets ``RANK`` and ``CUDA_VISIBLE_DEVICES``; ``torchrun`` sets ``RANK``,
``LOCAL_RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` and ``MASTER_PORT`` (:func:`torchrun_ranks`), and its
ranks join the process group through them (:func:`init_torchrun_process_group`, ``env://``).

We do this ourselves rather than through DDP: coqui-tts-trainer wraps the model in DDP but calls
``train_step`` on ``ddp_model.module``, so DDP's gradient hooks never fire for it, and a meta-step
runs several backward passes per task anyway.

coqui-tts-trainer starts a process group only on GPUs; without them, ``MamlTrainer`` starts the gloo
one (:func:`init_cpu_process_group`). Every rank would otherwise run one thread per core and the
ranks would fight over the cores: :func:`share_cores` gives each its share.
"""

import logging
import os
import time
from typing import List, NamedTuple, Optional, Sequence, Tuple

import torch
import torch.distributed as dist
from torch import Tensor

logger = logging.getLogger(__name__)


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


def launched_world_size() -> int:
    """How many ranks the launcher started: ``WORLD_SIZE`` (torchrun), else one per entry of
    ``CUDA_VISIBLE_DEVICES`` (Coqui's ``trainer.distribute`` sets it from ``--gpus`` for every rank)."""
    if os.environ.get("WORLD_SIZE"):
        return int(os.environ["WORLD_SIZE"])
    return len([d for d in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if d.strip()]) or 1


def init_cpu_process_group(rank: int, world_size: int, url: str) -> None:
    """Join the gloo process group of ``world_size`` CPU ranks at ``url`` (Coqui's
    ``config.distributed_url``), unless one is running already."""
    if dist.is_initialized():
        return
    logger.info("rank %d of %d: starting the gloo process group at %s (no GPU)", rank, world_size, url)
    dist.init_process_group("gloo", init_method=url, world_size=world_size, rank=rank)


def share_cores(world_size: int, cores: Optional[int] = None) -> int:
    """Give this rank ``cores // world_size`` torch threads (at least 1), so that ranks on one
    machine do not oversubscribe it; ``OMP_NUM_THREADS``, when set, overrides it. Returns the
    number of threads."""
    if os.environ.get("OMP_NUM_THREADS"):
        threads = torch.get_num_threads()
        logger.info("OMP_NUM_THREADS is set: %d torch threads per rank", threads)
        return threads
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    threads = max(1, cores // world_size)
    torch.set_num_threads(threads)
    logger.info("%d ranks on %d cores: %d torch threads per rank (set OMP_NUM_THREADS to override)",
                world_size, cores, threads)  # fmt: skip
    return threads


class TorchrunRanks(NamedTuple):
    """Who this process is under ``torchrun``: its global ``rank``, its ``local_rank`` on its
    machine (its GPU) and the ``world_size``."""

    rank: int
    local_rank: int
    world_size: int


def torchrun_ranks() -> Optional[TorchrunRanks]:
    """This process's ranks when ``torchrun`` (``torch.distributed.run``) started it, else None.

    torchrun sets ``LOCAL_RANK`` and ``WORLD_SIZE`` beside ``RANK``; Coqui's ``trainer.distribute``
    sets only ``RANK``, so the two launchers are told apart."""
    if not all(os.environ.get(k) for k in ("RANK", "LOCAL_RANK", "WORLD_SIZE")):
        return None
    return TorchrunRanks(int(os.environ["RANK"]), int(os.environ["LOCAL_RANK"]), int(os.environ["WORLD_SIZE"]))


def init_torchrun_process_group(ranks: TorchrunRanks, use_cuda: bool) -> None:
    """Join torchrun's process group (``env://``: ``MASTER_ADDR``/``MASTER_PORT``), unless one is
    running: nccl on this rank's GPU (``LOCAL_RANK``) when ``use_cuda``, else gloo."""
    if dist.is_initialized():
        return
    backend = "nccl" if use_cuda else "gloo"
    if use_cuda:
        torch.cuda.set_device(ranks.local_rank)
    logger.info("rank %d of %d (torchrun): starting the %s process group", ranks.rank, ranks.world_size, backend)
    dist.init_process_group(backend, init_method="env://", world_size=ranks.world_size, rank=ranks.rank)


def agree_on_a_start(margin: float = 2.0) -> None:
    """Return on every rank at the same wall-clock second, chosen by rank 0 at least ``margin``
    seconds away from a minute's turn.

    Coqui names a new run folder after the minute it is created in: ranks that agree on the moment
    agree on the folder, and rank 0 alone writes into it."""
    if not is_distributed():
        return
    start = time.time() + 0.5
    if 60 - start % 60 < margin:  # too close to the minute's turn: ranks could read different minutes
        start += margin
    moment = [start]
    dist.broadcast_object_list(moment, src=0)
    time.sleep(max(0.0, moment[0] - time.time()))
