"""A voice: the adapted tensors of a new voice, saved apart from the base model (``voice.pth``).

A voice file holds only the tensors the adaptation changed, plus where they come from: the
sha256 of the base checkpoint, the adapted tensor names and shapes, steps, learning rate, loss
curve and clip list. :func:`apply_voice` puts it into a base checkpoint and gives a plain Coqui
checkpoint of the base architecture (what ``tts-maml adapt`` writes as ``adapted.pth``);
:func:`merge` does the same from files and refuses a voice made on another base.

Example:
    >>> from tts_maml.adapt.voice_delta import load_voice
    >>> voice = load_voice("OUT/voice.pth")  # doctest: +SKIP
    >>> voice.name, sorted(voice.tensors)[:1]  # doctest: +SKIP
    ('my_voice', ['emb_g.weight'])
"""

import copy
import logging
import os
from dataclasses import dataclass, field
from typing import Any, Dict

import torch
from torch import Tensor

from tts_maml.checkpoint import CHECKPOINT_KEY, MamlEntry, load_checkpoint
from tts_maml.files import atomic_save, sha256_file

logger = logging.getLogger(__name__)

VOICE_FORMAT = "tts_maml.voice"
VOICE_VERSION = 1


@dataclass
class Voice:
    """An adapted voice.

    Args:
        name: the voice's name (its speaker name in the adapted config).
        tensors: adapted tensors by parameter name (the base model's own names).
        base_sha256: sha256 of the base checkpoint file it was adapted from.
        backbone: ``"vits"`` or ``"glow_tts"``.
        provenance: everything else recorded at adaptation (steps, lr, best_step, loss curve,
            clips, base file name...).
    """

    name: str
    tensors: Dict[str, Tensor]
    base_sha256: str
    backbone: str
    provenance: Dict[str, Any] = field(default_factory=dict)

    def to_state(self) -> Dict[str, Any]:
        """What ``voice.pth`` holds."""
        return {
            "format": VOICE_FORMAT,
            "version": VOICE_VERSION,
            "name": self.name,
            "backbone": self.backbone,
            "base_sha256": self.base_sha256,
            "tensors": {k: v.detach().cpu().contiguous() for k, v in self.tensors.items()},
            "shapes": {k: list(v.shape) for k, v in self.tensors.items()},
            "provenance": self.provenance,
        }


def load_voice(path: str) -> Voice:
    """Read a ``voice.pth``; raises ``ValueError`` naming the file if it is not a voice."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:
        raise ValueError(f"{path}: not a readable voice file ({e})") from e
    if not isinstance(state, dict) or state.get("format") != VOICE_FORMAT:
        raise ValueError(f"{path}: not a tts_maml voice file (written by `tts-maml adapt`)")
    if state.get("version") != VOICE_VERSION:
        raise ValueError(f"{path}: voice format version {state.get('version')} is not {VOICE_VERSION}")
    return Voice(
        name=state["name"],
        tensors=state["tensors"],
        base_sha256=state["base_sha256"],
        backbone=state["backbone"],
        provenance=state.get("provenance", {}),
    )


def check_voice_fits(voice: Voice, base_state: Dict[str, Tensor]) -> None:
    """Raise ``ValueError`` naming the first tensor of ``voice`` that the base does not have, or
    has with another shape or dtype."""
    for name, tensor in voice.tensors.items():
        if name not in base_state:
            raise ValueError(f"voice tensor {name!r} is not in the base model")
        base = base_state[name]
        if tuple(base.shape) != tuple(tensor.shape):
            raise ValueError(
                f"voice tensor {name!r} has shape {tuple(tensor.shape)}, the base model's has {tuple(base.shape)}"
            )
        if base.dtype != tensor.dtype:
            raise ValueError(f"voice tensor {name!r} is {tensor.dtype}, the base model's is {base.dtype}")


def check_voice_base(voice: Voice, digest: str, delta: str, base: str) -> None:
    """Raise ``ValueError`` unless ``voice`` (read from the file ``delta``) was adapted from the
    base checkpoint ``base`` whose sha256 is ``digest``."""
    if digest != voice.base_sha256:
        raise ValueError(
            f"{delta} was adapted from a base with sha256 {voice.base_sha256[:12]}..., "
            f"but {base} has sha256 {digest[:12]}...: merge it with its own base checkpoint"
        )


def apply_voice(base_checkpoint: Dict[str, Any], voice: Voice, source: str = "base checkpoint") -> Dict[str, Any]:
    """The adapted checkpoint: the base checkpoint with the voice's tensors, its name as the one
    speaker of the config, the meta-optimiser's state dropped and the provenance under ``"maml"``
    (a :class:`tts_maml.checkpoint.MamlEntry` with ``voice`` and ``base``). ``source`` names the
    base in errors about its ``"maml"`` entry.

    The result is a plain Coqui checkpoint of the base architecture (``tts`` loads it).
    """
    check_voice_fits(voice, base_checkpoint["model"])
    model = dict(base_checkpoint["model"])
    for name, tensor in voice.tensors.items():
        model[name] = tensor.clone()
    config = copy.deepcopy(base_checkpoint.get("config")) or {}
    if isinstance(config, dict):
        config["speakers"] = [voice.name]
    base_entry = MamlEntry.from_checkpoint(base_checkpoint, source)
    entry = MamlEntry(
        voice={k: v for k, v in voice.to_state().items() if k != "tensors"},
        base=base_entry.base_record() if base_entry is not None else {},
    )
    return {
        "config": config,
        "model": model,
        "step": base_checkpoint.get("step", 0),
        "epoch": base_checkpoint.get("epoch", 0),
        CHECKPOINT_KEY: entry.to_dict(),
    }


def merge(base: str, delta: str, out: str, overwrite: bool = False) -> str:
    """Rebuild the adapted checkpoint from the base checkpoint ``base`` and the voice ``delta``.

    Refuses a voice made on another base (sha256) or whose tensors do not fit (names, shapes),
    naming the first offending tensor. Writes ``out`` atomically; an existing ``out`` is replaced
    only with ``overwrite``. Returns ``out``.
    """
    voice = load_voice(delta)
    check_voice_base(voice, sha256_file(base), delta, base)
    if os.path.exists(out) and not overwrite:
        raise FileExistsError(f"{out} exists: pass --overwrite to replace it")
    checkpoint = apply_voice(load_checkpoint(base), voice, base)
    atomic_save(checkpoint, out)
    if "griffin_lim_power" in voice.provenance:  # the weights carry no audio setting: say where it is
        logger.info("%s was adapted with the Griffin-Lim exponent %g fitted to it: speak %s with the config.json "
                    "adapt wrote beside it, or set audio.power %g in the base's", delta,
                    voice.provenance["griffin_lim_power"], out, voice.provenance["griffin_lim_power"])  # fmt: skip
    return out

