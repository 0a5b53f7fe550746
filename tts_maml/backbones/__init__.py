"""Backbones: the Coqui acoustic models that tts_maml meta-learns, one file each.

A backbone builds the Coqui model from its config, turns episode clips into a batch with the
model's own Coqui dataset and collate function, computes the task loss with Coqui's own forward
and loss classes (functionally, for the inner loop), and names its adapter presets. Adding a third
Coqui model means adding one file here and one line to ``BACKBONES``.

Example:
    >>> from tts_maml.backbones import get_backbone
    >>> from tts_maml.config import MamlGlowTTSConfig
    >>> type(get_backbone(MamlGlowTTSConfig())).__name__
    'GlowTTSBackbone'
"""

from typing import Dict, Type

from coqpit import Coqpit

from tts_maml.backbones.base import VOICE_NAME, Backbone
from tts_maml.backbones.glow_tts import GlowTTSBackbone
from tts_maml.backbones.vits import VitsBackbone

BACKBONES: Dict[str, Type[Backbone]] = {b.name: b for b in (VitsBackbone, GlowTTSBackbone)}


def get_backbone(config: Coqpit) -> Backbone:
    """The backbone for a model config (by its ``model`` field: ``"vits"`` or ``"glow_tts"``)."""
    name = str(config.model).lower()
    if name not in BACKBONES:
        raise ValueError(f"config.model {config.model!r} has no tts_maml backbone (known: {', '.join(BACKBONES)})")
    return BACKBONES[name](config)


__all__ = ["BACKBONES", "VOICE_NAME", "Backbone", "GlowTTSBackbone", "VitsBackbone", "get_backbone"]
