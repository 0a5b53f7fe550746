"""Adaptation efficiency: how many steps the fine-tuning baseline needs to reach the query loss
that the meta-learned initialisation reaches in 5 steps (the MAML-for-TTS literature's anchor is
about 20x).

    .venv/bin/python benchmarks/adaptation_efficiency.py --meta RUN/best_model.pth \\
        --baseline BASE/baseline.pth --held-out CORPUS/held_out [--anchor 5] [--max-steps 200]

Both checkpoints need their config.json beside them (any two tts_maml checkpoints: e.g. the
converted pre-trained model as --baseline). Each held-out speaker: 5 support clips, 5 unseen query
clips; both models adapt with the same inner loop, adapter and learning rate (the meta model's
unless --lr). A quick look on every held-out speaker and one seed: `tts-maml evaluate` measures
the same ratio with the Adam fine-tuning baseline, on test speakers only, with intervals.
"""

import argparse
import os

import numpy as np
import torch
from _common import table
from TTS.tts.configs.shared_configs import BaseDatasetConfig

from tts_maml.adapt.adaptation import load_for_adaptation, lr_label
from tts_maml.corpus.samples import load_samples


def curve(path, held_out, steps, lr):
    loaded = load_for_adaptation(path, os.path.join(os.path.dirname(os.path.abspath(path)), "config.json"), lr=lr)
    model, backbone = loaded.model.eval(), loaded.backbone
    loss = backbone.evaluation_loss(model)
    params = {n: p.detach() for n, p in model.named_parameters()}
    speakers = {}
    for s in sorted(load_samples(BaseDatasetConfig(formatter="vctk", path=held_out)), key=lambda s: s["audio_file"]):
        speakers.setdefault(s["speaker_name"], []).append(s)
    curves = {}
    for speaker, clips in speakers.items():
        order = np.random.default_rng([0, 7]).permutation(len(clips))
        support = backbone.make_batch(model, [clips[i] for i in order[:5]])
        query = backbone.make_batch(model, [clips[i] for i in order[5:10]])
        values = []

        def record(step, fast):
            with torch.no_grad():
                values.append(float(loss({**params, **{n: t.detach() for n, t in fast.items()}}, query)))

        with torch.no_grad():
            values.append(float(loss(params, query)))
        loaded.learner.adapt(support, steps=steps, lr=loaded.lr, on_step=record)
        curves[speaker] = values
    return curves, loaded.lr


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--meta", required=True)
    parser.add_argument("--baseline", required=True)
    parser.add_argument("--held-out", required=True)
    parser.add_argument("--anchor", type=int, default=5)
    parser.add_argument("--max-steps", type=int, default=200)
    parser.add_argument("--lr", type=float, default=None)
    args = parser.parse_args()
    torch.set_num_threads(2)
    meta, lr = curve(args.meta, args.held_out, args.anchor, args.lr)
    base, _ = curve(args.baseline, args.held_out, args.max_steps, lr if isinstance(lr, float) else args.lr)
    rows, ratios = [], []
    for speaker in meta:
        target = meta[speaker][args.anchor]
        reached = next((s for s, v in enumerate(base[speaker]) if v <= target), None)
        ratio = reached / args.anchor if reached is not None else float("inf")
        ratios.append(ratio)
        rows.append([speaker, f"{meta[speaker][0]:.3f}", f"{target:.3f}", f"{base[speaker][0]:.3f}",
                     f"{min(base[speaker]):.3f}", reached if reached is not None else f"> {args.max_steps}",
                     f"{ratio:.1f}x" if reached is not None else f"> {args.max_steps / args.anchor:.0f}x"])  # fmt: skip
    print(f"query loss on 5 unseen clips per held-out speaker; meta anchor = {args.anchor} steps; lr = {lr_label(lr)}")
    table(["speaker", "meta step 0", f"meta step {args.anchor}", "baseline step 0", "baseline best",
           "baseline steps to reach meta", "ratio"], rows)  # fmt: skip
    finite = [r for r in ratios if np.isfinite(r)]
    print(f"\nmedian ratio: {np.median(ratios):.1f}x ({len(finite)}/{len(ratios)} speakers reached within {args.max_steps} steps)")


if __name__ == "__main__":
    main()
