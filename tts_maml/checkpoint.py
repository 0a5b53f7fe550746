"""Coqui checkpoints: read with a clear error and checked against the model their config describes.

Example:
    >>> import os, tempfile
    >>> from tts_maml.files import atomic_save
    >>> from tts_maml.checkpoint import load_checkpoint
    >>> path = os.path.join(tempfile.mkdtemp(), "x.pth")
    >>> atomic_save({"model": {}}, path)
    >>> load_checkpoint(path)
    {'model': {}}
"""

from typing import Any, Dict


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
