"""What every backbone provides (:class:`Backbone`), and the shared batching through Coqui's dataset.

The voice representation: a backbone model has Coqui's speaker-embedding table with a single row,
the *voice slot* (``config.speakers == [VOICE_NAME]``). Every task of meta-training uses that slot,
so its embedding is a meta-learned initial voice code that the inner loop adapts along with the
conditioning layers; an adapted checkpoint carries the new voice in the same slot, and Coqui's
``tts`` speaks it with no speaker flag.

A backbone reads its config and never changes it: the voice-slot fields are set where a config is
built (the presets, the ``Maml*Config`` defaults, ``tts-maml convert``), and a config without them
is refused, naming the field.
"""

import abc
import contextlib
import functools
import logging
import zlib
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Type

import torch
import torch.nn.functional as F
from coqpit import Coqpit
from torch import Tensor, nn

from tts_maml.config import VOICE_NAME
from tts_maml.meta.learner import MetaLearner
from tts_maml.meta.parameter_selection import AdapterPreset, resolve_adapter
from tts_maml.speakers.d_vectors import DVectorProjection, voice_vector

logger = logging.getLogger(__name__)

Batch = Dict[str, Any]


def preset_fields() -> Dict[str, Any]:
    """What every tts_maml preset config shares (a fresh dict): the one voice slot, English espeak
    phonemes (as Coqui's VCTK recipes), and no mixed precision (second-order gradients in float16
    lose too much)."""
    return {
        "speakers": [VOICE_NAME],
        "use_phonemes": True,
        "phonemizer": "espeak",
        "phoneme_language": "en",
        "text_cleaner": "english_cleaners",
        "mixed_precision": False,
    }


def apply_overrides(config: Any, overrides: Dict[str, Any]) -> Any:
    """Set config fields from keyword arguments (the presets' ``**overrides``); returns ``config``."""
    for key, value in overrides.items():
        setattr(config, key, value)
    return config


class Backbone(abc.ABC):
    """A Coqui acoustic model as tts_maml meta-learns it.

    Args:
        config: the model's Coqui config with a ``maml`` section (``MamlVitsConfig``...).

    Subclasses set ``name`` (Coqui's ``config.model``), ``config_class`` (its ``Maml*Config``),
    ``presets`` (adapter presets) and ``never_adapt`` (module prefixes no preset or pattern may
    select), and implement :meth:`dataset`, :meth:`format_batch` and :meth:`task_losses`.

    Raises ``ValueError`` naming the field when the config does not describe a one-voice-slot model
    (``speakers``, ``use_speaker_embedding``); the config is not changed.
    """

    name: str = ""
    config_class: Type[Coqpit] = Coqpit
    presets: Dict[str, AdapterPreset] = {}
    never_adapt: Tuple[str, ...] = ()
    # Whether the backbone has a discriminator that can train in the outer loop (VITS).
    supports_discriminator: bool = False
    # Whether the model predicts a mel spectrogram that Coqui speaks with Griffin-Lim (Glow-TTS),
    # whose exponent tts_maml.adapt.vocoder_fit can fit to a voice; VITS speaks waveforms.
    speaks_through_griffin_lim: bool = False
    # Whether the task loss draws random choices (VITS' waveform segments): then an evaluation
    # averages several seeded draws instead of trusting one.
    stochastic_loss: bool = False
    # The voice slot's parameter: Coqui's one-row speaker table.
    slot_name: str = "emb_g.weight"

    def __init__(self, config: Coqpit) -> None:
        self.config = config
        self.check_config(config)

    @staticmethod
    def check_config(config: Coqpit) -> None:
        """Raise ``ValueError`` naming the field unless ``config`` describes a one-voice-slot model:
        one name in ``speakers`` (Coqui builds its speaker table from it) and a speaker table
        (``use_speaker_embedding``, also in ``model_args`` where the model keeps one there)."""
        if len(config.speakers or []) != 1:
            raise ValueError(
                f"config.speakers must hold the one voice slot (e.g. [{VOICE_NAME!r}], as the presets and "
                f"`tts-maml convert` set it), got {config.speakers!r}: tts_maml models keep a single "
                "speaker-embedding row that the inner loop adapts"
            )
        owners = [("config", config)]
        if "model_args" in config:
            owners.append(("config.model_args", config.model_args))
        for where, owner in owners:
            if "use_speaker_embedding" in owner and not owner.use_speaker_embedding:
                raise ValueError(
                    f"{where}.use_speaker_embedding is False: the voice slot is a speaker-embedding row "
                    "(set it to True where the config is built, as the presets and `tts-maml convert` do)"
                )

    # -------------------------------------------------------------- model
    def build_model(self) -> nn.Module:
        """The Coqui model, built exactly as Coqui's ``tts`` builds it from the same config."""
        from TTS.tts.models import setup_model

        return setup_model(self.config)

    def make_learner(self, model: nn.Module, adapted: Optional[Sequence[str]] = None) -> MetaLearner:
        """The :class:`MetaLearner` of ``model`` for this config: the inner loop adapts ``adapted``
        (default: :meth:`adapter_names`) with the backbone's task loss, the outer loop meta-learns
        :meth:`meta_parameter_names` (``maml.meta_learned = "adapter"``: the adapted tensors only)
        with its query loss."""
        adapted = self.adapter_names(model) if adapted is None else list(adapted)
        meta = self.meta_parameter_names(model)
        if self.config.maml.meta_learned == "adapter":
            keep = set(adapted)
            meta = [n for n in meta if n in keep]
        return MetaLearner(model, self.config.maml, adapted, self.task_loss(model), meta, query_loss=self.query_loss(model))

    def adapter_names(self, model: nn.Module) -> List[str]:
        """The adapted parameter names for ``config.maml`` (target_modules or adapter_preset).

        With ``maml.voice_start = "d_vector"`` the voice slot is always among them: each voice
        starts it from its own clips, so it is part of what a voice is.
        """
        maml = self.config.maml
        names = resolve_adapter(
            model,
            self.presets,
            preset=maml.adapter_preset,
            target_modules=maml.target_modules,
            exclude_modules=maml.exclude_modules,
            never=self.never_adapt,
        )
        if maml.voice_start == "d_vector" and self.slot_name not in names:
            names = [self.slot_name, *names]
        return names

    @functools.cached_property
    def d_vector_projection(self) -> Optional[DVectorProjection]:
        """The config's d-vector projection when voices start from their d-vector, else None."""
        maml = self.config.maml
        if maml.voice_start != "d_vector":
            return None
        return DVectorProjection.from_dict(maml.d_vector_projection)

    def voice_start(self, model: nn.Module, clips: Sequence[Dict[str, Any]]) -> Optional[Dict[str, Tensor]]:
        """``{slot name: (1, width) tensor}``: the projected mean d-vector of ``clips`` (unit norm,
        as the model uses it), or None when voices start from the learned slot."""
        projection = self.d_vector_projection
        if projection is None:
            return None
        vector = F.normalize(torch.as_tensor(voice_vector([c["audio_file"] for c in clips], projection)), dim=0)
        slot = dict(model.named_parameters())[self.slot_name]
        return {self.slot_name: vector.view(1, -1).to(device=slot.device, dtype=slot.dtype)}

    def meta_parameter_names(self, model: nn.Module) -> List[str]:
        """Parameters that the outer loop meta-learns: every trainable one outside ``never_adapt``."""
        return [
            n
            for n, p in model.named_parameters()
            if p.requires_grad and not any(n == m or n.startswith(m + ".") for m in self.never_adapt)
        ]

    # -------------------------------------------------------------- batches
    @abc.abstractmethod
    def dataset(self, model: nn.Module, clips: Sequence[Dict[str, Any]]):
        """Coqui's own dataset for exactly these clips (no filtering, no substitution)."""

    @abc.abstractmethod
    def format_batch(self, model: nn.Module, batch: Batch) -> Batch:
        """Coqui's format_batch (and format_batch_on_device) on a collated batch on the model's device."""

    def make_batch(self, model: nn.Module, clips: Sequence[Dict[str, Any]]) -> Batch:
        """A batch of ``clips`` through the backbone's Coqui dataset and collate function.

        Clips are the sample dicts of ``load_tts_samples``; they are all assigned the voice slot.
        """
        if not clips:
            raise ValueError("make_batch needs at least one clip")
        voiced = [
            {
                **c,
                "speaker_name": VOICE_NAME,
                "language": c.get("language") or "",
                "audio_unique_name": c.get("audio_unique_name") or c["audio_file"],
            }
            for c in clips
        ]
        dataset = self.dataset(model, voiced)
        batch = self.format_batch(model, dataset.collate_fn([dataset[i] for i in range(len(voiced))]))
        # The random choices of a forward pass (VITS' waveform segments, dropout) are drawn from a
        # seed of the batch's clips: the task loss is then one fixed function of the weights, which
        # k inner steps can descend, instead of a new random draw at every step.
        # The seed depends on the clips' identities, not on where their files happen to be.
        names = sorted(str(c.get("audio_unique_name") or c["audio_file"]) for c in clips)
        batch["rng_seed"] = zlib.crc32("\n".join(names).encode())
        # Where the inner loop starts this voice's slot when these clips are its support set.
        batch["voice_start"] = self.voice_start(model, clips)
        return batch

    @staticmethod
    @contextlib.contextmanager
    def seeded(batch: Batch) -> Iterator[None]:
        """Run the block with the global RNGs (CPU and the batch's device) seeded from the batch,
        restoring them afterwards."""
        devices = [t.device for t in batch.values() if isinstance(t, Tensor) and t.is_cuda][:1]
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(batch.get("rng_seed", 0))
            yield

    @staticmethod
    def to_device(batch: Batch, device: torch.device) -> Batch:
        """Move every tensor of a batch to ``device``."""
        return {k: v.to(device) if isinstance(v, Tensor) else v for k, v in batch.items()}

    # -------------------------------------------------------------- losses
    @abc.abstractmethod
    def task_losses(self, model: nn.Module, params: Dict[str, Tensor], batch: Batch,
                    extra_terms: bool = True) -> Dict[str, Tensor]:  # fmt: skip
        """The task loss terms of ``model`` run with ``params`` through ``functional_call``;
        ``"loss"`` is their weighted sum (what the inner loop and the meta-loss use). With
        ``extra_terms`` False, Coqui's own loss of the model only: the terms tts_maml adds
        (``maml.synthesis_loss_weight``, ``maml.global_variance_weight``) and the floor dequantisation
        of ``maml.floor_noise`` are left out."""

    def task_loss(self, model: nn.Module):
        """``loss(params, batch)`` for :class:`tts_maml.meta.learner.MetaLearner` (support and inner loop)."""
        return lambda params, batch: self.task_losses(model, params, batch)["loss"]

    def evaluation_loss(self, model: nn.Module, draws: int = 4, extra_terms: bool = True):
        """``loss(params, batch)`` for scoring (no gradient): the task loss averaged over ``draws``
        seeded random draws when the loss is stochastic, so that a held-out score does not hinge
        on which waveform segments one draw picked. ``extra_terms`` False: Coqui's own loss, the
        same function for every model of the backbone whatever its ``maml`` weights (how
        ``tts-maml evaluate`` compares two models)."""
        losses = self.evaluation_losses(model, draws, extra_terms)
        return lambda params, batch: losses(params, batch)["loss"]

    def evaluation_losses(self, model: nn.Module, draws: int = 4, extra_terms: bool = True):
        """``losses(params, batch)``: every term of :meth:`task_losses` (``"loss"`` among them)
        averaged over the draws of :meth:`evaluation_loss`."""
        n = draws if self.stochastic_loss else 1

        def losses(params: Dict[str, Tensor], batch: Batch) -> Dict[str, Tensor]:
            seed = batch.get("rng_seed", 0)
            runs = [self.task_losses(model, params, {**batch, "rng_seed": seed + i}, extra_terms) for i in range(n)]
            return {name: sum(run[name] for run in runs) / n for name in runs[0]}

        return losses

    def query_loss(self, model: nn.Module):
        """The meta-loss on query clips; the task loss unless a backbone adds outer-loop terms."""
        return self.task_loss(model)

    def discriminator_loss(self, model: nn.Module, params: Dict[str, Tensor], batch: Batch) -> Tensor:
        """The discriminator's loss against the generator run with ``params`` (backbones with one)."""
        raise NotImplementedError(f"the {self.name} backbone has no discriminator")
