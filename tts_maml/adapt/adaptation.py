"""Few-shot adaptation: a meta-trained model + a folder of clips -> a new voice.

:func:`adapt` is short wiring over four steps, each usable on its own:

1. **load** (:func:`load_for_adaptation`): the model, its config and its inner loop, as
   meta-training left them: the tensors it adapted, its learned inner rates (Meta-SGD) unless a
   learning rate is given;
2. **prepare batches** (:func:`split_clips`, :func:`prepare_batches`): the clips, read and checked
   (:mod:`tts_maml.adapt.clips`), split (seeded) into support and held-out clips, as batches;
3. **adapt** (:func:`adapt_with_early_stopping` over :func:`adapt_steps`): the same functional
   inner loop as meta-training (:meth:`tts_maml.meta.learner.MetaLearner.adapt`) on the support
   batch, or, with ``optimizer="adam"``, Adam over the same tensors from the same start
   (:func:`tts_maml.adapt.fine_tuning.fine_tune`); with held-out clips, scored after every step,
   keeping the weights of the step with the lowest held-out loss (early stopping). ``tts-maml
   evaluate`` adapts by :func:`adapt_steps` too; with ``fit_griffin_lim``, the Griffin-Lim exponent
   is then fitted to the support clips (:mod:`tts_maml.adapt.vocoder_fit`);
4. **export** (:func:`export`): into an empty folder (or with ``overwrite``), each file atomically:

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
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

import numpy as np
import soundfile as sf
import torch
from tqdm import tqdm

from tts_maml.adapt.clips import Clip, read_clips
from tts_maml.adapt.fast_weights import weights_in
from tts_maml.adapt.fine_tuning import fine_tune
from tts_maml.adapt.vocoder_fit import PowerChoice, check_fits_griffin_lim, fit_griffin_lim_power
from tts_maml.adapt.voice_delta import Voice, apply_voice
from tts_maml.backbones import get_backbone
from tts_maml.checkpoint import MamlEntry, check_state_dict, load_checkpoint
from tts_maml.config import load_config
from tts_maml.files import atomic_save, atomic_write_text, check_output_folder, sha256_file
from tts_maml.meta.learner import MetaLearner
from tts_maml.plots import plot_adaptation_curve
from tts_maml.speakers.similarity import embed

logger = logging.getLogger(__name__)

OUTPUT_FILES = ("adapted.pth", "config.json", "voice.pth", "curve.json", "curve.png")
# How adaptation steps: the meta-learned inner loop (plain gradient steps at the inner rate), or Adam.
OPTIMIZERS = ("sgd", "adam")
OnStep = Callable[[int, Dict[str, torch.Tensor]], None]


def lr_label(lr: Optional[float]) -> Union[str, float]:
    """How files and reports name an inner learning rate: ``"learned"`` for None (the learned
    Meta-SGD rates), else the rate itself.

    >>> lr_label(None), lr_label(0.01)
    ('learned', 0.01)
    """
    return "learned" if lr is None else lr


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
        lr: the learning rate used (None: the learned Meta-SGD rates).
        files: the written files by name (``OUTPUT_FILES``).
        griffin_lim: the fitted Griffin-Lim exponent and every exponent's score (None: not fitted;
            the exported config keeps the model's ``audio.power``).
        held_out: with held-out clips, what the judges say of their sentences spoken before and
            after adaptation, beside the real clips (:func:`tts_maml.adapt.held_out.judge_held_out`,
            also written as ``held_out.json``); None without held-out clips.
    """

    out: str
    best_step: int
    support_losses: List[float]
    val_losses: List[float]
    adapted: List[str]
    voice_bytes: int
    lr: Optional[float]
    files: Dict[str, str] = field(default_factory=dict)
    griffin_lim: Optional[PowerChoice] = None
    held_out: Optional[Dict[str, Any]] = None


@dataclass
class LoadedModel:
    """A meta-trained checkpoint ready to adapt (see :func:`load_for_adaptation`).

    ``lr`` is the inner learning rate: None for the learned Meta-SGD rates, else the rate.
    ``optimizer`` is how a step moves the tensors (``OPTIMIZERS``): ``"sgd"``, the inner loop
    meta-training ran, or ``"adam"`` at ``lr``.
    """

    config: Any
    backbone: Any
    model: torch.nn.Module
    checkpoint: Dict[str, Any]
    learner: MetaLearner
    adapted: List[str]
    lr: Optional[float]
    optimizer: str = "sgd"

    def to(self, device: str) -> "LoadedModel":
        """Move the model (in eval mode) and its learned inner rates to ``device``; returns self."""
        device_t = torch.device(device)
        self.model.to(device_t).eval()
        if self.learner.inner_lrs is not None:
            self.learner.inner_lrs.to(device_t)
        return self


def load_for_adaptation(model_path: str, config_path: str, adapter_preset: Optional[str] = None,
                        lr: Optional[float] = None, optimizer: str = "sgd") -> LoadedModel:  # fmt: skip
    """Build the model of ``config_path``, load ``model_path`` into it (refusing weights that do not
    fit the config, naming the first tensor), and set up the inner loop as meta-training did: the
    tensors it adapted (or ``adapter_preset``'s), its learned inner rates (Meta-SGD) unless ``lr``.
    ``optimizer="adam"`` steps with Adam at ``lr`` instead (it has no rate of its own: ``lr`` is needed)."""
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"--optimizer must be one of {', '.join(OPTIMIZERS)}, got {optimizer!r}")
    if optimizer == "adam" and lr is None:
        raise ValueError("--optimizer adam needs --lr: the model's inner rate is for plain gradient steps, not Adam "
                         "(1e-4 fine-tunes --adapter-preset generator)")  # fmt: skip
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
        lr_used: Optional[float] = None
    else:
        if learner.inner_lrs is not None and lr is None and learned:
            logger.info("the learned inner rates are for other tensors: adapting with lr=%g", config.maml.inner_lr)
        lr_used = float(lr if lr is not None else config.maml.inner_lr)
    return LoadedModel(config, backbone, model, checkpoint, learner, adapted, lr_used, optimizer)


def split_clips(clips: Sequence[Clip], val_clips: int, seed: int = 0, source: str = "clips") -> List[str]:
    """The role of each clip, ``"support"`` or ``"validation"``: ``val_clips`` of them, drawn with
    ``seed``, are held out. Raises naming ``source`` (the clips folder) when too few are left.

    >>> split_clips([None] * 4, val_clips=1, seed=0)
    ['validation', 'support', 'support', 'support']
    """
    if len(clips) < val_clips + 1:
        raise ValueError(
            f"{source}: {len(clips)} usable clip(s), but --val-clips {val_clips} needs at least {val_clips + 1}"
        )
    order = torch.randperm(len(clips), generator=torch.Generator().manual_seed(seed)).tolist()
    val_ids = set(order[:val_clips])
    return ["validation" if i in val_ids else "support" for i in range(len(clips))]


@dataclass
class ClipBatches:
    """Clips as the batches adaptation runs on (see :func:`prepare_batches`).

    Args:
        clips: every clip, in the order read.
        roles: ``"support"`` or ``"validation"`` per clip (:func:`split_clips`).
        support: the batch of the support clips.
        validation: the batch of the held-out clips (None without any).
    """

    clips: List[Clip]
    roles: List[str]
    support: Any
    validation: Optional[Any]


def clip_samples(clips: Sequence[Clip], folder: str, rate: int, name: str) -> List[Dict[str, Any]]:
    """Write the processed clips as wavs into ``folder`` (Coqui's datasets read files) and describe
    them as Coqui samples of the speaker ``name``."""
    samples = []
    for clip in clips:
        path = os.path.join(folder, clip.clip_id + ".wav")
        sf.write(path, clip.wav, rate, subtype="FLOAT")
        samples.append({"text": clip.text, "audio_file": path, "speaker_name": name, "root_path": folder,
                        "audio_unique_name": f"{name}#{clip.clip_id}", "language": ""})  # fmt: skip
    return samples


def prepare_batches(loaded: LoadedModel, clips: Sequence[Clip], roles: Sequence[str],
                    name: str = "voice") -> ClipBatches:  # fmt: skip
    """The support and held-out batches of ``clips`` by ``roles``, on the model's device.

    The batches are built from wavs in a temporary folder, removed afterwards; the clips'
    phonemes are cached there too, not in the training run's cache.
    """
    config = loaded.config
    work = tempfile.mkdtemp(prefix="tts_maml_adapt_")
    training_cache, config.phoneme_cache_path = config.phoneme_cache_path, os.path.join(work, "phonemes")
    try:
        samples = clip_samples(clips, work, int(config.audio.sample_rate), name)
        support = [s for s, role in zip(samples, roles) if role == "support"]
        held = [s for s, role in zip(samples, roles) if role == "validation"]
        support_batch = loaded.backbone.make_batch(loaded.model, support)
        val_batch = loaded.backbone.make_batch(loaded.model, held) if held else None
    finally:
        config.phoneme_cache_path = training_cache
        shutil.rmtree(work, ignore_errors=True)
    return ClipBatches(list(clips), list(roles), support_batch, val_batch)


def adapt_steps(loaded: LoadedModel, support: Any, steps: int, on_step: OnStep) -> Dict[str, torch.Tensor]:
    """Adapt ``loaded`` on the ``support`` batch for ``steps`` inner steps, at ``loaded.lr``
    (``loaded.optimizer`` ``"adam"``: Adam steps, :func:`tts_maml.adapt.fine_tuning.fine_tune`).

    ``on_step(0, weights)`` sees where adaptation starts (``learner.start_weights``), then
    ``on_step(k, fast)`` the fast weights after each step k. Returns the last fast weights
    (detached); the model's parameters are not changed. This is the one adaptation step of
    ``tts-maml adapt`` (:func:`adapt_with_early_stopping`) and ``tts-maml evaluate``.
    Raises :class:`tts_maml.meta.inner_loop.NonFiniteError` on a diverging step.
    """
    on_step(0, loaded.learner.start_weights(support))
    if loaded.optimizer == "adam":
        return fine_tune(loaded, support, steps, loaded.lr, on_step=on_step)
    return loaded.learner.adapt(support, steps=steps, lr=loaded.lr, on_step=on_step).fast


@dataclass
class AdaptedWeights:
    """What :func:`adapt_with_early_stopping` kept.

    Args:
        fast: the adapted tensors of the kept step (detached).
        best_step: that step (0: where adaptation starts).
        steps: the steps run.
        support_losses: support loss at steps 0..steps.
        val_losses: held-out loss at steps 0..steps (empty without a held-out batch).
    """

    fast: Dict[str, torch.Tensor]
    best_step: int
    steps: int
    support_losses: List[float]
    val_losses: List[float]


def adapt_with_early_stopping(loaded: LoadedModel, support: Any, steps: int, validation: Optional[Any] = None,
                              progress: bool = True) -> AdaptedWeights:  # fmt: skip
    """Adapt for ``steps`` steps (:func:`adapt_steps`), scoring the support (and ``validation``)
    batch at every step; keep the step with the lowest held-out loss, or the last step without
    ``validation``."""
    loss = loaded.backbone.evaluation_loss(loaded.model)
    params = {n: p.detach() for n, p in loaded.model.named_parameters()}
    key = "val" if validation is not None else "support"
    scores: List[Dict[str, float]] = []
    best: Dict[str, Any] = {"step": 0, "fast": {}}
    bar = tqdm(total=steps, desc="adapt", unit="step", disable=not progress)

    def on_step(step: int, fast: Dict[str, torch.Tensor]) -> None:
        fast = {n: t.detach() for n, t in fast.items()}
        with torch.no_grad():
            now = {"support": float(loss({**params, **fast}, support))}
            if validation is not None:
                now["val"] = float(loss({**params, **fast}, validation))
        scores.append(now)
        if step == 0 or validation is None or now[key] < scores[best["step"]][key]:
            best.update(step=step, fast={n: t.clone() for n, t in fast.items()})
        if step > 0:
            bar.set_postfix({k + "_loss": f"{v:.4f}" for k, v in now.items()})
            bar.update(1)

    with bar:
        adapt_steps(loaded, support, steps, on_step)
    return AdaptedWeights(fast=best["fast"], best_step=best["step"], steps=steps,
                          support_losses=[s["support"] for s in scores],
                          val_losses=[s["val"] for s in scores] if validation is not None else [])  # fmt: skip


def fit_support_griffin_lim(loaded: LoadedModel, fast: Dict[str, torch.Tensor], batches: ClipBatches,
                            seed: int = 0) -> PowerChoice:  # fmt: skip
    """The Griffin-Lim exponent fitted (:func:`tts_maml.adapt.vocoder_fit.fit_griffin_lim_power`) to
    the support clips: the adapted model (``fast`` in) speaks their sentences, scored against the
    centroid of their embeddings."""
    support = [c for c, role in zip(batches.clips, batches.roles) if role == "support"]
    rate = int(loaded.config.audio.sample_rate)
    centroid = np.mean([embed(c.wav, rate) for c in support], axis=0)
    speaker = loaded.model.speaker_manager.speaker_names[0]
    with weights_in(loaded.model, fast):
        choice = fit_griffin_lim_power(loaded.model, speaker, [c.text for c in support], centroid, seed=seed)
    logger.info("Griffin-Lim exponent fitted to the support clips: %g (%s)", choice.power,
                ", ".join(f"{p:g}: {v:.3f}" for p, v in choice.scores.items()))  # fmt: skip
    return choice


@dataclass
class ExportedVoice:
    """What :func:`export` wrote: the voice, the files by name, and the size of ``voice.pth``."""

    voice: Voice
    files: Dict[str, str]
    voice_bytes: int


def export(loaded: LoadedModel, weights: AdaptedWeights, batches: ClipBatches, model_path: str, out: str,
           name: str = "voice", seed: int = 0, overwrite: bool = False,
           griffin_lim: Optional[PowerChoice] = None) -> ExportedVoice:  # fmt: skip
    """Write ``OUTPUT_FILES`` into ``out`` (module docstring), each atomically: the kept weights as
    ``voice.pth`` with their provenance (base checkpoint ``model_path``, clips and their roles,
    steps, learning rate, loss curve, ``seed``, a fitted Griffin-Lim exponent), merged into
    ``adapted.pth`` with ``config.json`` (speaker ``name``; ``audio.power`` the fitted exponent,
    if any), and the loss curve."""
    curve = {"support_loss": weights.support_losses, "val_loss": weights.val_losses, "best_step": weights.best_step,
             "steps": weights.steps, "lr": lr_label(loaded.lr), "optimizer": loaded.optimizer}  # fmt: skip
    clip_roles = [
        {"file": os.path.abspath(c.path), "text": c.text, "role": role,
         "source_rate": c.source_rate, "channels": c.channels, "gain_db": round(c.gain_db, 2)}  # fmt: skip
        for c, role in zip(batches.clips, batches.roles)
    ]
    voice = Voice(
        name=name,
        tensors={n: t.detach().cpu() for n, t in weights.fast.items()},
        base_sha256=sha256_file(model_path),
        backbone=loaded.backbone.name,
        provenance={"base_file": os.path.basename(model_path), "adapted": loaded.adapted, "steps": weights.steps,
                    "best_step": weights.best_step, "lr": lr_label(loaded.lr), "optimizer": loaded.optimizer,
                    "loss_curve": curve,
                    "clips": clip_roles, "seed": seed,
                    **({"griffin_lim_power": griffin_lim.power,
                        "griffin_lim_scores": {str(k): v for k, v in griffin_lim.scores.items()}}
                       if griffin_lim else {})},  # fmt: skip
    )
    adapted_checkpoint = apply_voice(loaded.checkpoint, voice)
    # Checked again: the folder may have filled while adaptation ran.
    check_output_folder(out, overwrite)
    os.makedirs(out, exist_ok=True)
    files = {f: os.path.join(out, f) for f in OUTPUT_FILES}
    atomic_save(voice.to_state(), files["voice.pth"])
    atomic_save(adapted_checkpoint, files["adapted.pth"])
    loaded.config.speakers = [name]
    if griffin_lim is not None:
        loaded.config.audio.power = griffin_lim.power
    atomic_write_text(json.dumps(loaded.config.to_dict(), indent=4), files["config.json"])
    atomic_write_text(json.dumps(curve, indent=2), files["curve.json"])
    plot_adaptation_curve(curve, files["curve.png"])
    return ExportedVoice(voice, files, os.path.getsize(files["voice.pth"]))


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
    optimizer: str = "sgd",
    fit_griffin_lim: bool = False,
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
        val_clips: clips held out for early stopping (0: export the last step); their sentences
            are then also spoken and judged (``held_out.json``, :mod:`tts_maml.adapt.held_out`).
        name: the voice's name (its speaker name in the exported config).
        device: ``"cpu"`` or ``"cuda"`` (``"cuda:1"``...).
        overwrite: replace the files of a non-empty ``out``.
        seed: seed of the support/held-out split.
        progress: show a progress bar.
        optimizer: ``"sgd"``, the meta-learned inner loop, or ``"adam"`` at ``lr`` (needed): for a
            voice far from the training speakers, with ``adapter_preset="generator"``.
        fit_griffin_lim: after adaptation, fit the Griffin-Lim exponent to the support clips
            (:func:`fit_support_griffin_lim`) and export it as ``audio.power``.
    """
    if steps < 0:
        raise ValueError(f"--steps must be >= 0, got {steps}")
    if val_clips < 0:
        raise ValueError(f"--val-clips must be >= 0, got {val_clips}")
    if not name or any(c in name for c in "/\\\n"):
        raise ValueError(f"--name {name!r} is not a usable voice name")
    check_output_folder(out, overwrite)
    loaded = load_for_adaptation(model_path, config_path, adapter_preset=adapter_preset, lr=lr, optimizer=optimizer)
    if fit_griffin_lim:
        check_fits_griffin_lim(loaded.backbone)
    # Read and check every clip before any step runs.
    clip_list = read_clips(clips, loaded.config, loaded.model.tokenizer, loaded.model.ap)
    roles = split_clips(clip_list, val_clips, seed, source=clips)
    batches = prepare_batches(loaded.to(device), clip_list, roles, name)
    weights = adapt_with_early_stopping(loaded, batches.support, steps, batches.validation, progress)
    fitted = fit_support_griffin_lim(loaded, weights.fast, batches, seed) if fit_griffin_lim else None
    exported = export(loaded, weights, batches, model_path, out, name=name, seed=seed, overwrite=overwrite,
                      griffin_lim=fitted)  # fmt: skip
    held_out = _judge_held_out(loaded, weights, batches, fitted, seed, out, exported.files) if val_clips else None
    logger.info(
        "adapted %d tensors (%d values) in %d steps; exported step %d; voice.pth is %.1f KB", len(loaded.adapted),
        sum(t.numel() for t in exported.voice.tensors.values()), steps, weights.best_step, exported.voice_bytes / 1024,
    )  # fmt: skip
    return AdaptationResult(out=out, best_step=weights.best_step, support_losses=weights.support_losses,
                            val_losses=weights.val_losses, adapted=loaded.adapted, voice_bytes=exported.voice_bytes,
                            lr=loaded.lr, files=exported.files, griffin_lim=fitted, held_out=held_out)  # fmt: skip


def _judge_held_out(loaded: LoadedModel, weights: AdaptedWeights, batches: ClipBatches, fitted: Optional[PowerChoice],
                    seed: int, out: str, files: Dict[str, str]) -> Dict[str, Any]:  # fmt: skip
    # The judges' summary of the held-out clips, written as held_out.json and added to ``files``.
    from tts_maml.adapt.held_out import HELD_OUT_FILE, judge_held_out

    scores = judge_held_out(loaded, weights.fast, batches, power=fitted.power if fitted else None, seed=seed)
    files[HELD_OUT_FILE] = os.path.join(out, HELD_OUT_FILE)
    atomic_write_text(json.dumps(scores, indent=2), files[HELD_OUT_FILE])
    return scores
