"""SIGKILL a meta-training run at several points, resume each time with --continue_path: the run ends
where an uninterrupted run ends (the same meta-steps, checkpoint names and final weights)."""

import glob
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from kill_resume_run import EPOCHS, SAVE_STEP, STEPS_PER_EPOCH

from tts_maml.adapt.clips import screen_samples
from tts_maml.backbones import VitsBackbone
from tts_maml.corpus.samples import load_samples
from tts_maml.meta.episodes import EpisodeSampler

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "kill_resume_run.py")
TOTAL = EPOCHS * STEPS_PER_EPOCH


def expected_stream(corpus, steps):
    from TTS.tts.configs.shared_configs import BaseDatasetConfig

    config = VitsBackbone.tiny_config()
    model = VitsBackbone(config).build_model()
    samples = screen_samples(load_samples(BaseDatasetConfig(formatter="vctk", path=corpus)), config, model.tokenizer)
    sampler = EpisodeSampler(samples, 2, 2, seed=config.maml.seed)
    return {s: [e.task for e in sampler.sample(s, 2)] for s in range(steps)}


def read_stream(path):
    if not os.path.exists(path):
        return []
    rows = [line.split() for line in open(path, encoding="utf-8").read().splitlines() if line.strip()]
    return [(int(r[0]), r[1:]) for r in rows]


def run_folder(output):
    (folder,) = [d for d in glob.glob(os.path.join(output, "*")) if os.path.isfile(os.path.join(d, "config.json"))]
    return folder


def command(corpus, output, stream, continue_path=None):
    return [sys.executable, SCRIPT, corpus, output, stream] + ([continue_path] if continue_path else [])


def run(corpus, output, stream, continue_path=None, kill_at=None, log=None):
    """Run to the end or to its own SIGKILL at ``kill_at``; the return code."""
    env = {**os.environ, "KILL_AT": kill_at or ""}
    with open(log or os.devnull, "w", encoding="utf-8") as err:
        done = subprocess.run(command(corpus, output, stream, continue_path), env=env, timeout=600,
                              stdout=subprocess.DEVNULL, stderr=err)  # fmt: skip
    return done.returncode


def saved(folder):
    """{file name: checkpoint} of every .pth file in the run folder (each must load)."""
    return {n: torch.load(os.path.join(folder, n), map_location="cpu", weights_only=False)
            for n in sorted(os.listdir(folder)) if n.endswith(".pth")}  # fmt: skip


def steps_done(folder):
    return max((c["maml"]["meta_steps_done"] for c in saved(folder).values()), default=0)


@pytest.fixture(scope="module")
def uninterrupted(adapt_corpus, tmp_path_factory):
    output = str(tmp_path_factory.mktemp("uninterrupted"))
    stream = os.path.join(output, "stream.txt")
    assert run(adapt_corpus.out, output, stream) == 0
    return run_folder(output), read_stream(stream)


@pytest.mark.slow
def test_kill_at_several_points_and_resume(adapt_corpus, tmp_path, uninterrupted):
    reference, reference_stream = uninterrupted
    corpus, output, streams = adapt_corpus.out, str(tmp_path / "out"), []

    def stream():
        streams.append(str(tmp_path / f"stream{len(streams)}.txt"))
        return streams[-1]

    # 1. mid-epoch: SIGKILL from outside while meta-step 2 runs (after checkpoint_2.pth)
    proc = subprocess.Popen(command(corpus, output, stream()), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline and not any(s == 2 for s, _ in read_stream(streams[-1])):
        assert proc.poll() is None, "the run ended before it was killed"
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    folder = run_folder(output)
    points = [
        ("train_epoch_end:0", [2, 3]),  # between epochs: after checkpoint_4.pth, before epoch 0's best model
        ("train_epoch_start:1", []),  # between epochs: after epoch 0 ended, before meta-step 4
        ("save:6", [4, 5]),  # mid-save: checkpoint_6.pth's temporary file written, not yet renamed
        (None, [4, 5, 6, 7]),  # to the end
    ]
    for kill_at, steps in points:
        start = steps_done(folder)
        log = str(tmp_path / f"log{len(streams)}.txt")
        assert run(corpus, output, stream(), folder, kill_at, log) == (-signal.SIGKILL if kill_at else 0), kill_at
        ran = [s for s, _ in read_stream(streams[-1])]
        assert ran == steps and (not ran or ran[0] == start), (kill_at, ran, start)
        if kill_at == "train_epoch_start:1":
            assert "best_model_4.pth" in os.listdir(folder)
        if kill_at == "save:6":
            assert glob.glob(os.path.join(folder, ".checkpoint_6.pth.*.tmp")) and not os.path.exists(
                os.path.join(folder, "checkpoint_6.pth"))  # fmt: skip
    # the killed save's temporary file is gone, and said so, at the next start
    assert not [n for n in os.listdir(folder) if n.endswith(".tmp")]
    assert ".checkpoint_6.pth." in open(log, encoding="utf-8").read()
    # the same meta-steps, with the episodes an uninterrupted run draws
    expected = expected_stream(corpus, TOTAL)
    assert [s for s, _ in reference_stream] == list(range(TOTAL))
    for path in streams:
        for step, tasks in read_stream(path):
            assert expected[step] == tasks, step
    # the same files, each numbered by the meta-steps it holds, and the same weights bit for bit
    files, expected_files = saved(folder), saved(reference)
    checkpoints = [f"checkpoint_{n}.pth" for n in range(SAVE_STEP, TOTAL + 1, SAVE_STEP)]
    assert sorted(files) == sorted(expected_files) and set(checkpoints) <= set(files)
    numbered = {name: int(name[: -len(".pth")].rsplit("_", 1)[1]) for name in files if name != "best_model.pth"}
    numbered["best_model.pth"] = max(n for name, n in numbered.items() if name.startswith("best_model_"))
    for name, state in files.items():
        n = numbered[name]
        assert state["step"] == state["maml"]["meta_steps_done"] == n, name
        for key, tensor in expected_files[name]["model"].items():
            assert torch.equal(state["model"][key], tensor), (name, key)
    final, reference_final = files[checkpoints[-1]]["optimizer"][0], expected_files[checkpoints[-1]]["optimizer"][0]
    for index, moments in reference_final["state"].items():
        for key, value in moments.items():
            assert torch.equal(final["state"][index][key], value), (index, key)
