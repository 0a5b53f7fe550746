"""Two ranks on the CPU: seconds per meta-step of Coqui's ``python -m trainer.distribute`` and of
``torchrun`` (gloo), each rank with its share of the cores, against one process doing the whole meta-batch.

    .venv/bin/python benchmarks/distributed_cpu.py [--steps 4] [--tasks 4] [--ranks 2]

Five real MamlTrainer runs of the same meta-training (tiny VITS, a meta-batch of --tasks tasks x
3 inner steps on 5 clips + 5 query clips), measured side by side in this one run:

1. one process, the whole meta-batch, one thread per core (the reference of the ratios);
2. the same with one thread (a reference that other load on the machine disturbs less);
3. --ranks ranks through ``trainer.distribute`` (each does tasks / ranks tasks), with tts_maml's
   default threads: cores / ranks per rank;
4. the same, with ``OMP_NUM_THREADS=<cores>``: every rank takes every core (the threads each rank
   took before tts_maml shared the cores);
5. --ranks ranks through ``torchrun --nproc_per_node`` (which sets ``OMP_NUM_THREADS=1`` per rank
   unless it is set: here cores / ranks, as 3).

The time of a meta-step is its median over the run, the first (warm-up) left out; for several
ranks, the slowest rank's. The launcher starts ``python3`` from PATH: this script puts its own
interpreter's folder first on PATH, as an activated virtual environment does.
"""

import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from _common import free_port, small_corpus, table

WORKER = "TTS_MAML_BENCH_WORKER"  # set for the training processes: where they write their timings


def cores():
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def worker():
    """One training process (one rank, or the single process): a short MamlTrainer run that
    writes its meta-step times to $TTS_MAML_BENCH_WORKER/rank<r>.json."""
    import torch
    from trainer import TrainerArgs
    from TTS.tts.configs.shared_configs import BaseDatasetConfig

    from tts_maml.backbones import VitsBackbone
    from tts_maml.corpus.samples import load_samples
    from tts_maml.meta.distributed import rank_and_world_size
    from tts_maml.training.trainer_model import MamlTrainer, MamlTrainerModel

    out, corpus = os.environ[WORKER], os.environ["TTS_MAML_BENCH_CORPUS"]
    steps, tasks = int(os.environ["TTS_MAML_BENCH_STEPS"]), int(os.environ["TTS_MAML_BENCH_TASKS"])
    config = VitsBackbone.tiny_config(phoneme_cache_path=os.path.join(corpus, "..", "phonemes"), output_path=out,
                                      epochs=1, print_step=1000, plot_step=1000, save_step=100000, run_eval=False,
                                      test_sentences=[])  # fmt: skip
    config.maml.inner_steps, config.maml.meta_batch_size = 3, tasks
    config.maml.n_support, config.maml.n_query = 5, 5
    config.maml.meta_steps_per_epoch = steps
    torch.manual_seed(0)
    model = MamlTrainerModel(config)
    meta_step, record = model.learner.meta_step, {"seconds": []}

    def timed(batch, optimizer, step):
        start = time.perf_counter()
        stats = meta_step(batch, optimizer, step)
        rank, world_size = rank_and_world_size()
        record.update(rank=rank, world_size=world_size, threads=torch.get_num_threads(), tasks_per_rank=len(batch))
        record["seconds"].append(time.perf_counter() - start)
        return stats

    model.learner.meta_step = timed
    samples = load_samples(BaseDatasetConfig(formatter="vctk", path=corpus))
    trainer = MamlTrainer(TrainerArgs(), config, out, model=model, train_samples=samples)
    trainer.fit()
    with open(os.path.join(out, f"rank{record['rank']}.json"), "w", encoding="utf-8") as f:
        json.dump(record, f)


def measure(command, threads, corpus, args):
    """Run ``command`` (one process or the launcher) and return the rank records."""
    out = tempfile.mkdtemp(prefix="tts_maml_bench_run_")
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    if threads:
        env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(threads)
    env.update({WORKER: out, "TTS_MAML_BENCH_CORPUS": corpus, "TTS_MAML_BENCH_STEPS": str(args.steps),
                "TTS_MAML_BENCH_TASKS": str(args.tasks)})  # fmt: skip
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    records = []
    for path in sorted(glob.glob(os.path.join(out, "rank*.json"))):
        with open(path, encoding="utf-8") as f:
            records.append(json.load(f))
    return records


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=4, help="meta-steps per run (the first is a warm-up)")
    parser.add_argument("--tasks", type=int, default=4, help="tasks per meta-batch")
    parser.add_argument("--ranks", type=int, default=2)
    args = parser.parse_args()
    corpus, script, n = small_corpus(), os.path.abspath(__file__), cores()

    def launch():
        return [sys.executable, "-m", "trainer.distribute", "--script", script, "--gpus",
                ",".join(str(r) for r in range(args.ranks)), "--coqpit.distributed_backend", "gloo",
                "--coqpit.distributed_url", f"tcp://127.0.0.1:{free_port()}"]  # fmt: skip

    def torchrun():
        return [os.path.join(os.path.dirname(sys.executable), "torchrun"), "--nproc_per_node", str(args.ranks),
                "--master_addr", "127.0.0.1", "--master_port", str(free_port()), script]  # fmt: skip

    runs = [
        ("1 process, whole meta-batch", [sys.executable, script], n),
        ("1 process, whole meta-batch, 1 thread", [sys.executable, script], 1),
        (f"{args.ranks} ranks, cores / ranks threads each (default)", launch(), None),
        (f"{args.ranks} ranks, OMP_NUM_THREADS={n}: every core each", launch(), n),
        (f"{args.ranks} ranks under torchrun, cores / ranks threads each", torchrun(), max(1, n // args.ranks)),
    ]
    rows, base, load = [], None, os.getloadavg()[0]
    for name, command, threads in runs:
        records = measure(command, threads, corpus, args)
        if len(records) != (1 if command[1] == script else args.ranks):
            raise RuntimeError(f"{name}: {len(records)} rank records, expected one per rank")
        seconds = max(statistics.median(r["seconds"][1:]) for r in records)
        base = base or seconds
        r = records[0]
        rows.append([name, r["world_size"], r["tasks_per_rank"], r["threads"], f"{seconds:.2f}", f"{seconds / base:.2f}"])
    print(f"tiny VITS, meta-batch of {args.tasks} tasks x (3 inner steps on 5 clips + 5 query clips), {n} CPU cores, "
          f"median of {args.steps - 1} meta-steps (after 1 warm-up); load average {load:.1f} before, "
          f"{os.getloadavg()[0]:.1f} after")  # fmt: skip
    table(["run", "ranks", "tasks per rank", "threads per rank", "seconds per meta-step", "ratio to 1 process"], rows)


if __name__ == "__main__":
    if os.environ.get(WORKER):
        worker()
    else:
        main()
