import numpy as np
import pytest

from tts_maml.speakers.similarity import corpus_clips, cosine, similarity_report


def test_cosine_known_values():
    assert cosine(np.array([1.0, 0.0]), np.array([2.0, 0.0])) == pytest.approx(1.0)
    assert cosine(np.array([1.0, 0.0]), np.array([0.0, 3.0])) == pytest.approx(0.0)
    assert cosine(np.array([1.0, 1.0]), np.array([-1.0, -1.0])) == pytest.approx(-1.0)


def test_report_needs_two_speakers_with_two_clips():
    with pytest.raises(ValueError, match="two speakers"):
        similarity_report({"a": ["x", "y"]})
    with pytest.raises(ValueError, match="speaker b has 1"):
        similarity_report({"a": ["x", "y"], "b": ["z"]})


@pytest.mark.slow
@pytest.mark.parametrize("encoder", ["resemblyzer", "campplus"])
def test_corpus_speakers_are_distinct_to_a_speaker_encoder(small_corpus, encoder):
    from tts_maml.judges import campplus_embed_file
    from tts_maml.speakers.similarity import embed_file

    embed_path = {"resemblyzer": embed_file, "campplus": campplus_embed_file}[encoder]
    report = similarity_report(corpus_clips(small_corpus.out, max_clips=4), embed_path)
    assert sorted(report.distinct) == sorted(small_corpus.speakers)
    assert min(report.accuracy.values()) == 1.0
    assert report.mean_within > report.mean_between + 0.1
