"""``tts-maml serve``: one process, one base model, many adapted voices over HTTP.

Each voice is a ``voice.pth`` delta (only its adapted tensors); the base model is loaded once and
a request is spoken by switching the named voice's tensors into it. Three modules, data flowing
one way:

- :mod:`tts_maml.serve.library`: the folder of voice deltas, each checked against the base;
- :mod:`tts_maml.serve.synthesis`: the base model speaking any voice of the library;
- :mod:`tts_maml.serve.app`: the HTTP API (Coqui ``tts-server``'s request shapes) and the server.

Example:
    >>> from tts_maml.serve import MultiVoiceSynthesizer, serve
    >>> serve(MultiVoiceSynthesizer("META.pth", "config.json", "voices/"), port=5002)  # doctest: +SKIP
"""

from tts_maml.serve.app import create_app, serve, start_server
from tts_maml.serve.library import VoiceLibrary
from tts_maml.serve.synthesis import BadRequestError, MultiVoiceSynthesizer, UnknownVoiceError

__all__ = ["BadRequestError", "MultiVoiceSynthesizer", "UnknownVoiceError", "VoiceLibrary", "create_app", "serve",
           "start_server"]  # fmt: skip
