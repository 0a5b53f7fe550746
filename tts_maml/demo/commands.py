"""The demo's steps run as the real command lines (``tts-maml adapt``, Coqui's ``tts``, a recipe), each
appended to one log file, so the demo is also an end-to-end check of what a user types.

Example:
    >>> import sys, tempfile, os
    >>> log = os.path.join(tempfile.mkdtemp(), "demo.log")
    >>> run_logged([sys.executable, "-c", "print('hi')"], log) >= 0
    True
"""

import os
import subprocess
import sys
import time
from typing import BinaryIO, Dict, List, Optional, Sequence, Tuple


def console_script(name: str) -> str:
    """The path of console script ``name`` (``tts``, ``tts-maml``) of the running interpreter's environment."""
    # Beside sys.executable, not found on PATH: the demo must run this environment's tools, even
    # when it is not activated.
    return os.path.join(os.path.dirname(sys.executable), name)


def run_logged(cmd: Sequence[str], log: str, echo: Optional[BinaryIO] = None) -> float:
    """Run ``cmd``, its output appended to ``log`` after a ``$ command`` line (and also written to
    ``echo``, progress bars included, where given); returns the seconds it took.

    Raises ``RuntimeError`` naming the command and ``log``, with the log's last 20 lines, if it fails.
    """
    start = time.perf_counter()
    with open(log, "ab") as f:
        f.write(f"\n$ {' '.join(cmd)}\n".encode())
        f.flush()
        proc = subprocess.Popen(list(cmd), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        # Raw chunks, not lines: tqdm redraws its bar with carriage returns, never a newline.
        while True:
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                break
            f.write(chunk)
            if echo is not None:
                echo.write(chunk)
                echo.flush()
        proc.wait()
    if proc.returncode != 0:
        with open(log, encoding="utf-8", errors="replace") as f:
            tail = "".join(f.readlines()[-20:])
        raise RuntimeError(f"`{' '.join(cmd[:3])} ...` failed ({proc.returncode}); see {log}:\n{tail}")
    return time.perf_counter() - start


def synthesise_base_and_adapted(base: Tuple[str, str], voice: str, sentence: str, wavs: Dict[str, str],
                                log: str) -> None:  # fmt: skip
    """Say ``sentence`` with Coqui's own ``tts`` command, from the ``base`` model (checkpoint, config)
    into ``wavs["base"]`` and from the adapted model in the ``tts-maml adapt`` folder ``voice`` into
    ``wavs["adapted"]``."""
    models: Dict[str, List[str]] = {
        "base": list(base),
        "adapted": [os.path.join(voice, "adapted.pth"), os.path.join(voice, "config.json")],
    }
    for key, (checkpoint, config) in models.items():
        run_logged([console_script("tts"), "--model_path", checkpoint, "--config_path", config, "--text", sentence,
                    "--out_path", wavs[key]], log)  # fmt: skip
