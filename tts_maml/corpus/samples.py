"""Corpus samples as Coqui's formatters give them (``{"text", "audio_file", "speaker_name", ...}``).

Example:
    >>> from TTS.tts.configs.shared_configs import BaseDatasetConfig
    >>> from tts_maml.corpus.samples import load_samples
    >>> load_samples(BaseDatasetConfig(formatter="vctk", path="/nonexistent"))  # doctest: +SKIP
"""

from typing import Any, Callable, Dict, List, Optional


def load_samples(dataset: Any, formatter: Optional[Callable[..., List[Dict[str, Any]]]] = None) -> List[Dict[str, Any]]:
    """Coqui's ``load_tts_samples`` on one dataset config (with a custom ``formatter`` function if
    given), with no random eval split."""
    from TTS.tts.configs.shared_configs import BaseTTSConfig
    from TTS.tts.datasets import load_tts_samples

    holder = BaseTTSConfig(datasets=[dataset])
    samples, _ = load_tts_samples(holder, eval_split=False, formatter=formatter)
    if not samples:
        raise ValueError(f"no samples found in {dataset.path} with formatter {dataset.formatter!r}")
    return samples
