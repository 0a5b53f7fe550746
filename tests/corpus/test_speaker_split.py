import random

import pytest

from tts_maml.corpus.speaker_split import dev_samples, split_dev_test
from tts_maml.corpus.speaker_split import test_samples as held_test_samples


@pytest.mark.parametrize("count, dev_count", [(16, 8), (4, 2), (2, 1), (5, 2), (1, 0)])
def test_split_is_disjoint_complete_and_halved(count, dev_count):
    names = [f"VCTK_sp{240 + i}" for i in range(count)]
    dev, test = split_dev_test(names)
    assert len(dev) == dev_count and not set(dev) & set(test) and sorted(dev + test) == sorted(names)


def test_split_is_deterministic_whatever_the_order_or_repeats():
    names = [f"sp{i:03d}" for i in range(16)]
    first = split_dev_test(names)
    for seed in range(5):
        shuffled = names * 2
        random.Random(seed).shuffle(shuffled)
        assert split_dev_test(shuffled) == first
    assert first == ([f"sp{i:03d}" for i in range(8)], [f"sp{i:03d}" for i in range(8, 16)])


def test_samples_follow_the_speaker_split():
    samples = [{"speaker_name": s, "audio_file": f"{s}_{i}.wav"} for s in ("b", "a", "d", "c") for i in range(3)]
    dev, test = dev_samples(samples), held_test_samples(samples)
    assert {s["speaker_name"] for s in dev} == {"a", "b"} and {s["speaker_name"] for s in test} == {"c", "d"}
    assert len(dev) + len(test) == len(samples)


def test_held_out_samples_reads_the_held_out_folder_or_names_the_corpus(small_corpus, tmp_path):
    from tts_maml.corpus.speaker_split import held_out_samples

    samples = held_out_samples(small_corpus.out)
    assert {s["speaker_name"].split("_")[-1] for s in samples} == set(small_corpus.held_out_speakers)
    with pytest.raises(ValueError, match=f"--corpus {tmp_path} has no held_out/ folder"):
        held_out_samples(str(tmp_path))
