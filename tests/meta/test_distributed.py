"""2 ranks x 2 tasks must give the meta-gradient of 1 rank x 4 tasks (gloo, CPU); Coqui's launcher
and torchrun on the CPU give a gloo group whose ranks share the cores and end with one process's weights."""

import glob
import json
import os
import subprocess
import sys

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from toy_tasks import ADAPTED, make_loss, make_model, task_samples, to_task

from tts_maml.config import MamlConfig
from tts_maml.meta.distributed import all_reduce_sum, launched_world_size, rank_and_world_size, share_cores
from tts_maml.meta.episodes import EpisodeSampler
from tts_maml.meta.learner import MetaLearner, TaskBatch

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


@pytest.mark.parametrize("algorithm, nan_slot", [("maml", None), ("fomaml", None), ("reptile", None),
                                                 ("metasgd", None), ("maml", 1)])  # fmt: skip
def test_two_ranks_equal_one_rank(tmp_path, free_port, algorithm, nan_slot):
    mp.spawn(_worker, args=(2, free_port, algorithm, nan_slot, str(tmp_path)), nprocs=2, join=True)
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


def test_each_rank_gets_its_share_of_the_cores(monkeypatch):
    threads = torch.get_num_threads()
    try:
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
        assert share_cores(2, cores=4) == 2 == torch.get_num_threads()
        assert share_cores(4, cores=2) == 1 == torch.get_num_threads()
        monkeypatch.setenv("OMP_NUM_THREADS", "3")  # the override: left as torch read it
        torch.set_num_threads(3)
        assert share_cores(2, cores=4) == 3 == torch.get_num_threads()
    finally:
        torch.set_num_threads(threads)


def test_world_size_of_the_launchers(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")  # trainer.distribute --gpus 0,1, every rank
    assert launched_world_size() == 2
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert launched_world_size() == 1
    monkeypatch.setenv("WORLD_SIZE", "3")  # torchrun
    assert launched_world_size() == 3


def _last_checkpoint(output):
    (path,) = glob.glob(os.path.join(output, "*", "checkpoint_2.pth"))
    return torch.load(path, map_location="cpu", weights_only=False)


SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "distribute_run.py")


def _launch_env(corpus, output):
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "WORLD_SIZE", "RANK", "LOCAL_RANK")}  # fmt: skip
    env.update(CORPUS=corpus, OUTPUT=output, PATH=os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", ""))
    return env


@pytest.fixture(scope="module")
def one_process(adapt_corpus, tmp_path_factory):
    """The reference: distribute_run.py alone, the whole meta-batch in one process."""
    output = str(tmp_path_factory.mktemp("one_process"))
    subprocess.run([sys.executable, SCRIPT], env={**_launch_env(adapt_corpus.out, output), "OMP_NUM_THREADS": "1"},
                   check=True, capture_output=True, timeout=600)  # fmt: skip
    (record,) = [json.load(open(path, encoding="utf-8")) for path in glob.glob(os.path.join(output, "rank*.json"))]
    return output, record


def _trainer_distribute(port):
    return [sys.executable, "-m", "trainer.distribute", "--script", SCRIPT, "--gpus", "0,1",
            "--coqpit.distributed_backend", "gloo", "--coqpit.distributed_url", f"tcp://127.0.0.1:{port}"]  # fmt: skip


def _torchrun(port):
    torchrun = os.path.join(os.path.dirname(sys.executable), "torchrun")
    return [torchrun, "--nproc_per_node", "2", "--master_addr", "127.0.0.1", "--master_port", str(port), SCRIPT]


@pytest.mark.slow
@pytest.mark.parametrize("launcher", [_trainer_distribute, _torchrun], ids=["trainer.distribute", "torchrun"])
def test_two_cpu_ranks_end_with_the_weights_of_one_process(adapt_corpus, one_process, tmp_path, free_port, launcher):
    """``python -m trainer.distribute --gpus 0,1 --coqpit.distributed_backend gloo`` and ``torchrun
    --nproc_per_node 2`` without a GPU: the ranks form a gloo group, split the meta-batch, share the
    cores, write one run folder (rank 0 its checkpoints), and end with the weights of one process
    running the whole meta-batch (to 1e-5: other summation orders)."""
    single, alone = one_process
    ranks = str(tmp_path / "ranks")
    subprocess.run(launcher(free_port), env=_launch_env(adapt_corpus.out, ranks), check=True, capture_output=True,
                   timeout=600)  # fmt: skip
    records = [json.load(open(os.path.join(ranks, f"rank{r}.json"), encoding="utf-8")) for r in range(2)]
    cores = len(os.sched_getaffinity(0))
    for rank, record in enumerate(records):
        # trainer.distribute: cores / ranks threads each; torchrun sets OMP_NUM_THREADS=1 itself
        threads = 1 if launcher is _torchrun else max(1, cores // 2)
        assert record["world_size"] == 2 and record["threads"] == threads
        assert record["tasks"] == [step[rank::2] for step in alone["tasks"]]
    (folder,) = [p for p in glob.glob(os.path.join(ranks, "*")) if os.path.isdir(p) and "phonemes" not in p]
    assert os.path.isfile(os.path.join(folder, "checkpoint_2.pth"))
    reference, result = _last_checkpoint(single), _last_checkpoint(ranks)
    assert result["maml"]["meta_steps_done"] == reference["maml"]["meta_steps_done"] == 2
    for name, tensor in reference["model"].items():
        torch.testing.assert_close(result["model"][name], tensor, rtol=1e-5, atol=1e-5, msg=name)
