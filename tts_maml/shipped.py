"""Models shipped inside the package: a meta-initialisation that speaks, ready to adapt.

Each shipped model is a folder of ``tts_maml/models/``: ``model.pth`` (a plain Coqui checkpoint with
one voice slot), ``config.json`` and ``MODEL_CARD.md`` (how it was trained, with the exact commands,
and what it measures). ``tts-maml models`` lists them; ``tts-maml adapt --model NAME`` adapts one.

Example:
    >>> from tts_maml.shipped import shipped_models
    >>> all(m.checkpoint.endswith("model.pth") for m in shipped_models())
    True
"""

import os
from dataclasses import asdict, dataclass
from typing import Any, Dict, List

from tts_maml.files import sha256_file

MODELS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "models")
MODEL_FILES = ("model.pth", "config.json", "MODEL_CARD.md")


@dataclass
class ShippedModel:
    """One shipped model.

    Args:
        name: its folder name (what ``--model`` takes).
        checkpoint: path of ``model.pth``.
        config: path of ``config.json``.
        card: path of ``MODEL_CARD.md``.
        size_bytes: size of ``model.pth``.
        sha256: sha256 of ``model.pth``.
    """

    name: str
    checkpoint: str
    config: str
    card: str
    size_bytes: int
    sha256: str

    def to_dict(self) -> Dict[str, Any]:
        """Plain values, for ``--json``."""
        return asdict(self)


def shipped_models(root: str = MODELS_DIR) -> List[ShippedModel]:
    """Every complete model folder under ``root`` (sorted by name)."""
    if not os.path.isdir(root):
        return []
    models = []
    for name in sorted(os.listdir(root)):
        paths = [os.path.join(root, name, f) for f in MODEL_FILES]
        if all(os.path.isfile(p) for p in paths):
            checkpoint, config, card = paths
            models.append(ShippedModel(name, checkpoint, config, card, os.path.getsize(checkpoint), sha256_file(checkpoint)))
    return models


def shipped_model(name: str, root: str = MODELS_DIR) -> ShippedModel:
    """The shipped model called ``name``; ``ValueError`` listing the shipped names otherwise."""
    models = {m.name: m for m in shipped_models(root)}
    if name not in models:
        raise ValueError(f"no shipped model {name!r} (shipped: {', '.join(models) or 'none'})")
    return models[name]
