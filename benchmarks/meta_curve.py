"""Does meta-training still pay as it goes on? Dev similarity after 5 and 20 steps against meta-steps.

Each checkpoint of a meta-training run folder (``checkpoint_N.pth``, N meta-steps; Coqui keeps the
last ``save_n_checkpoints`` of them) and, as meta-step 0, the model the run started from (``--init``,
adapted with the run's own adapter and inner rate) are measured by ``tts-maml evaluate``'s protocol
on the corpus's *dev* speakers (``--speakers dev``: the test speakers are never looked at), by
every judge: Resemblyzer and CAM++ similarity and Whisper's CER at each of ``--steps``. A curve
that rises says more meta-steps are buying adaptation; a flat one says they are not.

Writes into ``--out`` one ``tts-maml evaluate`` report per checkpoint (``meta_step_N/``), and
``curve.json`` (per meta-step, per judge, per adaptation step: the dev mean and its 95% interval),
``curve.md`` (one table per judge) and ``curve.png``. A checkpoint already measured (its
``meta_step_N/results.json`` exists) is read, not measured again, so the script can be re-run as
the run goes on.

    python benchmarks/meta_curve.py --run runs/meta_families_decoder_affine_fomaml/<run folder> --init runs/base_clear_gv \
        --corpus ~/.cache/tts_maml/families-meta_train-dev-test-u20-s0 --seeds 1 --every 100 --out meta_curve
"""

import argparse
import json
import os
import re
import sys
from typing import Any, Dict, List, Optional, Sequence, Tuple

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from _common import evaluated  # noqa: E402
from tts_maml import judges  # noqa: E402

CHECKPOINT = re.compile(r"checkpoint_(\d+)\.pth")
JUDGED = ("speaker_similarity", "campplus_similarity", "cer")


def checkpoints(run: str, every: int = 1) -> List[Tuple[int, str]]:
    """``[(meta_steps, path)]`` of a run folder's ``checkpoint_N.pth``, N a multiple of ``every``, by N."""
    found = []
    for name in os.listdir(run):
        m = CHECKPOINT.fullmatch(name)
        if m and int(m.group(1)) % every == 0:
            found.append((int(m.group(1)), os.path.join(run, name)))
    return sorted(found)


def run_adapter(config_path: str) -> Tuple[Optional[str], float]:
    """The adapter preset and inner rate a meta-training run's config names (``maml.adapter_preset``,
    ``maml.inner_lr``): what meta-step 0, the starting model, is adapted with."""
    with open(config_path, encoding="utf-8") as f:
        maml = json.load(f)["maml"]
    if maml.get("target_modules"):
        raise ValueError(f"{config_path}: maml.target_modules is set; the curve's meta-step 0 needs a named "
                         "adapter_preset to adapt the starting model with")  # fmt: skip
    return maml.get("adapter_preset"), float(maml["inner_lr"])


def measure(meta_steps: int, model_path: str, config_path: str, args: argparse.Namespace,
            preset: Optional[str] = None, lr: Optional[float] = None) -> Dict[str, Any]:  # fmt: skip
    """The evaluation's results of one checkpoint on the dev speakers (read back if already measured)."""
    return evaluated(model_path, config_path, args.corpus, os.path.join(args.out, f"meta_step_{meta_steps}"),
                     steps=args.steps, seeds=args.seeds, shots=args.shots, queries=args.queries, speakers="dev",
                     adapter_preset=preset, lr=lr)  # fmt: skip


def curve_rows(results: Dict[int, Dict[str, Any]], steps: Sequence[int]) -> Dict[str, Dict[str, Any]]:
    """``{metric: {"meta_steps": [...], "steps": {step: {"mean", "low", "high"} lists}}}`` of the meta model's
    dev summary at each adaptation step."""
    rows: Dict[str, Dict[str, Any]] = {}
    order = sorted(results)
    for metric in JUDGED:
        per_step: Dict[str, Dict[str, List[float]]] = {}
        for step in steps:
            cells = {"mean": [], "low": [], "high": []}
            for n in order:
                summary = results[n]["summary"]["meta"][metric]
                i = results[n]["protocol"]["steps"].index(step)
                for key in cells:
                    cells[key].append(summary[key][i])
            per_step[str(step)] = cells
        rows[metric] = {"meta_steps": order, "steps": per_step}
    return rows


def markdown(rows: Dict[str, Dict[str, Any]], steps: Sequence[int], speakers: int, seeds: int) -> List[str]:
    """One table per judge: a row per meta-step, a column per adaptation step (mean [95% interval])."""
    lines = [f"Dev speakers: {speakers}, seeds: {seeds}; each cell the mean over dev speakers [95% t-interval].", ""]
    for metric, row in rows.items():
        lines += [f"### {metric} ({judges.JUDGE_OF[metric]})", "",
                  "| meta-steps | " + " | ".join(f"step {s}" for s in steps) + " |",
                  "|---:|" + "---:|" * len(steps)]  # fmt: skip
        for i, n in enumerate(row["meta_steps"]):
            cells = [row["steps"][str(s)] for s in steps]
            lines.append(f"| {n} | " + " | ".join(f"{c['mean'][i]:.3f} [{c['low'][i]:.3f}, {c['high'][i]:.3f}]"
                                                 for c in cells) + " |")  # fmt: skip
        lines.append("")
    return lines


def plot(rows: Dict[str, Dict[str, Any]], steps: Sequence[int], path: str) -> None:
    """One panel per judge: the dev mean at each adaptation step against meta-steps, with its interval."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(rows), figsize=(5 * len(rows), 3.6))
    for ax, (metric, row) in zip(axes, rows.items()):
        for s in steps:
            c = row["steps"][str(s)]
            ax.plot(row["meta_steps"], c["mean"], marker="o", label=f"{s} adaptation steps")
            ax.fill_between(row["meta_steps"], c["low"], c["high"], alpha=0.15)
        ax.set_xlabel("meta-steps")
        ax.set_title(f"{metric} ({judges.JUDGE_OF[metric]})")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="the meta-training run folder (config.json, checkpoint_N.pth)")
    parser.add_argument("--init", default=None,
                        help="the model the run started from (a folder with model.pth and config.json): meta-step 0")
    parser.add_argument("--corpus", required=True, help="the corpus whose dev speakers are measured")
    parser.add_argument("--every", type=int, default=1, help="measure checkpoints whose meta-steps are a multiple of this")
    parser.add_argument("--steps", default="5,20", help="adaptation steps measured (0 is always added)")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--shots", type=int, default=5)
    parser.add_argument("--queries", type=int, default=3)
    parser.add_argument("--out", required=True, help="output folder")
    args = parser.parse_args()
    args.steps = sorted({0} | {int(s) for s in args.steps.split(",")})

    config_path = os.path.join(args.run, "config.json")
    preset, lr = run_adapter(config_path)
    found = checkpoints(args.run, args.every)
    if not found and not args.init:
        raise SystemExit(f"--run {args.run}: no checkpoint_N.pth with N a multiple of {args.every}, and no --init")
    os.makedirs(args.out, exist_ok=True)
    results = {}
    if args.init:
        results[0] = measure(0, os.path.join(args.init, "model.pth"), os.path.join(args.init, "config.json"), args,
                             preset=preset, lr=lr)  # fmt: skip
    for n, path in found:
        results[n] = measure(n, path, config_path, args)
    rows = curve_rows(results, args.steps)
    speakers = len(next(iter(results.values()))["speakers"]["dev"])
    with open(os.path.join(args.out, "curve.json"), "w", encoding="utf-8") as f:
        json.dump({"run": os.path.abspath(args.run), "init": args.init and os.path.abspath(args.init),
                   "adapter_preset": preset, "inner_lr": lr, "dev_speakers": speakers, "seeds": args.seeds,
                   "curve": rows}, f, indent=2)  # fmt: skip
    md = markdown(rows, args.steps, speakers, args.seeds)
    with open(os.path.join(args.out, "curve.md"), "w", encoding="utf-8") as f:
        f.write("\n".join(md))
    plot(rows, args.steps, os.path.join(args.out, "curve.png"))
    print("\n".join(md))


if __name__ == "__main__":
    main()
