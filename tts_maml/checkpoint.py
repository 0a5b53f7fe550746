"""Coqui checkpoints: read with a clear error, checked against the model their config describes,
and their ``"maml"`` entry (:class:`MamlEntry`), the one home of its key, version and fields.

Example:
    >>> import os, tempfile
    >>> from tts_maml.files import atomic_save
    >>> from tts_maml.checkpoint import load_checkpoint
    >>> path = os.path.join(tempfile.mkdtemp(), "x.pth")
    >>> atomic_save({"model": {}}, path)
    >>> load_checkpoint(path)
    {'model': {}}
"""

from dataclasses import dataclass
from typing import Any, Dict, List, Optional

CHECKPOINT_KEY = "maml"
# The entry's version, stored under "format" (the key checkpoints have always carried it in).
# 1: checkpoint_N held N + 1 meta-steps; 2: N meta-steps, plus epoch_finished and train_averages.
ENTRY_VERSION = 2
VERSION_KEY = "format"
# What a meta-training checkpoint's entry holds, per version (a version-1 entry written before the
# meta-step counter existed lacks meta_steps_done: it reads as 0, as it always did).
_TRAINING_FIELDS = (
    "backbone", "algorithm", "adapted", "inner_lrs", "sampler", "skipped_tasks_total", "skipped_steps_total",
    "meta_steps_done", "epoch_finished", "train_averages",
)  # fmt: skip
_REQUIRED = {1: _TRAINING_FIELDS[:7], 2: _TRAINING_FIELDS}
# What an adapted checkpoint's entry holds (``apply_voice``): the voice's header and its base's entry.
_VOICE_FIELDS = ("voice", "base")
# What an adapted checkpoint records of the entry of the base it was adapted from.
_BASE_FIELDS = ("backbone", "algorithm", "adapted", "inner_lrs")


@dataclass
class MamlEntry:
    """The checkpoint's ``"maml"`` entry (a key Coqui ignores), which resume, adapt, evaluate and
    merge read: one versioned shape for every writer and reader.

    A meta-training checkpoint (``MamlTrainer``) fills the training fields; an adapted checkpoint
    (:func:`tts_maml.adapt.voice_delta.apply_voice`) fills ``voice`` and ``base`` only.

    Args:
        version: the entry's version (stored under ``"format"``). Defaults to ``ENTRY_VERSION``.
        backbone: ``"vits"`` or ``"glow_tts"``. Defaults to None.
        algorithm: the meta-learning algorithm (``maml.algorithm``). Defaults to None.
        adapted: the parameter names the inner loop adapts. Defaults to None.
        inner_lrs: learned inner learning rates by parameter name (Meta-SGD), else None.
        sampler: the episode sampler's state (``EpisodeSampler.state_dict()``). Defaults to None.
        skipped_tasks_total: tasks skipped for a non-finite loss so far. Defaults to 0.
        skipped_steps_total: meta-steps skipped so far. Defaults to 0.
        meta_steps_done: meta-steps done when the checkpoint was written. Defaults to 0.
        epoch_finished: whether the checkpoint was written after its epoch's last meta-step
            (None: not recorded, as in version 1). Defaults to None.
        train_averages: the epoch's running train averages (``avg_values``, ``iters``). Defaults to None.
        voice: an adapted checkpoint's voice header (``voice.pth`` without its tensors). Defaults to None.
        base: an adapted checkpoint's record of its base's entry (backbone, algorithm, adapted,
            inner_lrs). Defaults to None.

    Example:
        >>> from tts_maml.checkpoint import MamlEntry
        >>> entry = MamlEntry(backbone="vits", algorithm="maml", adapted=["emb_g.weight"])
        >>> MamlEntry.from_checkpoint({"model": {}, "maml": entry.to_dict()}) == entry
        True
    """

    version: int = ENTRY_VERSION
    backbone: Optional[str] = None
    algorithm: Optional[str] = None
    adapted: Optional[List[str]] = None
    inner_lrs: Optional[Dict[str, Any]] = None
    sampler: Optional[Dict[str, Any]] = None
    skipped_tasks_total: int = 0
    skipped_steps_total: int = 0
    meta_steps_done: int = 0
    epoch_finished: Optional[bool] = None
    train_averages: Optional[Dict[str, Any]] = None
    voice: Optional[Dict[str, Any]] = None
    base: Optional[Dict[str, Any]] = None

    def to_dict(self) -> Dict[str, Any]:
        """What the checkpoint holds under ``"maml"``: the version and the fields of its kind."""
        names = _VOICE_FIELDS if self.voice is not None else _TRAINING_FIELDS
        return {VERSION_KEY: self.version, **{name: getattr(self, name) for name in names}}

    def base_record(self) -> Dict[str, Any]:
        """What an adapted checkpoint records of this (its base's) entry; empty for an adapted one."""
        if self.voice is not None:
            return {}
        return {name: getattr(self, name) for name in _BASE_FIELDS}

    @classmethod
    def from_dict(cls, data: Any, source: str = "checkpoint") -> "MamlEntry":
        """Read an entry; raises ``ValueError`` naming ``source`` and the field for an unknown
        version, a missing field or one this version does not have. An entry without a version
        (adapted checkpoints before versioning) reads as the current version."""
        if not isinstance(data, dict):
            raise ValueError(f"{source}: the {CHECKPOINT_KEY!r} entry is a {type(data).__name__}, not a dict")
        version = data.get(VERSION_KEY, ENTRY_VERSION)
        if isinstance(version, bool) or version not in _REQUIRED:
            raise ValueError(
                f"{source}: {CHECKPOINT_KEY}.{VERSION_KEY} (the entry's version) is {version!r}; "
                f"this tts_maml reads versions {', '.join(map(str, _REQUIRED))}"
            )
        kind, allowed, required = "meta-training", _TRAINING_FIELDS, _REQUIRED[version]
        if "voice" in data:
            kind, allowed, required = "adapted", _VOICE_FIELDS, _VOICE_FIELDS
        fields = {k: v for k, v in data.items() if k != VERSION_KEY}
        for name in required:
            if name not in fields:
                raise ValueError(f"{source}: the {kind} {CHECKPOINT_KEY!r} entry (version {version}) has no field {name!r}")
        for name in fields:
            if name not in allowed:
                raise ValueError(
                    f"{source}: the {kind} {CHECKPOINT_KEY!r} entry (version {version}) has an unknown field "
                    f"{name!r} (its fields: {', '.join(allowed)})"
                )
        return cls(version=version, **fields)

    @classmethod
    def from_checkpoint(cls, checkpoint: Dict[str, Any], source: str = "checkpoint") -> Optional["MamlEntry"]:
        """The entry of a checkpoint, or None for a plain Coqui checkpoint (no ``"maml"`` entry)."""
        data = checkpoint.get(CHECKPOINT_KEY)
        return None if data is None else cls.from_dict(data, source)


def load_checkpoint(path: str) -> Dict[str, Any]:
    """A Coqui checkpoint as a dict; raises ``ValueError`` naming the file if it is not one."""
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # torch raises many types for a truncated or foreign file
        raise ValueError(f"{path}: not a readable checkpoint ({e})") from e
    if not isinstance(state, dict) or "model" not in state:
        raise ValueError(f"{path}: not a Coqui checkpoint (no 'model' entry)")
    return state


def check_state_dict(model: Any, state: Dict[str, Any], source: str) -> None:
    """Raise ``ValueError`` naming the first tensor where ``state`` does not fit ``model`` (built
    from a config): a missing or extra tensor, or another shape. This is how a config that does
    not match its weights (other sizes, other backbone, other characters) is refused."""
    own = model.state_dict()
    for name, tensor in own.items():
        if name not in state:
            raise ValueError(f"{source}: tensor {name!r} of the model the config describes is missing")
        if tuple(state[name].shape) != tuple(tensor.shape):
            raise ValueError(
                f"{source}: tensor {name!r} has shape {tuple(state[name].shape)}, the config gives "
                f"{tuple(tensor.shape)} (does config.json belong to this checkpoint?)"
            )
    extra = [k for k in state if k not in own]
    if extra:
        raise ValueError(f"{source}: tensor {extra[0]!r} is not part of the model the config describes")
