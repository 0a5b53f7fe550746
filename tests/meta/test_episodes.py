import logging

import pytest

from tts_maml.meta.episodes import EpisodeSampler


def samples(counts, key="speaker_name"):
    out = []
    for task, n in counts.items():
        out += [{key: task, "audio_file": f"/d/{task}_{i:03d}.flac", "text": f"text {i}"} for i in range(n)]
    return out


COUNTS = {"a": 12, "b": 12, "c": 12, "d": 12, "e": 12, "tiny": 5}


def test_support_and_query_are_disjoint_and_sized():
    sampler = EpisodeSampler(samples(COUNTS), n_support=5, n_query=4, seed=0)
    for step in range(20):
        for ep in sampler.sample(step, meta_batch_size=4):
            support = {c["audio_file"] for c in ep.support}
            query = {c["audio_file"] for c in ep.query}
            assert len(support) == 5 and len(query) == 4 and not support & query
            assert all(c["speaker_name"] == ep.task for c in ep.support + ep.query)


def test_episodes_are_reproducible_and_depend_on_seed_and_step():
    a = EpisodeSampler(samples(COUNTS), 5, 4, seed=3)
    # the formatter may list files in any order: shuffle the input
    b = EpisodeSampler(list(reversed(samples(COUNTS))), 5, 4, seed=3)
    assert a.sample(7, 4) == b.sample(7, 4)
    assert a.sample(7, 4) != a.sample(8, 4)
    assert a.sample(7, 4) != EpisodeSampler(samples(COUNTS), 5, 4, seed=4).sample(7, 4)


def test_ranks_share_out_the_same_meta_batch():
    sampler = EpisodeSampler(samples(COUNTS), 5, 4, seed=1)
    whole = sampler.sample(11, meta_batch_size=4)
    r0 = sampler.sample(11, meta_batch_size=4, rank=0, world_size=2)
    r1 = sampler.sample(11, meta_batch_size=4, rank=1, world_size=2)
    assert sorted(r0 + r1, key=lambda e: e.slot) == whole
    assert [e.slot for e in r0] == [0, 2] and [e.slot for e in r1] == [1, 3]
    with pytest.raises(ValueError, match="rank 2"):
        sampler.sample(0, 4, rank=2, world_size=2)


def test_meta_batch_has_distinct_tasks_when_possible():
    sampler = EpisodeSampler(samples(COUNTS), 5, 4, seed=0)
    for step in range(10):
        tasks = [e.task for e in sampler.sample(step, 4)]
        assert len(set(tasks)) == 4
    assert len(sampler.sample(0, 9)) == 9  # more tasks than there are: drawn with replacement


def test_small_tasks_are_skipped_and_logged_once_with_a_count(caplog):
    with caplog.at_level(logging.WARNING):
        sampler = EpisodeSampler(samples(COUNTS), n_support=5, n_query=4)
        for step in range(5):
            sampler.sample(step, 4)
    assert "tiny" not in sampler.train_tasks and sampler.skipped_tasks == {"tiny": 5}
    messages = [r.getMessage() for r in caplog.records if "skipping" in r.getMessage()]
    assert len(messages) == 1 and "1 task(s)" in messages[0] and "tiny (5)" in messages[0]


def test_held_out_tasks_are_whole_and_never_meta_trained():
    sampler = EpisodeSampler(samples(COUNTS), 5, 4, seed=2, held_out_tasks=2)
    assert len(sampler.held_out_tasks) == 2
    assert not set(sampler.held_out_tasks) & set(sampler.train_tasks)
    for step in range(50):
        assert not {e.task for e in sampler.sample(step, 3)} & set(sampler.held_out_tasks)
    held = sampler.held_out_episodes()
    assert [e.task for e in held] == sampler.held_out_tasks
    named = EpisodeSampler(samples(COUNTS), 5, 4, held_out_task_names=["e"])
    assert named.held_out_tasks == ["e"]
    with pytest.raises(ValueError, match="'zz' is not a task"):
        EpisodeSampler(samples(COUNTS), 5, 4, held_out_task_names=["zz"])
    with pytest.raises(ValueError, match="leaves no task"):
        EpisodeSampler(samples(COUNTS), 5, 4, held_out_tasks=5)


def test_tasks_by_another_key():
    sampler = EpisodeSampler(samples({"fast": 10, "slow": 10}, key="style"), 3, 3, task_key="style")
    assert sampler.train_tasks == ["fast", "slow"]
    with pytest.raises(KeyError, match="'style'"):
        EpisodeSampler(samples({"a": 10}), 3, 3, task_key="style")


def test_no_eligible_task_is_an_error():
    with pytest.raises(ValueError, match="no task has 9 clips"):
        EpisodeSampler(samples({"a": 3}), 5, 4)


def test_state_dict_detects_a_different_stream():
    sampler = EpisodeSampler(samples(COUNTS), 5, 4, seed=0)
    sampler.check_state_dict(sampler.state_dict())
    other = EpisodeSampler(samples(COUNTS), 5, 4, seed=1)
    with pytest.raises(ValueError, match="'seed'"):
        other.check_state_dict(sampler.state_dict())


@pytest.mark.parametrize("seed, named, held", [(0, [], ["sp000", "sp003", "sp005"]), (1, [], ["sp005", "sp006", "sp007"]),
                                               (7, ["sp004"], ["sp000", "sp002", "sp004"])])  # fmt: skip
def test_held_out_tasks_are_the_ones_drawn_before_the_draw_moved_to_speaker_split(seed, named, held):
    ten = samples({f"sp{i:03d}": 4 for i in range(10)})
    sampler = EpisodeSampler(ten, 2, 2, seed=seed, held_out_tasks=3 - len(named), held_out_task_names=named)
    assert sampler.held_out_tasks == held


def test_from_config_takes_sizes_key_seed_and_held_out_tasks_from_maml():
    from tts_maml.config import MamlConfig

    maml = MamlConfig(n_support=5, n_query=4, seed=2, held_out_tasks=2)
    sampler = EpisodeSampler.from_config(samples(COUNTS), maml)
    assert sampler.state_dict() == EpisodeSampler(samples(COUNTS), 5, 4, seed=2, held_out_tasks=2).state_dict()
    every = EpisodeSampler.from_config(samples(COUNTS), maml, held_out=False)
    assert every.held_out_tasks == [] and every.train_tasks == ["a", "b", "c", "d", "e"]
