"""tts_maml: few-shot voice adaptation for Coqui TTS by model-agnostic meta-learning."""

__version__ = "0.1.0"
