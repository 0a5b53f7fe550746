"""Meta-step cost: a FOMAML and a second-order MAML meta-step vs (k+1) plain training steps.

    .venv/bin/python benchmarks/meta_step_cost.py [--k 3] [--tasks 4] [--repeats 5]

Tiny VITS, 4 tasks of 5 support + 5 query clips, batches prebuilt (no data loading in the timing).
A plain step is one ordinary training step on the same tasks' clips (tts_maml.meta.joint_training.joint_step).
Everything is measured side by side in this one run; the ratios are what travels across machines.
"""

import argparse
import time

import torch
from _common import setup, small_corpus, table

from tts_maml.meta.joint_training import joint_step


def timed(fn, repeats):
    fn()  # warm-up
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--tasks", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(2)
    corpus = small_corpus()
    seconds = {}
    for algorithm in ("fomaml", "maml"):
        _, model, learner, tasks = setup(corpus, algorithm, args.k, args.tasks)
        optimizer = torch.optim.Adam(learner.trainable_parameters(), lr=1e-4)
        seconds[algorithm] = timed(lambda: learner.meta_step(tasks, optimizer, 0), args.repeats)
    backbone, model, learner, tasks = setup(corpus, "fomaml", args.k, args.tasks)
    joint = [t.support for t in tasks]  # one plain step: every task batch once, like a meta-step
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    loss = backbone.task_loss(model)
    plain = timed(lambda: [joint_step(model, loss, joint, optimizer) for _ in range(args.k + 1)], args.repeats)
    print(f"tiny VITS, {args.tasks} tasks x (k={args.k} inner steps on 5 clips + 5 query clips), "
          f"{torch.get_num_threads()} threads, mean of {args.repeats}")  # fmt: skip
    table(["step", "seconds", "ratio to (k+1) plain steps"], [
        [f"(k+1) = {args.k + 1} plain training steps", f"{plain:.2f}", "1.00"],
        ["FOMAML meta-step", f"{seconds['fomaml']:.2f}", f"{seconds['fomaml'] / plain:.2f}"],
        ["MAML (second-order) meta-step", f"{seconds['maml']:.2f}", f"{seconds['maml'] / plain:.2f}"],
    ])  # fmt: skip


if __name__ == "__main__":
    main()
