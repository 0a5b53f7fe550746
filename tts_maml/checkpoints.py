"""Checkpoint files: written atomically, read with a clear error, checked against their config.

Everything tts_maml writes goes to a temporary file in the same folder and is ``os.replace``-d into
place, so a killed process leaves either the old file or the new one, never half of one.

Example:
    >>> import os, tempfile
    >>> from tts_maml.checkpoints import atomic_save, load_checkpoint
    >>> path = os.path.join(tempfile.mkdtemp(), "x.pth")
    >>> atomic_save({"model": {}}, path)
    >>> load_checkpoint(path)
    {'model': {}}
"""

import hashlib
import os
import re
import secrets
from typing import Any, Callable, Dict, List

# torch is imported where it is used: the corpus builder's worker processes import this module
# (for check_output_folder) and should not pay for torch.


def atomic_write(path: str, write: Callable[[str], None]) -> None:
    """Call ``write(tmp)`` for a temporary file beside ``path``, then move it into place.

    The file gets the mode any new file of the user gets (0644 under umask 022), not the 0600 of
    ``mkstemp``: the temporary file is created with 0666 and the kernel applies the umask."""
    folder = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{secrets.token_hex(8)}.tmp")
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def remove_stale_temporaries(folder: str) -> List[str]:
    """Remove the hidden ``.<name>.pth.<random>.tmp`` files that :func:`atomic_write` leaves when
    the process is killed during a checkpoint write; return their names. Nothing else (no real
    checkpoint) is touched. Call it only when no save into ``folder`` is under way."""
    removed = []
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        if re.fullmatch(r"\..+\.pth\.\w+\.tmp", name) and os.path.isfile(path):
            os.remove(path)
            removed.append(name)
    return removed


def atomic_save(obj: Any, path: str) -> None:
    """``torch.save`` atomically."""
    import torch

    atomic_write(path, lambda tmp: torch.save(obj, tmp))


def atomic_write_text(text: str, path: str) -> None:
    """Write a UTF-8 text file atomically."""

    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)

    atomic_write(path, write)


def check_output_folder(out: str, overwrite: bool) -> None:
    """Refuse an ``--out`` that is a file, or a non-empty folder unless ``overwrite``: an existing
    output is never replaced without being asked to."""
    if os.path.exists(out) and not os.path.isdir(out):
        raise FileExistsError(f"--out {out} exists and is not a folder")
    if os.path.isdir(out) and os.listdir(out) and not overwrite:
        raise FileExistsError(f"--out {out} is not empty: pass --overwrite to replace it")


def sha256_file(path: str) -> str:
    """The sha256 hex digest of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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
