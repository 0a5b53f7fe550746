"""Peak memory of a second-order meta-step for k = 1..8 inner steps (should grow linearly in k).

    .venv/bin/python benchmarks/memory.py [--max-k 8] [--tasks 2]

Each k runs in a fresh process: the peak resident memory of one MAML meta-step minus the memory
after setup (CPU: ru_maxrss; CUDA: torch.cuda.max_memory_allocated). Tiny VITS, prebuilt batches.
"""

import argparse
import json
import os
import resource
import subprocess
import sys

import numpy as np
import torch
from _common import setup, small_corpus, table


def one(corpus, k, tasks, device):
    _, model, learner, batch = setup(corpus, "maml", k, tasks)
    model.to(device)
    batch = [type(t)(t.task, {**{a: (b.to(device) if torch.is_tensor(b) else b) for a, b in t.support.items()}},
                     {**{a: (b.to(device) if torch.is_tensor(b) else b) for a, b in t.query.items()}}) for t in batch]  # fmt: skip
    optimizer = torch.optim.Adam(learner.trainable_parameters(), lr=1e-4)
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        before = torch.cuda.memory_allocated()
        learner.meta_step(batch, optimizer, 0)
        return (torch.cuda.max_memory_allocated() - before) / 2**20
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    learner.meta_step(batch, optimizer, 0)
    return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--max-k", type=int, default=8)
    parser.add_argument("--tasks", type=int, default=2)
    parser.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--corpus", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.one is not None:
        torch.set_num_threads(2)
        print(json.dumps({"mb": one(args.corpus, args.one, args.tasks, device)}))
        return
    corpus = small_corpus()
    rows, mbs = [], []
    for k in range(1, args.max_k + 1):
        out = subprocess.run([sys.executable, os.path.abspath(__file__), "--one", str(k), "--tasks", str(args.tasks),
                              "--corpus", corpus], check=True, capture_output=True, text=True).stdout  # fmt: skip
        mbs.append(json.loads(out.strip().splitlines()[-1])["mb"])
    slope, intercept = np.polyfit(range(1, args.max_k + 1), mbs, 1)
    fitted = slope * np.arange(1, args.max_k + 1) + intercept
    r2 = 1 - np.sum((np.array(mbs) - fitted) ** 2) / np.sum((np.array(mbs) - np.mean(mbs)) ** 2)
    for k, mb in zip(range(1, args.max_k + 1), mbs):
        rows.append([k, f"{mb:.0f}", f"{mb / mbs[0]:.2f}"])
    print(f"tiny VITS, second-order MAML meta-step, {args.tasks} tasks, {device}; peak memory above the setup")
    table(["k", "peak MB", "ratio to k=1"], rows)
    print(f"\nlinear fit: {slope:.1f} MB per inner step + {intercept:.0f} MB (R^2 = {r2:.3f})")


if __name__ == "__main__":
    main()
