"""Shared fixtures: a small offline corpus, built once per test session."""

import pytest

from tts_maml.corpus import build_corpus


@pytest.fixture(scope="session")
def small_corpus(tmp_path_factory):
    """3 training speakers x 4 clips, plus 1 held-out speaker, 22050 Hz."""
    out = tmp_path_factory.mktemp("corpus") / "corpus"
    summary = build_corpus(str(out), speakers=3, utterances=4, seed=7, held_out=1, workers=2, progress=False)
    return summary
