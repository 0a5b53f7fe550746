"""Files written atomically: a temporary file in the same folder, ``os.replace``-d into place, so a
killed process leaves either the old file or the new one, never half of one.

Example:
    >>> import os, tempfile
    >>> from tts_maml.files import atomic_write_text
    >>> path = os.path.join(tempfile.mkdtemp(), "x.txt")
    >>> atomic_write_text("hello", path)
    >>> open(path).read()
    'hello'
"""

import hashlib
import os
import re
import secrets
from typing import Any, Callable, List

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
