"""How sharp is the support loss along each part of an adapter? Whether an inner loop over it can descend.

For each of the first ``--voices`` dev voices of ``--corpus`` (its first ``--shots`` clips as the
support set, started where adaptation starts: the d-vector slot), the gradient of the model's task
loss (its ``maml`` config: global-variance term, floor noise) with respect to the adapter's tensors
(``--adapter-preset``), grouped by layer (each decoder flow, the voice slot, the rest), and:

- the support loss after one step of L2 length ``s`` along each group's own normalised negative
  gradient, for each ``s`` of ``--sizes``: a group whose loss *rises* at a small step is sharper than
  an inner loop can step (a rate of 0.01 with the gradient clipped to norm 10 moves L2 0.1);
- the support loss along the inner loop itself (``--steps`` steps at ``--lr``, the model's gradient
  clip), as ``tts-maml adapt`` runs it;
- the share of the support frames that sit on the mel floor (silence clipped by Coqui's
  normalisation), per band, for the top bands.

Writes ``curvature.json`` and ``curvature.md`` into ``--out``.

    python benchmarks/inner_loop_curvature.py --model_path runs/base_clear/model.pth \
        --config_path runs/base_clear_gv/config.json \
        --corpus ~/.cache/tts_maml/families-meta_train-dev-test-u20-s0 --out curvature_base_clear
"""

import argparse
import json
import os
import re
import sys
from collections import defaultdict
from typing import Any, Dict, List, Sequence

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tts_maml.adapt.adaptation import load_for_adaptation  # noqa: E402
from tts_maml.corpus.speaker_split import held_out_samples, split_dev_test  # noqa: E402
from tts_maml.floor_dequantization import ON_FLOOR, mel_floor  # noqa: E402


def layer(name: str) -> str:
    """The group of an adapted tensor: ``flow N`` for the decoder's flows, else its first two name parts."""
    match = re.match(r"decoder\.flows\.(\d+)\.", name)
    return f"flow {int(match.group(1)):02d}" if match else ".".join(name.split(".")[:2])


def line_search(loss, fast: Dict[str, torch.Tensor], grads: Dict[str, torch.Tensor], names: Sequence[str],
                sizes: Sequence[float]) -> List[float]:  # fmt: skip
    """The loss after a step of each L2 length in ``sizes`` along ``names``' normalised negative gradient."""
    norm = torch.sqrt(sum(grads[n].pow(2).sum() for n in names))
    out = []
    with torch.no_grad():
        for size in sizes:
            moved = {n: fast[n] - size * grads[n] / norm if n in names else fast[n] for n in fast}
            out.append(float(loss(moved)))
    return out


def measure_voice(loaded: Any, clips: List[Dict[str, Any]], sizes: Sequence[float], steps: int,
                  top_bands: int) -> Dict[str, Any]:  # fmt: skip
    """One voice's gradient norms, line searches (per layer and whole), inner-loop losses and floor shares."""
    model, backbone = loaded.model, loaded.backbone
    batch = backbone.make_batch(model, clips)
    params = dict(model.named_parameters())
    task_loss = backbone.task_loss(model)
    start = {n: t.detach().clone().requires_grad_(True) for n, t in loaded.learner.start_weights(batch).items()}

    def loss(fast):
        return task_loss({**params, **fast}, batch)

    value = loss(start)
    grads = dict(zip(start, torch.autograd.grad(value, list(start.values()))))
    groups = defaultdict(list)
    for name in start:
        groups[layer(name)].append(name)
    rows = {g: {"grad_norm": float(torch.sqrt(sum(grads[n].pow(2).sum() for n in names))),
                "loss_after": line_search(loss, start, grads, names, sizes)} for g, names in sorted(groups.items())}  # fmt: skip
    rows["all"] = {"grad_norm": float(torch.sqrt(sum(g.pow(2).sum() for g in grads.values()))),
                   "loss_after": line_search(loss, start, grads, list(start), sizes)}  # fmt: skip
    inner = loaded.learner.adapt(batch, steps=steps, lr=loaded.lr).support_losses
    mel, lengths = batch["mel_input"], batch["mel_lengths"]
    frames = torch.cat([mel[i, : int(n)] for i, n in enumerate(lengths)])  # [frames, bands]
    on_floor = (frames <= mel_floor(loaded.config.audio) + ON_FLOOR).float().mean(0)
    return {"loss": value.item(), "layers": rows, "inner_loop_losses": [float(torch.as_tensor(x).detach()) for x in inner],
            "floor_share_top_bands": [round(float(x), 3) for x in on_floor[-top_bands:]]}  # fmt: skip


def markdown(results: Dict[str, Any]) -> str:
    """The per-layer table (mean over voices) and the inner-loop losses per voice."""
    sizes, voices = results["sizes"], results["voices"]
    names = list(next(iter(voices.values()))["layers"])
    lines = [f"Support loss at the start (mean over {len(voices)} dev voices): "
             f"{sum(v['loss'] for v in voices.values()) / len(voices):.3f}. Adapter: {results['adapter_preset']}.", "",
             "| layer | gradient norm | " + " | ".join(f"loss after L2 step {s:g}" for s in sizes) + " |",
             "|---|---:|" + "---:|" * len(sizes)]  # fmt: skip
    for name in names:
        mean = lambda key, i=None: sum(v["layers"][name][key] if i is None else v["layers"][name][key][i]  # noqa: E731
                                       for v in voices.values()) / len(voices)  # fmt: skip
        lines.append(f"| {name} | {mean('grad_norm'):.3g} | " + " | ".join(f"{mean('loss_after', i):.3f}" for i in range(len(sizes))) + " |")
    lines += ["", f"Inner loop ({results['steps']} steps at lr {results['lr']}, the model's gradient clip): support loss before each step", ""]
    lines += [f"- {voice}: " + ", ".join(f"{x:.3g}" for x in v["inner_loop_losses"]) for voice, v in voices.items()]
    lines += ["", f"Share of support frames on the mel floor, top {results['top_bands']} bands (low to high)", ""]
    lines += [f"- {voice}: " + ", ".join(f"{x:.2f}" for x in v["floor_share_top_bands"]) for voice, v in voices.items()]
    return "\n".join(lines) + "\n"


def main(argv=None) -> Dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model_path", required=True)
    parser.add_argument("--config_path", required=True)
    parser.add_argument("--corpus", required=True, help="a corpus with held-out dev voices (VCTK layout)")
    parser.add_argument("--adapter-preset", default="decoder_affine")
    parser.add_argument("--lr", type=float, default=0.01, help="the inner loop's rate (default 0.01)")
    parser.add_argument("--steps", type=int, default=5, help="inner-loop steps to follow (default 5)")
    parser.add_argument("--voices", type=int, default=3, help="dev voices, the first in order (default 3)")
    parser.add_argument("--shots", type=int, default=5)
    parser.add_argument("--sizes", default="0.001,0.01,0.1", help="L2 step lengths (default 0.001,0.01,0.1)")
    parser.add_argument("--top-bands", type=int, default=8)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    torch.set_flush_denormal(True)
    sizes = [float(s) for s in args.sizes.split(",")]
    loaded = load_for_adaptation(args.model_path, args.config_path, adapter_preset=args.adapter_preset, lr=args.lr).to("cpu")
    samples = held_out_samples(args.corpus, None, seed=loaded.config.maml.seed)
    dev, _ = split_dev_test(s["speaker_name"] for s in samples)
    voices = {}
    for voice in dev[: args.voices]:
        clips = sorted((s for s in samples if s["speaker_name"] == voice), key=lambda s: s["audio_file"])[: args.shots]
        voices[voice] = measure_voice(loaded, clips, sizes, args.steps, args.top_bands)
        print(f"{voice}: loss {voices[voice]['loss']:.3f}, inner loop {voices[voice]['inner_loop_losses']}", flush=True)
    results = {"model_path": args.model_path, "config_path": args.config_path, "adapter_preset": args.adapter_preset,
               "lr": args.lr, "steps": args.steps, "sizes": sizes, "top_bands": args.top_bands,
               "floor_noise": loaded.config.maml.floor_noise, "voices": voices}  # fmt: skip
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "curvature.json"), "w", encoding="utf-8") as f:
        json.dump(results, f, indent=2)
    with open(os.path.join(args.out, "curvature.md"), "w", encoding="utf-8") as f:
        f.write(markdown(results))
    print(markdown(results))
    return results


if __name__ == "__main__":
    main()
