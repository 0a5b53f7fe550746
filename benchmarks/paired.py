"""Two models measured on the same speakers, compared speaker by speaker: the paired differences
that docs/results.md and the model card quote as "paired ... mean ± standard error".

Takes two ``results.json`` of ``tts-maml evaluate`` (the test speakers; a ``--voice`` folder is
one voice, not paired) or two ``base_speaks.json`` of ``benchmarks/base_speaks.py``. For each step
(``no clips``, 0, 5, ...; base_speaks has one row) it prints each model's mean over the speakers
both measured (each speaker's mean over seeds first), and the mean and standard error over those
speakers of A minus B:

    python benchmarks/paired.py eval_v4/results.json eval_v3/results.json          # similarity
    python benchmarks/paired.py eval_v4/results.json eval_v3/results.json --metric mcd
    python benchmarks/paired.py --model-a baseline eval/results.json eval/results.json   # fine-tuning - meta
    python benchmarks/paired.py base_speaks_gv/base_speaks.json base_speaks/base_speaks.json
    python benchmarks/paired.py eval/results.json eval/results.json --against-step none \
        --metric campplus_similarity     # each step against no clips: what the d-vector start and steps add

``--against-step S`` pairs every step of A with step S of B (``none``: the no-clips row), so one
file against itself gives what each step adds over S, speaker by speaker.
"""

import argparse
import json
import statistics
from collections import defaultdict
from typing import Dict, Iterator, Optional, Tuple

Key = Tuple[str, Optional[int]]  # (speaker, step); step None: no clips (evaluate) or the one row (base_speaks)


def per_speaker(path: str, metric: str, model: str) -> Dict[Key, float]:
    """``{(speaker, step): mean over seeds}`` of ``metric`` for ``model`` (an evaluate results file),
    or ``{(speaker, None): value}`` (a base_speaks file, whose ``model`` column is the similarity)."""
    with open(path, encoding="utf-8") as f:
        results = json.load(f)
    if "runs" not in results:  # base_speaks.json
        column = {"speaker_similarity": "model"}.get(metric, metric)
        return {(row["speaker"], None): float(row[column]) for row in results["speakers"]}
    voices = set(results.get("speakers", {}).get("voices", []))
    values = defaultdict(list)
    for run in results["runs"]:
        if run["model"] == model and run["speaker"] not in voices:
            values[(run["speaker"], run["step"])].append(float(run[metric]))
    return {key: statistics.mean(v) for key, v in values.items()}


def paired_rows(a: Dict[Key, float], b: Dict[Key, float]) -> Iterator[Tuple[Optional[int], int, float, float, float, float]]:
    """For each step both files hold on at least 2 common speakers: (step, n, mean A, mean B,
    mean of A - B, its standard error)."""
    steps = sorted({step for _, step in a}, key=lambda s: -1 if s is None else s)
    for step in steps:
        keys = [k for k in a if k[1] == step and k in b]
        if len(keys) < 2:
            continue
        diffs = [a[k] - b[k] for k in keys]
        error = statistics.stdev(diffs) / len(diffs) ** 0.5
        yield (step, len(keys), statistics.mean(a[k] for k in keys), statistics.mean(b[k] for k in keys),
               statistics.mean(diffs), error)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", help="results.json or base_speaks.json of model A")
    parser.add_argument("b", help="the same kind of file for model B, on the same speakers")
    parser.add_argument("--metric", default="speaker_similarity", help="speaker_similarity (default), mcd, query_loss, ...")
    parser.add_argument("--model-a", default="meta", help="which model of A's evaluate file (meta or baseline)")
    parser.add_argument("--model-b", default="meta", help="which model of B's evaluate file (meta or baseline)")
    parser.add_argument("--against-step", default=None,
                        help="pair every step of A with this step of B (a number, or none: the no-clips row)")
    args = parser.parse_args()
    a, b = per_speaker(args.a, args.metric, args.model_a), per_speaker(args.b, args.metric, args.model_b)
    if args.against_step is not None:
        step = None if args.against_step.lower() == "none" else int(args.against_step)
        b = {(speaker, s): b[(speaker, step)] for speaker, s in a if (speaker, step) in b}
    unadapted = "no clips" if any(step is not None for _, step in a) else "base"  # base_speaks: one row
    print("| step | speakers | A | B | A - B (mean ± standard error) |\n|---:|---:|---|---|---|")
    for step, n, mean_a, mean_b, diff, error in paired_rows(a, b):
        print(f"| {unadapted if step is None else step} | {n} | {mean_a:.3f} | {mean_b:.3f} | {diff:+.3f} ± {error:.3f} |")


if __name__ == "__main__":
    main()
