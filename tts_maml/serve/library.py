"""The voice library: every ``*.pth`` voice delta of a folder, checked against one base model.

A voice's name is its file name without the extension (``voices/alice.pth`` is ``alice``). Each
file is read with :func:`tts_maml.adapt.voice_delta.load_voice` and checked as ``tts-maml merge`` checks it
(the base checkpoint's sha256, then every tensor's name, shape and dtype); a file that does not
fit is *refused*, by name and with the reason, and the others still load. :meth:`VoiceLibrary.reload`
rescans the folder: new and changed files are read, vanished ones dropped, unchanged ones kept
(a refused file is retried only once it changes, e.g. when a copy into the folder completes).

The adapted tensors are moved to the model's device once, when a voice is read, so that switching
voices never moves data between devices.

Example:
    >>> from tts_maml.serve.library import VoiceLibrary
    >>> library = VoiceLibrary("voices/", "META.pth", model.state_dict())  # doctest: +SKIP
    >>> library.names(), library.refused  # doctest: +SKIP
    (['alice', 'bob'], {'carol': 'carol.pth was adapted from a base with sha256 ...'})
"""

import logging
import os
import threading
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Tuple

import torch
from torch import Tensor

from tts_maml.adapt.voice_delta import check_voice_base, check_voice_fits, load_voice
from tts_maml.files import sha256_file

logger = logging.getLogger(__name__)

VOICE_SUFFIX = ".pth"


@dataclass(frozen=True)
class LoadedVoice:
    """A voice ready to be switched in.

    Args:
        name: the file name without ``.pth``.
        path: the file it was read from.
        tensors: the adapted tensors by parameter name, on the model's device.
        signature: ``(mtime_ns, size)`` of the file when it was read.
        griffin_lim_power: the Griffin-Lim exponent fitted to the voice (``tts-maml adapt
            --fit-griffin-lim``), None: the base config's.
    """

    name: str
    path: str
    tensors: Dict[str, Tensor]
    signature: Tuple[int, int]
    griffin_lim_power: Optional[float] = None


@dataclass
class ReloadReport:
    """What a scan of the folder changed: names ``loaded`` (new or changed), ``removed``, and
    ``refused`` (name -> reason) among the files read in this scan."""

    loaded: List[str] = field(default_factory=list)
    removed: List[str] = field(default_factory=list)
    refused: Dict[str, str] = field(default_factory=dict)


def _signature(path: str) -> Tuple[int, int]:
    stat = os.stat(path)
    return stat.st_mtime_ns, stat.st_size


class VoiceLibrary:
    """The voices of ``folder`` that fit the base checkpoint ``base`` (a thread-safe registry).

    Args:
        folder: the folder of ``*.pth`` voice deltas (``voice.pth`` files written by
            ``tts-maml adapt``, renamed to the voice's name).
        base: the base checkpoint the voices must have been adapted from (its sha256 is computed once).
        base_state: the base checkpoint's tensors by name (only names, shapes and dtypes are read:
            ``meta`` tensors do).
        device: where the adapted tensors are kept (the model's device).
        prepare: turns a voice's checked tensors into the ones to switch in (default: as they are).
    """

    def __init__(self, folder: str, base: str, base_state: Dict[str, Tensor], device: torch.device | str = "cpu",
                 prepare: Optional[Callable[[Dict[str, Tensor]], Dict[str, Tensor]]] = None):  # fmt: skip
        if not os.path.isdir(folder):
            raise FileNotFoundError(f"--voices {folder}: no such folder")
        self.folder = folder
        self.base = base
        self.base_sha256 = sha256_file(base)
        self.device = torch.device(device)
        self._base_state = base_state
        self._prepare = prepare
        self._voices: Dict[str, LoadedVoice] = {}
        self._refused: Dict[str, Tuple[Tuple[int, int], str]] = {}
        self._lock = threading.Lock()

    def names(self) -> List[str]:
        """The names of the voices that loaded, sorted."""
        with self._lock:
            return sorted(self._voices)

    @property
    def refused(self) -> Dict[str, str]:
        """name -> why its file was refused, for the files of the folder that do not fit the base."""
        with self._lock:
            return {name: reason for name, (_, reason) in sorted(self._refused.items())}

    def get(self, name: str, rescan: bool = True) -> Optional[LoadedVoice]:
        """The voice ``name``, or ``None``. A name not loaded yet rescans the folder first (with
        ``rescan``), so a voice copied into the folder is found by its first request."""
        with self._lock:
            voice = self._voices.get(name)
        if voice is None and rescan:
            self.reload()
            with self._lock:
                voice = self._voices.get(name)
        return voice

    def reload(self) -> ReloadReport:
        """Rescan the folder: read new and changed files, drop vanished ones. Each refusal is
        logged with the voice's name and the reason."""
        report = ReloadReport()
        with self._lock:
            files = {
                entry.name[: -len(VOICE_SUFFIX)]: entry.path
                for entry in os.scandir(self.folder)
                if entry.name.endswith(VOICE_SUFFIX) and not entry.name.startswith(".") and entry.is_file()
            }
            for name in sorted(set(self._voices) - set(files)):
                del self._voices[name]
                report.removed.append(name)
            for name in set(self._refused) - set(files):
                del self._refused[name]
            for name, path in sorted(files.items()):
                try:
                    signature = _signature(path)
                except FileNotFoundError:  # removed while we scanned
                    continue
                if self._signature_of(name) == signature:
                    continue
                try:
                    self._voices[name] = self._read(name, path, signature)
                    self._refused.pop(name, None)
                    report.loaded.append(name)
                except ValueError as e:
                    self._voices.pop(name, None)
                    self._refused[name] = (signature, str(e))
                    report.refused[name] = str(e)
                    logger.warning("voice %r refused: %s", name, e)
        if report.loaded or report.removed:
            logger.info("voices: %d loaded (%s), %d removed", len(report.loaded), ", ".join(report.loaded),
                        len(report.removed))  # fmt: skip
        return report

    def _signature_of(self, name: str) -> Optional[Tuple[int, int]]:
        if name in self._voices:
            return self._voices[name].signature
        return self._refused[name][0] if name in self._refused else None

    def _read(self, name: str, path: str, signature: Tuple[int, int]) -> LoadedVoice:
        voice = load_voice(path)
        check_voice_base(voice, self.base_sha256, path, self.base)
        try:
            check_voice_fits(voice, self._base_state)
        except ValueError as e:
            raise ValueError(f"{path}: {e}") from e
        tensors = self._prepare(voice.tensors) if self._prepare else voice.tensors
        tensors = {k: v.to(self.device) for k, v in tensors.items()}
        power = voice.provenance.get("griffin_lim_power")
        return LoadedVoice(name, path, tensors, signature, None if power is None else float(power))
