"""Configuration of meta-learning: :class:`MamlConfig`, nested in Coqui's own model configs.

``MamlVitsConfig`` and ``MamlGlowTTSConfig`` are Coqui's ``VitsConfig`` / ``GlowTTSConfig`` with one
more field, ``maml``. Their ``model`` stays ``"vits"`` / ``"glow_tts"``, so every config.json that
tts_maml writes is loaded by Coqui's own ``tts`` command (which ignores the extra section), and
Coqui's command-line overrides work: ``--coqpit.maml.inner_lr 0.01``.

Example:
    >>> from tts_maml.config import MamlVitsConfig
    >>> config = MamlVitsConfig()
    >>> config.model, config.maml.algorithm
    ('vits', 'maml')
"""

# No `from __future__ import annotations` here: coqpit rejects string annotations.
import json
import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Type, Union

from coqpit import Coqpit
from TTS.tts.configs.glow_tts_config import GlowTTSConfig
from TTS.tts.configs.vits_config import VitsArgs, VitsConfig

ALGORITHMS = ("maml", "fomaml", "reptile", "metasgd")
# The one voice slot of every tts_maml model (see tts_maml.backbones.base): the default speakers.
VOICE_NAME = "voice"
VOICE_STARTS = ("learned", "d_vector")
META_LEARNED = ("all", "adapter")


MAML_CONFIG_DOC = """Meta-learning settings.

    Args:
        algorithm: ``"maml"`` (second-order meta-gradient), ``"fomaml"`` (first-order: the query
            gradient at the fast weights), ``"reptile"`` (meta-direction = initial - fast weights)
            or ``"metasgd"`` (second order, with a learnable inner learning rate per adapted
            tensor and per inner step, MAML++ style). Defaults to ``"maml"``.
        inner_steps: gradient steps on the support set per task (k). Defaults to 3.
        inner_lr: inner-loop SGD learning rate (the initial value of the learned rates for
            ``metasgd``). Defaults to 0.01.
        meta_lr: learning rate of the outer (meta) optimiser. Defaults to 2e-4.
        inner_lr_meta_lr: the outer optimiser's learning rate for the learned inner rates of
            ``metasgd`` (their own Adam parameter group); None: ``meta_lr``. The rates start at
            ``inner_lr`` (often 0.1) while ``meta_lr`` suits weights (often 1e-4): Adam moves a
            tensor by about its learning rate per step, so with ``meta_lr`` the rates hardly move
            in a few hundred meta-steps. Defaults to None.
        meta_batch_size: tasks per meta-step (over all ranks together). Defaults to 4.
        n_support: support clips per task. Defaults to 5.
        n_query: query clips per task, disjoint from the support clips. Defaults to 5.
        task_key: the sample-dict key that defines a task (``"speaker_name"``, or e.g. ``"style"``
            or ``"emotion"``). Defaults to ``"speaker_name"``.
        adapter_preset: named parameter selection of the backbone that the inner loop adapts
            (see the preset tables in docs/training.md). Used when ``target_modules`` is not set. Defaults to
            ``"conditioning"``.
        target_modules: parameters the inner loop adapts, PEFT-style: a list of names (a
            parameter or module name, matched exactly or as a ``.suffix``) or a regex string
            (``re.fullmatch`` on parameter and module names). Overrides ``adapter_preset``.
            A single value given on the command line becomes a one-element list. Defaults to None.
        exclude_modules: parameters never adapted, same syntax; wins over ``target_modules`` and
            the preset. Defaults to None.
        meta_learned: what the outer loop trains: ``"all"`` (every weight: MAML's shared
            initialisation) or ``"adapter"`` (only the adapted tensors' starting values, and Meta-SGD's
            rates; every other weight stays the base's, so meta-training on a few voices cannot make
            the model forget how to speak). Defaults to ``"all"``.
        inner_grad_clip: clip each inner-loop gradient to this global L2 norm (0: off). Defaults
            to 10.0.
        outer_grad_clip: clip the meta-gradient to this global L2 norm (0: off). Defaults to 5.0.
        first_order_warmup_steps: meta-steps run first-order before switching to second order
            (``maml`` / ``metasgd``), as MAML++ anneals the derivative order. Defaults to 0.
        held_out_tasks: number of whole tasks (e.g. speakers) kept out of meta-training for
            evaluation, drawn with ``seed``. Defaults to 0.
        held_out_task_names: explicit held-out task names (added to the drawn ones). Defaults to [].
        eval_inner_steps: inner steps at evaluation (adaptation of held-out tasks); None: same as
            ``inner_steps``. Defaults to None.
        seed: seed of the episode stream (tasks, support/query splits) and of the held-out draw.
            Defaults to 0.
        meta_steps_per_epoch: meta-steps in one epoch of Coqui's Trainer (``epochs`` epochs run).
            Defaults to 100.
        voice_start: where a voice's slot starts, in an inner loop and in adaptation: ``"learned"``
            (the meta-learned slot, the same for every voice) or ``"d_vector"`` (the projected
            speaker-encoder d-vector of the voice's support clips, see :mod:`tts_maml.speakers.d_vectors`;
            needs ``d_vector_projection``). Set by ``tts-maml convert``. Defaults to ``"learned"``.
        d_vector_projection: the projection of speaker-encoder embeddings to the slot's width
            (``DVectorProjection.to_dict()``), for ``voice_start="d_vector"``. Defaults to None.
        synthesis_loss_weight: VITS only. Weight of a synthesis-path term added to the task loss:
            mel L1 of the prior mean through the inverse flow and the waveform decoder (the path
            ``tts`` runs), where Coqui's mel term trains the posterior (autoencoder) path only.
            ``VitsBackbone.vctk_config`` sets 1.0. Defaults to 0.0.
        global_variance_weight: Glow-TTS only. Weight of a global-variance term added to the task
            loss, inner and outer: how much less each mel band varies over time on the synthesis
            path (prior means, inference noise, inverse decoder) than in the real clip
            (:mod:`tts_maml.global_variance`), against the over-smoothing that maximum
            likelihood alone drifts to. Defaults to 0.0.
        floor_noise: Glow-TTS only. Scale of the half-normal noise that moves the mel values on the
            silence floor below it in the task loss, inner and outer (:mod:`tts_maml.floor_dequantization`):
            without it the bands a 16 kHz voice leaves empty make the loss so sharp along the
            decoder's per-channel scales that an inner loop over them diverges. Use the value the base
            was pre-trained with (``--floor-noise``; ``tts-maml convert --floor-noise`` writes it). Defaults to 0.0.
        train_discriminator: VITS only. If True, the discriminator trains in the outer loop: each
            meta-step it takes one step of Coqui's discriminator loss on the query clips against
            the adapted generator's output, and the query loss adds Coqui's adversarial and
            feature-matching terms. Off by default: the inner loop and the meta-loss are
            reconstruction losses, a GAN at the meta level doubles the cost of a meta-step and
            adds an unstable objective, and the few-shot adaptation does not need it. Defaults to False.
    """


def _help(name: str) -> Dict[str, str]:
    """``metadata={"help": ...}`` for a ``maml`` field: its ``Args:`` entry in :data:`MAML_CONFIG_DOC`
    (coqpit shows it as the ``--coqpit.maml.NAME`` flag's help). Raises ``KeyError`` for a field
    the docstring does not document."""
    match = re.search(rf"^ {{8}}{name}: (.*?)(?=^ {{8}}\w+:|\Z)", MAML_CONFIG_DOC, re.M | re.S)
    if match is None:
        raise KeyError(f"MamlConfig.{name} has no Args: entry in MAML_CONFIG_DOC")
    # argparse %-formats help strings
    return {"help": " ".join(match.group(1).split()).replace("``", "").replace("%", "%%")}


@dataclass
class MamlConfig(Coqpit):
    __doc__ = MAML_CONFIG_DOC


    algorithm: str = field(default="maml", metadata=_help("algorithm"))
    inner_steps: int = field(default=3, metadata=_help("inner_steps"))
    inner_lr: float = field(default=0.01, metadata=_help("inner_lr"))
    meta_lr: float = field(default=2e-4, metadata=_help("meta_lr"))
    inner_lr_meta_lr: Optional[float] = field(default=None, metadata=_help("inner_lr_meta_lr"))
    meta_batch_size: int = field(default=4, metadata=_help("meta_batch_size"))
    n_support: int = field(default=5, metadata=_help("n_support"))
    n_query: int = field(default=5, metadata=_help("n_query"))
    task_key: str = field(default="speaker_name", metadata=_help("task_key"))
    adapter_preset: str = field(default="conditioning", metadata=_help("adapter_preset"))
    target_modules: Optional[Union[List[str], str]] = field(default=None, metadata=_help("target_modules"))
    exclude_modules: Optional[Union[List[str], str]] = field(default=None, metadata=_help("exclude_modules"))
    meta_learned: str = field(default="all", metadata=_help("meta_learned"))
    inner_grad_clip: float = field(default=10.0, metadata=_help("inner_grad_clip"))
    outer_grad_clip: float = field(default=5.0, metadata=_help("outer_grad_clip"))
    first_order_warmup_steps: int = field(default=0, metadata=_help("first_order_warmup_steps"))
    held_out_tasks: int = field(default=0, metadata=_help("held_out_tasks"))
    held_out_task_names: List[str] = field(default_factory=list, metadata=_help("held_out_task_names"))
    eval_inner_steps: Optional[int] = field(default=None, metadata=_help("eval_inner_steps"))
    seed: int = field(default=0, metadata=_help("seed"))
    meta_steps_per_epoch: int = field(default=100, metadata=_help("meta_steps_per_epoch"))
    train_discriminator: bool = field(default=False, metadata=_help("train_discriminator"))
    synthesis_loss_weight: float = field(default=0.0, metadata=_help("synthesis_loss_weight"))
    global_variance_weight: float = field(default=0.0, metadata=_help("global_variance_weight"))
    floor_noise: float = field(default=0.0, metadata=_help("floor_noise"))
    voice_start: str = field(default="learned", metadata=_help("voice_start"))
    d_vector_projection: Optional[dict] = field(default=None, metadata=_help("d_vector_projection"))

    def check_values(self) -> None:
        """Raise ``ValueError`` naming the first field with an invalid value."""
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"maml.algorithm: {self.algorithm!r} is not one of {', '.join(ALGORITHMS)}")
        for name in ("inner_steps", "meta_batch_size", "n_support", "n_query", "meta_steps_per_epoch"):
            if getattr(self, name) < 1:
                raise ValueError(f"maml.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("inner_lr", "meta_lr"):
            if not getattr(self, name) > 0:
                raise ValueError(f"maml.{name} must be > 0, got {getattr(self, name)}")
        for name in ("inner_grad_clip", "outer_grad_clip", "first_order_warmup_steps", "held_out_tasks",
                     "synthesis_loss_weight", "global_variance_weight", "floor_noise"):
            if getattr(self, name) < 0:
                raise ValueError(f"maml.{name} must be >= 0, got {getattr(self, name)}")
        if self.meta_learned not in META_LEARNED:
            raise ValueError(f"maml.meta_learned: {self.meta_learned!r} is not one of {', '.join(META_LEARNED)}")
        if self.voice_start not in VOICE_STARTS:
            raise ValueError(f"maml.voice_start: {self.voice_start!r} is not one of {', '.join(VOICE_STARTS)}")
        if self.voice_start == "d_vector" and not self.d_vector_projection:
            raise ValueError("maml.voice_start is 'd_vector' but maml.d_vector_projection is empty")
        if self.inner_lr_meta_lr is not None and not self.inner_lr_meta_lr > 0:
            raise ValueError(f"maml.inner_lr_meta_lr must be > 0 or None, got {self.inner_lr_meta_lr}")
        if self.eval_inner_steps is not None and self.eval_inner_steps < 0:
            raise ValueError(f"maml.eval_inner_steps must be >= 0, got {self.eval_inner_steps}")

    @property
    def second_order(self) -> bool:
        """Whether the algorithm differentiates through the inner loop (before any warm-up)."""
        return self.algorithm in ("maml", "metasgd")


def _check_maml(config: Coqpit) -> None:
    # Coqpit checks the top level only (on construction, load_json and command-line overrides);
    # the nested section is checked here so that an invalid one is refused wherever it comes from.
    if config.maml is not None:
        config.maml.check_values()


_MAML_HELP = {"help": "meta-learning settings (tts_maml)"}


@dataclass
class MamlVitsConfig(VitsConfig):
    """Coqui's ``VitsConfig`` with a ``maml`` section; ``model`` stays ``"vits"``.

    Defaults differ from Coqui's in the voice-slot fields only: ``speakers`` is ``["voice"]`` and
    ``use_speaker_embedding`` is True (also in ``model_args``), what every tts_maml model needs.

    Args:
        maml: meta-learning settings (:class:`MamlConfig`), checked with the config.
    """

    speakers: List[str] = field(default_factory=lambda: [VOICE_NAME])
    use_speaker_embedding: bool = True
    model_args: VitsArgs = field(default_factory=lambda: VitsArgs(use_speaker_embedding=True))
    maml: MamlConfig = field(default_factory=MamlConfig, metadata=_MAML_HELP)

    def __post_init__(self) -> None:
        super().__post_init__()  # VitsConfig's: copies model_args fields to the top level, checks nothing
        self.check_values()

    def check_values(self) -> None:
        """Coqui's checks, then the ``maml`` section's (``ValueError`` naming the field)."""
        super().check_values()
        _check_maml(self)


@dataclass
class MamlGlowTTSConfig(GlowTTSConfig):
    """Coqui's ``GlowTTSConfig`` with a ``maml`` section; ``model`` stays ``"glow_tts"``.

    Defaults differ from Coqui's in the fields tts_maml needs only: ``speakers`` is ``["voice"]``,
    ``use_speaker_embedding`` is True, and ``data_dep_init_steps`` is 0 (the ActNorm layers stay
    locked: tts_maml never runs the data-dependent initialisation of ``GlowTTS.train_step``).

    Args:
        maml: meta-learning settings (:class:`MamlConfig`), checked with the config.
    """

    speakers: List[str] = field(default_factory=lambda: [VOICE_NAME])
    use_speaker_embedding: bool = True
    data_dep_init_steps: int = 0
    maml: MamlConfig = field(default_factory=MamlConfig, metadata=_MAML_HELP)

    def check_values(self) -> None:
        """Coqui's checks, then the ``maml`` section's (``ValueError`` naming the field)."""
        super().check_values()
        _check_maml(self)


# The one home of the model name -> config class map (load_config, the CLI; each backbone names its own as config_class).
CONFIG_CLASSES: Dict[str, Type[Coqpit]] = {"vits": MamlVitsConfig, "glow_tts": MamlGlowTTSConfig}


def load_config(path: str) -> Coqpit:
    """Read a config.json written by tts_maml or by Coqui (``model`` "vits" or "glow_tts") into
    ``MamlVitsConfig`` / ``MamlGlowTTSConfig``; a Coqui config without a ``maml`` section gets the
    defaults. Raises ``ValueError`` naming the file for other models or unreadable files, and for
    an invalid ``maml`` section (naming the field)."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: not a readable config.json ({e})") from e
    model = str(data.get("model", "")).lower()
    if model not in CONFIG_CLASSES:
        raise ValueError(f"{path}: model {data.get('model')!r} is not one tts_maml supports ({', '.join(CONFIG_CLASSES)})")
    config = CONFIG_CLASSES[model]()
    try:
        config.from_dict(data)  # builds the maml section, which checks itself
        config.check_values()
    except ValueError as e:
        raise ValueError(f"{path}: {e}") from e
    return config
