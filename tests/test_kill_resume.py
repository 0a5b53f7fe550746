"""SIGKILL a meta-training run mid-step, after a checkpoint was written; resume with --continue_path."""

import glob
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from tts_maml.backbones import VitsBackbone
from tts_maml.clips import screen_samples
from tts_maml.episodes import EpisodeSampler
from tts_maml.recipes import load_samples

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "kill_resume_run.py")
STEPS = 12


def expected_stream(corpus, steps):
    from TTS.tts.configs.shared_configs import BaseDatasetConfig

    config = VitsBackbone.tiny_config()
    model = VitsBackbone(config).build_model()
    samples = screen_samples(load_samples(BaseDatasetConfig(formatter="vctk", path=corpus)), config, model.tokenizer)
    sampler = EpisodeSampler(samples, 2, 2, seed=config.maml.seed)
    return {s: [e.task for e in sampler.sample(s, 2)] for s in range(steps)}


def read_stream(path):
    rows = [line.split() for line in open(path, encoding="utf-8").read().splitlines() if line.strip()]
    return [(int(r[0]), r[1:]) for r in rows]


def run_folder(output):
    (folder,) = [d for d in glob.glob(os.path.join(output, "*")) if os.path.isfile(os.path.join(d, "config.json"))]
    return folder


@pytest.mark.slow
@pytest.mark.parametrize("wait_after_checkpoint", [0.0, 0.15, 0.5])
def test_kill_and_resume(adapt_corpus, tmp_path, wait_after_checkpoint):
    output = str(tmp_path / "out")
    stream = str(tmp_path / "stream.txt")
    proc = subprocess.Popen([sys.executable, SCRIPT, adapt_corpus.out, output, str(STEPS), stream],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.time() + 240
    while time.time() < deadline and not glob.glob(os.path.join(output, "*", "checkpoint_3.pth")):
        assert proc.poll() is None, "the run ended before it was killed"
        time.sleep(0.02)
    time.sleep(wait_after_checkpoint)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    folder = run_folder(output)
    # no corrupt file: every checkpoint the run left loads
    saved = sorted(glob.glob(os.path.join(folder, "*.pth")))
    assert saved
    last_done = 0
    for path in saved:
        state = torch.load(path, map_location="cpu", weights_only=False)
        last_done = max(last_done, state["maml"]["meta_steps_done"])
    killed_at = read_stream(stream)[-1][0]
    assert killed_at >= 3
    # resume
    subprocess.run([sys.executable, SCRIPT, adapt_corpus.out, output, str(STEPS), stream, folder], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=600)  # fmt: skip
    rows = read_stream(stream)
    before = [r for r in rows if r[0] <= killed_at][: killed_at + 1]
    resumed = rows[killed_at + 1 :]
    assert resumed[0][0] == last_done, "the run continues from the last saved step"
    expected = expected_stream(adapt_corpus.out, max(s for s, _ in rows) + 1)
    for step, tasks in before + resumed:
        assert expected[step] == tasks, step
    for path in glob.glob(os.path.join(folder, "*.pth")):
        torch.load(path, map_location="cpu", weights_only=False)
