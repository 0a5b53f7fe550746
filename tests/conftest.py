"""Shared fixtures: a small offline corpus, built once per test session."""

import pytest

from tts_maml.corpus import build_corpus


@pytest.fixture(scope="session")
def small_corpus(tmp_path_factory):
    """3 training speakers x 4 clips, plus 1 held-out speaker, 22050 Hz."""
    out = tmp_path_factory.mktemp("corpus") / "corpus"
    summary = build_corpus(str(out), speakers=3, utterances=4, seed=7, held_out=1, workers=2, progress=False)
    return summary


@pytest.fixture(scope="session")
def small_samples(small_corpus):
    """Coqui sample dicts of the small corpus (vctk formatter)."""
    from TTS.tts.configs.shared_configs import BaseDatasetConfig, BaseTTSConfig
    from TTS.tts.datasets import load_tts_samples

    config = BaseTTSConfig(datasets=[BaseDatasetConfig(formatter="vctk", path=small_corpus.out)])
    train, _ = load_tts_samples(config, eval_split=False)
    return train


@pytest.fixture(scope="session")
def phoneme_cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("phonemes"))
