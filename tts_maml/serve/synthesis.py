"""One base model speaking many voices: the adapted tensors are switched in per request.

:class:`MultiVoiceSynthesizer` loads the base checkpoint once, through Coqui's own ``TTS`` API
(the object ``tts`` and ``tts-server`` use), and a :class:`~tts_maml.serve.library.VoiceLibrary`
of voice deltas. To speak in a voice it copies that voice's adapted tensors into the model's own
parameters, in place (they are already on the model's device), and puts back the base values of
any tensor the previous voice adapted and this one does not; the rest of the model is never
copied. A lock makes switch + synthesis one step, so concurrent requests never mix voices, and
the randomness of the synthesis is seeded per request: the same voice, text and seed give the
same bytes as Coqui's ``tts`` on that voice's ``adapted.pth`` after ``torch.manual_seed(seed)``
and ``numpy.random.seed(seed)`` (numpy: Griffin-Lim's initial phases).

VITS loads for inference as it is saved, so a voice's tensors are switched in as they are.
Glow-TTS folds weight norm and stores inverted matrices when it loads for inference; each of its
voices is converted once, when it is read: Coqui's own ``load_checkpoint(eval=True)`` on base +
voice (in memory), keeping the tensors that differ from the base.

Example:
    >>> from tts_maml.serve.synthesis import MultiVoiceSynthesizer
    >>> synth = MultiVoiceSynthesizer("META.pth", "config.json", "voices/")  # doctest: +SKIP
    >>> wav = synth.speak("alice", "Hello there.", seed=0)  # doctest: +SKIP
    >>> wav[:4]  # doctest: +SKIP
    b'RIFF'
"""

import io
import threading
import uuid
from typing import Dict, List, Optional

import numpy as np
import torch
from torch import Tensor

from tts_maml.serve.library import LoadedVoice, VoiceLibrary

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
        self._base_path, self._config_path = base, config_path
        # The model's own parameter and buffer objects: a switch writes into them in place.
        self._tensors: Dict[str, Tensor] = dict(self.model.state_dict(keep_vars=True))
        self._base: Dict[str, Tensor] = {}  # base values of every tensor some voice has adapted
        self._current: Optional[LoadedVoice] = None
        self._base_power = float(self.model.ap.power)  # Griffin-Lim's exponent of a voice that fitted none
        self._lock = threading.Lock()
        # Voices are checked against the checkpoint's tensors (the names adaptation wrote). When
        # loading for inference changes them (Glow-TTS folds weight norm and stores inverses), each
        # voice is brought into the model's inference form once, when it is read.
        state = torch.load(base, map_location="cpu", mmap=True, weights_only=False)["model"]
        served = self.model.state_dict()
        as_is = state.keys() == served.keys() and all(torch.equal(v, served[k].cpu()) for k, v in state.items())
        shapes = {k: torch.empty(v.shape, dtype=v.dtype, device="meta") for k, v in state.items()}
        del state
        prepare = None if as_is else self._inference_form
        self.library = VoiceLibrary(voices, base, shapes, self.device, prepare=prepare)
        self.library.reload()

    def _inference_form(self, tensors: Dict[str, Tensor]) -> Dict[str, Tensor]:
        """The tensors of the base model loaded for inference that differ once ``tensors`` (a
        voice, named as in the checkpoint) are applied: Coqui's own ``load_checkpoint(eval=True)``
        on base + voice, held in memory, compared with the base."""
        import fsspec
        from TTS.config import load_config
        from TTS.tts.models import setup_model

        state = dict(torch.load(self._base_path, map_location="cpu", mmap=True, weights_only=False)["model"])
        state.update(tensors)
        path = f"memory://tts_maml_serve/{uuid.uuid4().hex}.pth"
        # Under the lock: building a model draws from torch's global generator, which a seeded
        # synthesis in another thread must have to itself.
        with self._lock:
            with fsspec.open(path, "wb") as f:
                torch.save({"model": state}, f)
            try:
                config = load_config(self._config_path)
                model = setup_model(config)
                model.load_checkpoint(config, path, eval=True)
            finally:
                fsspec.filesystem("memory").rm(path)
            self._switch(None)
            served = self.model.state_dict()
            return {k: v for k, v in model.state_dict().items() if not torch.equal(v, served[k].cpu())}

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

    def _switch(self, voice: Optional[LoadedVoice]) -> None:
        # None puts the base back. Invariant: a tensor missing from self._base has never been
        # overwritten, so the model still holds its base value when it is first recorded.
        if voice is self._current:
            return
        tensors = voice.tensors if voice is not None else {}
        with torch.no_grad():
            if self._current is not None:
                for name in self._current.tensors.keys() - tensors.keys():
                    self._tensors[name].copy_(self._base[name])
            for name, tensor in tensors.items():
                if name not in self._base:
                    self._base[name] = self._tensors[name].detach().clone()
                self._tensors[name].copy_(tensor)
        fitted = voice.griffin_lim_power if voice is not None else None
        self.model.ap.power = self._base_power if fitted is None else fitted
        self._current = voice

    def speak(self, name: str, text: str, seed: int = 0) -> bytes:
        """``text`` spoken in the voice ``name``, as the bytes of the WAV file ``tts`` would write
        (Coqui's ``Synthesizer.tts`` and ``save_wav``), torch and numpy seeded with ``seed``."""
        text = self.check_text(text)
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
            raise BadRequestError(f"seed {seed!r} is not an integer in 0..{MAX_SEED}")
        voice = self.voice(name)
        with self._lock:
            self._switch(voice)
            torch.manual_seed(seed)  # VITS and Glow-TTS noise
            np.random.seed(seed)  # Coqui's Griffin-Lim starts from random phases (Glow-TTS)
            wav = self.api.tts(text)
        out = io.BytesIO()
        self.api.synthesizer.save_wav(wav, out)
        return out.getvalue()
