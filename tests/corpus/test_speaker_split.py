import os
import random

import pytest

from tts_maml.corpus.speaker_split import (
    RECIPE_DRAW,
    TASK_DRAW,
    dev_samples,
    draw_held_out,
    held_out_samples,
    split_dev_test,
    split_held_out,
    train_and_dev_samples,
)
from tts_maml.corpus.speaker_split import test_samples as held_test_samples


@pytest.mark.parametrize("count, dev_count", [(16, 8), (4, 2), (2, 1), (5, 2), (1, 0)])
def test_split_is_disjoint_complete_and_halved(count, dev_count):
    names = [f"VCTK_sp{240 + i}" for i in range(count)]
    dev, test = split_dev_test(names)
    assert len(dev) == dev_count and not set(dev) & set(test) and sorted(dev + test) == sorted(names)


def test_ids_that_say_their_role_split_by_it():
    # A family corpus (split by source speaker): dev and test ids, whatever their counts.
    assert split_dev_test(["VCTK_test001", "VCTK_dev000", "VCTK_test000"]) == (["VCTK_dev000"], ["VCTK_test000", "VCTK_test001"])
    assert split_dev_test(["test000", "test001"]) == ([], ["test000", "test001"])
    # One id that does not say its role: the sorted halves, as for every other corpus.
    assert split_dev_test(["dev000", "sp1", "test000", "test001"]) == (["dev000", "sp1"], ["test000", "test001"])


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


def speaker_samples(count=10, clips=4):
    return [{"speaker_name": f"sp{i:03d}", "audio_file": f"sp{i:03d}_{j}.wav", "text": "hi"}
            for i in range(count) for j in range(clips)]  # fmt: skip


@pytest.mark.parametrize("seed, held", [(0, ["sp001", "sp003", "sp009"]), (1, ["sp003", "sp005", "sp007"]),
                                        (7, ["sp005", "sp008", "sp009"])])  # fmt: skip
def test_recipe_held_out_speakers_are_the_ones_drawn_before_the_draw_moved_here(seed, held):
    train, out = split_held_out(speaker_samples(), 3, seed)
    assert sorted({s["speaker_name"] for s in out}) == held
    assert not {s["speaker_name"] for s in train} & set(held) and len(train) + len(out) == 40


def test_each_draw_has_its_own_stream_of_a_seed():
    names = [f"sp{i:03d}" for i in range(10)]
    assert draw_held_out(names, 3, 0, RECIPE_DRAW) == draw_held_out(names, 3, 0, RECIPE_DRAW)
    assert sorted(draw_held_out(names, 3, 0, TASK_DRAW)) == ["sp000", "sp003", "sp005"]


def test_holding_out_every_speaker_is_refused():
    with pytest.raises(ValueError, match="--held-out-speakers 10 leaves no speaker"):
        split_held_out(speaker_samples(), 10)


def test_train_and_dev_samples_draw_or_take_the_held_out_folder(small_corpus):
    train, dev = train_and_dev_samples(speaker_samples(), 4, seed=0)
    held = sorted({s["speaker_name"] for s in split_held_out(speaker_samples(), 4, 0)[1]})
    assert {s["speaker_name"] for s in dev} == set(held[:2]) and len(train) == 24
    samples = speaker_samples(2)
    train, dev = train_and_dev_samples(samples, 4, seed=0, held_out_folder=os.path.join(small_corpus.out, "held_out"))
    assert train is samples and {s["speaker_name"] for s in dev} == set()  # one held-out speaker: no dev speaker


def test_held_out_samples_prefer_the_folder_and_else_need_a_count(small_corpus, tmp_path):
    assert {s["speaker_name"] for s in held_out_samples(small_corpus.out)} == {"VCTK_sp003"}
    with pytest.raises(ValueError, match="no held_out/ folder: pass --held-out-speakers"):
        held_out_samples(str(tmp_path))
