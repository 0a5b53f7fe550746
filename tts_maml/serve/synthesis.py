"""One base model speaking many voices: the adapted tensors are switched in per request.

:class:`MultiVoiceSynthesizer` loads the base checkpoint once, through Coqui's own ``TTS`` API
(the object ``tts`` and ``tts-server`` use), and a :class:`~tts_maml.serve.library.VoiceLibrary`
of voice deltas. To speak in a voice it copies that voice's adapted tensors into the model's own
parameters, in place (they are already on the model's device), and puts back the base values of
any tensor the previous voice adapted and this one does not; the rest of the model is never
copied. A lock makes switch + synthesis one step, so concurrent requests never mix voices, and
the noise of the synthesis is seeded per request: the same voice, text and seed give the same
bytes as Coqui's ``tts`` on that voice's ``adapted.pth`` after ``torch.manual_seed(seed)``.

Example:
    >>> from tts_maml.serve.synthesis import MultiVoiceSynthesizer
    >>> synth = MultiVoiceSynthesizer("META.pth", "config.json", "voices/")  # doctest: +SKIP
    >>> wav = synth.speak("alice", "Hello there.", seed=0)  # doctest: +SKIP
    >>> wav[:4]  # doctest: +SKIP
    b'RIFF'
"""

import io
import logging
import threading
from typing import Dict, List, Optional

import torch
from torch import Tensor

from tts_maml.serve.library import LoadedVoice, VoiceLibrary

logger = logging.getLogger(__name__)

MAX_SEED = 2**32 - 1


class UnknownVoiceError(LookupError):
    """A request named a voice the library does not have; ``voices`` lists those it has."""

    def __init__(self, name: str, voices: List[str]):
        super().__init__(f"unknown voice {name!r}; voices: {', '.join(voices) or '(none)'}")
        self.name = name
        self.voices = voices


class BadRequestError(ValueError):
    """A request that cannot be spoken as asked (empty or overlong text, a bad seed...)."""


class MultiVoiceSynthesizer:
    """The base model, loaded once, and the voices of a folder.

    Args:
        base: the base (meta-trained) checkpoint every voice was adapted from.
        config_path: its ``config.json``.
        voices: the folder of ``*.pth`` voice deltas (name = file name without ``.pth``).
        device: ``cpu`` or ``cuda``; the model and every voice's tensors live there.
        max_chars: the longest text a request may ask for.
    """

    def __init__(self, base: str, config_path: str, voices: str, device: str = "cpu", max_chars: int = 1000):
        from TTS.api import TTS

        self.api = TTS(model_path=base, config_path=config_path).to(device)
        self.model = self.api.synthesizer.tts_model
        self.device = next(self.model.parameters()).device
        self.sample_rate = int(self.api.synthesizer.output_sample_rate)
        self.language = str(self.api.synthesizer.tts_config.get("phoneme_language") or "en")
        self.max_chars = max_chars
        # The model's own parameter and buffer objects: a switch writes into them in place.
        self._tensors: Dict[str, Tensor] = dict(self.model.state_dict(keep_vars=True))
        self._base: Dict[str, Tensor] = {}  # base values of every tensor some voice has adapted
        self._current: Optional[LoadedVoice] = None
        self._lock = threading.Lock()
        self.library = VoiceLibrary(voices, base, self.model.state_dict(), self.device)
        self.library.reload()

    def check_text(self, text: str) -> str:
        """``text`` if it can be spoken, else :class:`BadRequestError` (empty, or longer than
        ``max_chars``)."""
        if not isinstance(text, str) or not text.strip():
            raise BadRequestError("text is empty: send the text to speak")
        if len(text) > self.max_chars:
            raise BadRequestError(f"text has {len(text)} characters, more than the {self.max_chars} allowed")
        return text

    def voice(self, name: str) -> LoadedVoice:
        """The loaded voice ``name`` (the folder is rescanned for a name not loaded yet), else
        :class:`UnknownVoiceError`."""
        voice = self.library.get(name) if isinstance(name, str) and name else None
        if voice is None:
            raise UnknownVoiceError(str(name), self.library.names())
        return voice

    def use(self, name: str) -> None:
        """Switch the model to the voice ``name`` (what every request does first)."""
        voice = self.voice(name)
        with self._lock:
            self._switch(voice)

    def _switch(self, voice: LoadedVoice) -> None:
        # Invariant: a tensor missing from self._base has never been overwritten, so the model
        # still holds its base value when it is first recorded.
        if voice is self._current:
            return
        with torch.no_grad():
            if self._current is not None:
                for name in self._current.tensors.keys() - voice.tensors.keys():
                    self._tensors[name].copy_(self._base[name])
            for name, tensor in voice.tensors.items():
                if name not in self._base:
                    self._base[name] = self._tensors[name].detach().clone()
                self._tensors[name].copy_(tensor)
        self._current = voice

    def speak(self, name: str, text: str, seed: int = 0) -> bytes:
        """``text`` spoken in the voice ``name``, as the bytes of the WAV file ``tts`` would write
        (Coqui's ``Synthesizer.tts`` and ``save_wav``), the synthesis noise seeded with ``seed``."""
        text = self.check_text(text)
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
            raise BadRequestError(f"seed {seed!r} is not an integer in 0..{MAX_SEED}")
        voice = self.voice(name)
        with self._lock:
            self._switch(voice)
            torch.manual_seed(seed)
            wav = self.api.tts(text)
        out = io.BytesIO()
        self.api.synthesizer.save_wav(wav, out)
        return out.getvalue()
