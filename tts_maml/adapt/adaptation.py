"""Few-shot adaptation: a meta-trained model + a folder of clips -> a new voice.

:func:`adapt` runs the same functional inner loop as meta-training
(:meth:`tts_maml.meta.learner.MetaLearner.adapt`) on the support clips, over the tensors that the
model was meta-trained to adapt, with the learned inner learning rates when the checkpoint has
them (Meta-SGD) and ``lr`` otherwise. With ``val_clips`` it holds clips out, scores them after
every step and keeps the weights of the step with the lowest held-out loss (early stopping).

It writes, into an empty folder (or with ``overwrite``), each file atomically:

- ``adapted.pth`` + ``config.json``: a plain Coqui checkpoint of the base architecture, the new
  voice in the model's one voice slot, named ``name`` (``tts --model_path adapted.pth
  --config_path config.json`` speaks it, no speaker flag needed);
- ``voice.pth``: only the adapted tensors + provenance (:mod:`tts_maml.adapt.voice_delta`);
- ``curve.json`` + ``curve.png``: support and held-out loss per step.

Example:
    >>> from tts_maml.adapt.adaptation import adapt
    >>> result = adapt("run/best_model.pth", "run/config.json", "clips/", "out/", steps=20, val_clips=2)  # doctest: +SKIP
    >>> result.best_step  # doctest: +SKIP
    14
"""

import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import soundfile as sf
import torch
from tqdm import tqdm

from tts_maml.adapt.clips import Clip, read_clips
from tts_maml.adapt.voice_delta import Voice, apply_voice
from tts_maml.backbones import get_backbone
from tts_maml.checkpoint import MamlEntry, check_state_dict, load_checkpoint
from tts_maml.config import load_config
from tts_maml.files import atomic_save, atomic_write, atomic_write_text, check_output_folder, sha256_file
from tts_maml.meta.learner import MetaLearner

logger = logging.getLogger(__name__)

OUTPUT_FILES = ("adapted.pth", "config.json", "voice.pth", "curve.json", "curve.png")


@dataclass
class AdaptationResult:
    """What :func:`adapt` did.

    Args:
        out: the output folder.
        best_step: the exported step (0 = the meta-learned weights unchanged).
        support_losses: support loss at steps 0..steps.
        val_losses: held-out loss at steps 0..steps (empty without validation clips).
        adapted: names of the adapted tensors.
        voice_bytes: size of ``voice.pth``.
        lr: the learning rate used (``"learned"`` for Meta-SGD rates).
    """

    out: str
    best_step: int
    support_losses: List[float]
    val_losses: List[float]
    adapted: List[str]
    voice_bytes: int
    lr: Any
    files: Dict[str, str] = field(default_factory=dict)


def _samples(clips: List[Clip], folder: str, rate: int, name: str) -> List[Dict[str, Any]]:
    """Write the processed clips as wavs (Coqui's datasets read files) and describe them as samples."""
    samples = []
    for clip in clips:
        path = os.path.join(folder, clip.clip_id + ".wav")
        sf.write(path, clip.wav, rate, subtype="FLOAT")
        samples.append({"text": clip.text, "audio_file": path, "speaker_name": name, "root_path": folder,
                        "audio_unique_name": f"{name}#{clip.clip_id}", "language": ""})  # fmt: skip
    return samples


def _plot(curve: Dict[str, Any], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    steps = list(range(len(curve["support_loss"])))
    ax.plot(steps, curve["support_loss"], label="support loss")
    if curve["val_loss"]:
        ax.plot(steps, curve["val_loss"], label="held-out loss")
    ax.axvline(curve["best_step"], color="grey", linestyle="--", label=f"exported step {curve['best_step']}")
    ax.set_xlabel("adaptation step")
    ax.set_ylabel("task loss")
    ax.legend()
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    plt.close(fig)


@dataclass
class LoadedModel:
    """A meta-trained checkpoint ready to adapt (see :func:`load_for_adaptation`)."""

    config: Any
    backbone: Any
    model: torch.nn.Module
    checkpoint: Dict[str, Any]
    learner: MetaLearner
    adapted: List[str]
    lr: Any


def load_for_adaptation(model_path: str, config_path: str, adapter_preset: Optional[str] = None,
                        lr: Optional[float] = None) -> LoadedModel:  # fmt: skip
    """Build the model of ``config_path``, load ``model_path`` into it (refusing weights that do not
    fit the config, naming the first tensor), and set up the inner loop as meta-training did: the
    tensors it adapted (or ``adapter_preset``'s), its learned inner rates (Meta-SGD) unless ``lr``."""
    for path, what in ((model_path, "--model_path"), (config_path, "--config_path")):
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{what} {path} does not exist")
    config = load_config(config_path)
    backbone = get_backbone(config)
    model = backbone.build_model()
    checkpoint = load_checkpoint(model_path)
    check_state_dict(model, checkpoint["model"], model_path)
    model.load_state_dict(checkpoint["model"])
    extra = MamlEntry.from_checkpoint(checkpoint, model_path) or MamlEntry()
    if adapter_preset is not None:
        config.maml.adapter_preset = adapter_preset
        config.maml.target_modules = None
        adapted = backbone.adapter_names(model)
    elif extra.adapted:
        adapted = list(extra.adapted)
    else:
        adapted = backbone.adapter_names(model)
    learner = backbone.make_learner(model, adapted)
    learned = extra.inner_lrs
    if lr is None and learner.inner_lrs is not None and learned and set(learned) == set(adapted):
        with torch.no_grad():
            for tensor_name, rates in learner.inner_lrs.as_dict().items():
                rates.copy_(learned[tensor_name])
        lr_used: Any = "learned"
    else:
        if learner.inner_lrs is not None and lr is None and learned:
            logger.info("the learned inner rates are for other tensors: adapting with lr=%g", config.maml.inner_lr)
        lr_used = float(lr if lr is not None else config.maml.inner_lr)
    return LoadedModel(config, backbone, model, checkpoint, learner, adapted, lr_used)


def adapt(
    model_path: str,
    config_path: str,
    clips: str,
    out: str,
    steps: int = 50,
    lr: Optional[float] = None,
    adapter_preset: Optional[str] = None,
    val_clips: int = 0,
    name: str = "voice",
    device: str = "cpu",
    overwrite: bool = False,
    seed: int = 0,
    progress: bool = True,
) -> AdaptationResult:
    """Adapt a meta-trained model to the voice in ``clips`` and export it to ``out``.

    Args:
        model_path: the meta-trained checkpoint (``best_model.pth``...).
        config_path: its ``config.json``.
        clips: folder of clips + transcripts (see :mod:`tts_maml.adapt.clips`).
        out: output folder (created; must be empty unless ``overwrite``).
        steps: adaptation steps.
        lr: inner learning rate; default: the learned rates of a Meta-SGD checkpoint, else the
            config's ``maml.inner_lr``.
        adapter_preset: adapt this preset instead of the tensors the model was meta-trained to adapt.
        val_clips: clips held out for early stopping (0: export the last step).
        name: the voice's name (its speaker name in the exported config).
        device: ``"cpu"`` or ``"cuda"`` (``"cuda:1"``...).
        overwrite: replace the files of a non-empty ``out``.
        seed: seed of the support/held-out split.
        progress: show a progress bar.
    """
    if steps < 0:
        raise ValueError(f"--steps must be >= 0, got {steps}")
    if val_clips < 0:
        raise ValueError(f"--val-clips must be >= 0, got {val_clips}")
    if not name or any(c in name for c in "/\\\n"):
        raise ValueError(f"--name {name!r} is not a usable voice name")
    check_output_folder(out, overwrite)

    loaded = load_for_adaptation(model_path, config_path, adapter_preset=adapter_preset, lr=lr)
    config, backbone, model, checkpoint = loaded.config, loaded.backbone, loaded.model, loaded.checkpoint
    learner, adapted, lr_used = loaded.learner, loaded.adapted, loaded.lr

    # Read and check every clip before any step runs.
    clip_list = read_clips(clips, config, model.tokenizer, model.ap)
    if len(clip_list) < val_clips + 1:
        raise ValueError(
            f"{clips}: {len(clip_list)} usable clip(s), but --val-clips {val_clips} needs at least {val_clips + 1}"
        )
    order = torch.randperm(len(clip_list), generator=torch.Generator().manual_seed(seed)).tolist()
    val_ids = set(order[:val_clips])
    device_t = torch.device(device)
    model.to(device_t).eval()
    if learner.inner_lrs is not None:
        learner.inner_lrs.to(device_t)

    work = tempfile.mkdtemp(prefix="tts_maml_adapt_")
    # Phonemes of the new clips are cached in the work folder, not in the training run's cache.
    training_cache, config.phoneme_cache_path = config.phoneme_cache_path, os.path.join(work, "phonemes")
    try:
        samples = _samples(clip_list, work, int(config.audio.sample_rate), name)
        support = [s for i, s in enumerate(samples) if i not in val_ids]
        held = [s for i, s in enumerate(samples) if i in val_ids]
        support_batch = backbone.make_batch(model, support)
        val_batch = backbone.make_batch(model, held) if held else None
        loss = backbone.evaluation_loss(model)
        params = {n: p.detach() for n, p in model.named_parameters()}

        def score(fast: Dict[str, torch.Tensor]) -> Dict[str, float]:
            with torch.no_grad():
                result = {"support": float(loss({**params, **fast}, support_batch))}
                if val_batch is not None:
                    result["val"] = float(loss({**params, **fast}, val_batch))
            return result

        initial = learner.start_weights(support_batch)
        scores = [score(initial)]
        best = {"step": 0, "fast": {n: t.clone() for n, t in initial.items()}}
        bar = tqdm(total=steps, desc="adapt", unit="step", disable=not progress)

        def on_step(step: int, fast: Dict[str, torch.Tensor]) -> None:
            now = score({n: t.detach() for n, t in fast.items()})
            scores.append(now)
            key = "val" if val_batch is not None else "support"
            if val_batch is None or now[key] < scores[best["step"]][key]:
                best.update(step=step, fast={n: t.detach().clone() for n, t in fast.items()})
            bar.set_postfix({k + "_loss": f"{v:.4f}" for k, v in now.items()})
            bar.update(1)

        with bar:
            learner.adapt(support_batch, steps=steps, lr=None if lr_used == "learned" else lr_used, on_step=on_step)
    finally:
        config.phoneme_cache_path = training_cache
        shutil.rmtree(work, ignore_errors=True)

    curve = {
        "support_loss": [s["support"] for s in scores],
        "val_loss": [s["val"] for s in scores] if val_batch is not None else [],
        "best_step": best["step"],
        "steps": steps,
        "lr": lr_used,
    }
    clip_roles = [
        {"file": os.path.abspath(c.path), "text": c.text, "role": "validation" if i in val_ids else "support",
         "source_rate": c.source_rate, "channels": c.channels, "gain_db": round(c.gain_db, 2)}  # fmt: skip
        for i, c in enumerate(clip_list)
    ]
    voice = Voice(
        name=name,
        tensors={n: t.detach().cpu() for n, t in best["fast"].items()},
        base_sha256=sha256_file(model_path),
        backbone=backbone.name,
        provenance={
            "base_file": os.path.basename(model_path),
            "adapted": adapted,
            "steps": steps,
            "best_step": best["step"],
            "lr": lr_used,
            "loss_curve": curve,
            "clips": clip_roles,
            "seed": seed,
        },
    )
    adapted_checkpoint = apply_voice(checkpoint, voice)
    check_output_folder(out, overwrite)
    os.makedirs(out, exist_ok=True)
    files = {f: os.path.join(out, f) for f in OUTPUT_FILES}
    atomic_save(voice.to_state(), files["voice.pth"])
    atomic_save(adapted_checkpoint, files["adapted.pth"])
    config.speakers = [name]
    atomic_write_text(json.dumps(config.to_dict(), indent=4), files["config.json"])
    atomic_write_text(json.dumps(curve, indent=2), files["curve.json"])
    _plot(curve, files["curve.png"])
    size = os.path.getsize(files["voice.pth"])
    logger.info(
        "adapted %d tensors (%d values) in %d steps; exported step %d; voice.pth is %.1f KB",
        len(adapted), sum(t.numel() for t in voice.tensors.values()), steps, best["step"], size / 1024,
    )  # fmt: skip
    return AdaptationResult(
        out=out,
        best_step=best["step"],
        support_losses=curve["support_loss"],
        val_losses=curve["val_loss"],
        adapted=adapted,
        voice_bytes=size,
        lr=lr_used,
        files=files,
    )
