"""``tts-maml evaluate``: how fast and how well each model adapts to held-out speakers.

For every held-out speaker, every model and every seed, the speaker's clips are split (seeded)
into ``shots`` support clips and ``queries`` unseen query clips; the model adapts on the support
clips with the same inner loop as ``tts-maml adapt``, and at every listed step it is measured on
the query clips:

- ``query_loss``: the task loss (averaged over seeded draws for VITS);
- ``mcd``: mel-cepstral distortion (DTW) of the synthesised sentence against the real clip;
- ``speaker_similarity``: Resemblyzer cosine of the synthesised clip to the speaker's support
  clips (the real query clip's own similarity is reported as the ceiling);
- ``f0_rmse`` / ``f0_mean_error``: F0 errors in Hz on the DTW alignment.

Writes ``results.json`` (every number), one PNG per metric (mean and spread over speakers and
seeds, one line per model) and ``report.md`` (the table), each atomically.
"""

import contextlib
import json
import logging
import os
import zlib
from typing import Any, Dict, Iterator, List, Optional, Sequence

import numpy as np
import soundfile as sf
import torch
from tqdm import tqdm

from tts_maml.adaptation import load_for_adaptation
from tts_maml.checkpoints import atomic_write, atomic_write_text, check_output_folder
from tts_maml.metrics import compare
from tts_maml.speaker_similarity import cosine, embed, embed_file

logger = logging.getLogger(__name__)

METRICS = ("query_loss", "mcd", "speaker_similarity", "f0_rmse", "f0_mean_error")
DEFAULT_STEPS = (0, 1, 2, 5, 10, 20, 50, 100)


@contextlib.contextmanager
def weights(model: torch.nn.Module, tensors: Dict[str, torch.Tensor]) -> Iterator[None]:
    """Run the block with ``tensors`` copied into the model's parameters, restored afterwards
    (synthesis calls the model's own inference, which takes no parameter dict)."""
    params = dict(model.named_parameters())
    saved = {n: params[n].detach().clone() for n in tensors}
    with torch.no_grad():
        for n, t in tensors.items():
            params[n].copy_(t)
    try:
        yield
    finally:
        with torch.no_grad():
            for n, t in saved.items():
                params[n].copy_(t)


def _split(clips: List[Dict[str, Any]], shots: int, queries: int, seed: int):
    order = np.random.default_rng([seed, 7]).permutation(len(clips))
    return [clips[i] for i in order[:shots]], [clips[i] for i in order[shots : shots + queries]]


def evaluate(
    models: Dict[str, str],
    held_out: str,
    out: str,
    shots: int = 5,
    steps: Sequence[int] = DEFAULT_STEPS,
    seeds: Sequence[int] = (0,),
    queries: int = 3,
    lr: Optional[float] = None,
    device: str = "cpu",
    overwrite: bool = False,
    progress: bool = True,
) -> Dict[str, Any]:
    """Evaluate ``models`` (name -> checkpoint with its ``config.json`` beside it) on the speakers of
    the VCTK-layout folder ``held_out``; write the report into ``out``. Returns the results."""
    from TTS.tts.configs.shared_configs import BaseDatasetConfig

    from tts_maml.recipes import load_samples

    steps = sorted(set(int(s) for s in steps))
    if not models:
        raise ValueError("--models: give at least one NAME=CHECKPOINT")
    if steps[0] < 0:
        raise ValueError(f"--steps must be >= 0, got {steps[0]}")
    check_output_folder(out, overwrite)
    configs = {}
    for name, path in models.items():
        config = os.path.join(os.path.dirname(os.path.abspath(path)), "config.json")
        if not os.path.isfile(path):
            raise FileNotFoundError(f"--models {name}={path}: the checkpoint does not exist")
        if not os.path.isfile(config):
            raise FileNotFoundError(f"--models {name}={path}: no config.json beside the checkpoint")
        configs[name] = config

    results: Dict[str, Any] = {"steps": steps, "shots": shots, "queries": queries, "seeds": list(seeds), "runs": []}
    # The episodes (splits, real clips, speaker centroids) are the same for every model: once.
    by_speaker: Dict[str, List[Dict[str, Any]]] = {}
    for sample in sorted(load_samples(BaseDatasetConfig(formatter="vctk", path=held_out)), key=lambda s: s["audio_file"]):
        by_speaker.setdefault(sample["speaker_name"], []).append(sample)
    if any(len(c) < shots + queries for c in by_speaker.values()):
        small = min(by_speaker, key=lambda k: len(by_speaker[k]))
        raise ValueError(f"{held_out}: speaker {small} has {len(by_speaker[small])} clips; "
                         f"--shots {shots} + {queries} query clips are needed")  # fmt: skip
    episodes = []
    for seed in seeds:
        for speaker, clips in by_speaker.items():
            support, query = _split(clips, shots, queries, seed)
            episodes.append({
                "seed": seed, "speaker": speaker, "support": support, "query": query,
                "centroid": np.mean([embed_file(c["audio_file"]) for c in support], axis=0),
                "reals": [sf.read(c["audio_file"], dtype="float32") for c in query],
            })  # fmt: skip
    ceiling = [cosine(embed(w, r), e["centroid"]) for e in episodes for w, r in e["reals"]]
    for name, path in models.items():
        loaded = load_for_adaptation(path, configs[name], lr=lr)
        model, backbone = loaded.model, loaded.backbone
        model.to(torch.device(device)).eval()
        if loaded.learner.inner_lrs is not None:
            loaded.learner.inner_lrs.to(torch.device(device))
        voice = model.speaker_manager.speaker_names[0]
        syn_rate = int(loaded.config.audio.sample_rate)
        loss = backbone.evaluation_loss(model)
        params = {n: p.detach() for n, p in model.named_parameters()}
        for episode in tqdm(episodes, desc=f"evaluate {name}", unit="speaker", disable=not progress):
            support_batch = backbone.make_batch(model, episode["support"])
            query_batch = backbone.make_batch(model, episode["query"])
            snapshots = {0: {n: params[n] for n in loaded.adapted}}

            def keep(step: int, fast: Dict[str, torch.Tensor]) -> None:
                if step in steps:
                    snapshots[step] = {n: t.detach().clone() for n, t in fast.items()}

            loaded.learner.adapt(support_batch, steps=steps[-1], lr=None if loaded.lr == "learned" else loaded.lr,
                                 on_step=keep)  # fmt: skip
            for step in steps:
                fast = snapshots[step]
                with torch.no_grad():
                    row: Dict[str, Any] = {"model": name, "speaker": episode["speaker"], "seed": episode["seed"],
                                           "step": step, "query_loss": float(loss({**params, **fast}, query_batch))}  # fmt: skip
                measures = []
                with weights(model, fast), torch.no_grad():
                    for clip, (real, rate) in zip(episode["query"], episode["reals"]):
                        # VITS samples noise at inference: the same noise for a sentence whatever
                        # the model and step, so that the metrics compare models, not draws.
                        with torch.random.fork_rng():
                            torch.manual_seed(zlib.crc32(clip["audio_file"].encode()))
                            wav = np.asarray(model.synthesize(clip["text"], speaker=voice, use_griffin_lim=True)["wav"])
                        m = compare((real, rate), (wav, syn_rate))
                        m["speaker_similarity"] = cosine(embed(wav, syn_rate), episode["centroid"])
                        measures.append(m)
                for key in ("mcd", "speaker_similarity", "f0_rmse", "f0_mean_error"):
                    row[key] = float(np.nanmean([m[key] for m in measures]))
                results["runs"].append(row)
    results["speaker_similarity_ceiling"] = float(np.mean(ceiling))
    results["summary"] = summarise(results)
    os.makedirs(out, exist_ok=True)
    atomic_write_text(json.dumps(results, indent=2), os.path.join(out, "results.json"))
    for metric in METRICS:
        _plot(results, metric, os.path.join(out, f"{metric}.png"))
    atomic_write_text(report_markdown(results), os.path.join(out, "report.md"))
    return results


def summarise(results: Dict[str, Any]) -> Dict[str, Dict[str, Dict[str, List[float]]]]:
    """``{model: {metric: {"mean": [...], "std": [...]}}}`` over speakers and seeds, per step."""
    summary: Dict[str, Dict[str, Dict[str, List[float]]]] = {}
    for name in dict.fromkeys(r["model"] for r in results["runs"]):
        summary[name] = {}
        for metric in METRICS:
            means, stds = [], []
            for step in results["steps"]:
                values = [r[metric] for r in results["runs"] if r["model"] == name and r["step"] == step]
                means.append(float(np.nanmean(values)))
                stds.append(float(np.nanstd(values)))
            summary[name][metric] = {"mean": means, "std": stds}
    return summary


def _plot(results: Dict[str, Any], metric: str, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = results["steps"]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, metrics in results["summary"].items():
        mean, std = np.array(metrics[metric]["mean"]), np.array(metrics[metric]["std"])
        ax.plot(steps, mean, marker="o", label=name)
        ax.fill_between(steps, mean - std, mean + std, alpha=0.2)
    if metric == "speaker_similarity":
        ax.axhline(results["speaker_similarity_ceiling"], color="grey", linestyle="--", label="real speaker")
    ax.set_xscale("symlog", linthresh=1)
    ax.set_xlabel("adaptation steps")
    ax.set_ylabel(metric.replace("_", " "))
    ax.legend()
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    plt.close(fig)


def report_markdown(results: Dict[str, Any]) -> str:
    """The markdown table: per step, each model's mean of each metric."""
    names = list(results["summary"])
    lines = [
        "# Adaptation to held-out speakers",
        "",
        f"{results['shots']} support clips per speaker, {results['queries']} unseen query clips, "
        f"seeds {results['seeds']}; mean over speakers and seeds. Speaker similarity of the real "
        f"query clips (ceiling): {results['speaker_similarity_ceiling']:.3f}.",
        "",
        "| step | " + " | ".join(f"{n} {m}" for m in METRICS for n in names) + " |",
        "|---:|" + "---:|" * (len(METRICS) * len(names)),
    ]
    for i, step in enumerate(results["steps"]):
        cells = [f"{results['summary'][n][m]['mean'][i]:.3f}" for m in METRICS for n in names]
        lines.append(f"| {step} | " + " | ".join(cells) + " |")
    lines += ["", "Lower is better for query_loss, mcd and the F0 errors; higher for speaker_similarity.", ""]
    lines += [f"![{m}]({m}.png)" for m in METRICS]
    return "\n".join(lines) + "\n"
