"""tts_maml: few-shot voice adaptation for Coqui TTS by model-agnostic meta-learning.

The Python entry points of a user's workflow are importable from here:

    >>> import tts_maml
    >>> sorted(n for n in ("adapt", "merge", "load_voice") if hasattr(tts_maml, n))
    ['adapt', 'load_voice', 'merge']

They are imported lazily, so ``import tts_maml`` stays light (the corpus builder's worker
processes import it without torch).
"""

__version__ = "0.1.0"

_LAZY = {"adapt": "tts_maml.adapt.adaptation", "merge": "tts_maml.adapt.voice_delta", "load_voice": "tts_maml.adapt.voice_delta"}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tts_maml' has no attribute {name!r}")
