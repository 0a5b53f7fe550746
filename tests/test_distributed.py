"""2 ranks x 2 tasks must give the meta-gradient of 1 rank x 4 tasks (gloo, CPU)."""

import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from toy_tasks import ADAPTED, make_loss, make_model, task_samples, to_task

from tts_maml.config import MamlConfig
from tts_maml.distributed import all_reduce_sum, rank_and_world_size
from tts_maml.episodes import EpisodeSampler
from tts_maml.meta_learner import MetaLearner, TaskBatch

META_BATCH = 4
STEP = 5


def _gradients(algorithm, rank, world_size, nan_slot=None):
    model = make_model()
    config = MamlConfig(algorithm=algorithm, inner_steps=2, inner_lr=0.1, meta_batch_size=META_BATCH, outer_grad_clip=0)
    learner = MetaLearner(model, config, ADAPTED, make_loss(model))
    sampler = EpisodeSampler(task_samples(), n_support=4, n_query=4, seed=3)
    tasks = []
    for episode in sampler.sample(STEP, META_BATCH, rank=rank, world_size=world_size):
        task = to_task(episode)
        if episode.slot == nan_slot:
            x, y = task.support
            task = TaskBatch(task.task, (x, y * float("nan")), task.query)
        tasks.append(task)
    stats = learner.meta_gradient(tasks, step=STEP)
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    if learner.inner_lrs is not None:
        grads.update({"lr:" + n: r.grad.clone() for n, r in learner.inner_lrs.as_dict().items()})
    return grads, stats.tasks_used


def _worker(rank, world_size, port, algorithm, nan_slot, out_dir):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world_size)
    try:
        assert rank_and_world_size() == (rank, world_size)
        grads, used = _gradients(algorithm, rank, world_size, nan_slot)
        torch.save({"grads": grads, "used": used}, os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("algorithm, nan_slot", [("maml", None), ("fomaml", None), ("reptile", None),
                                                 ("metasgd", None), ("maml", 1)])  # fmt: skip
def test_two_ranks_equal_one_rank(tmp_path, algorithm, nan_slot):
    mp.spawn(_worker, args=(2, _free_port(), algorithm, nan_slot, str(tmp_path)), nprocs=2, join=True)
    single, used = _gradients(algorithm, 0, 1, nan_slot)
    assert used == (3 if nan_slot is not None else 4)
    for rank in range(2):
        result = torch.load(tmp_path / f"rank{rank}.pt")
        assert result["used"] == used
        assert sorted(result["grads"]) == sorted(single)
        for name, g in single.items():
            torch.testing.assert_close(result["grads"][name], g, rtol=0, atol=1e-6)


def test_without_a_process_group_reduction_is_identity():
    g = [torch.ones(2), None]
    out, count = all_reduce_sum(g, [torch.zeros(2), torch.zeros(3)], 2.0)
    assert count == 2.0 and torch.equal(out[0], torch.ones(2)) and torch.equal(out[1], torch.zeros(3))
    assert rank_and_world_size() == (0, 1)
