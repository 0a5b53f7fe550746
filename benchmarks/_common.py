"""What the benchmarks share: the tiny model, a small corpus and prebuilt episode batches."""

import json
import os
import random
import socket
import sys
import tempfile

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tts_maml.backbones import VitsBackbone  # noqa: E402
from tts_maml.corpus.build import build_corpus  # noqa: E402
from tts_maml.meta.episodes import EpisodeSampler  # noqa: E402
from tts_maml.meta.learner import TaskBatch  # noqa: E402


def training_speakers(corpus, n, seed=0):
    """``n`` of an offline corpus's training speakers (its speaker folders), drawn with ``seed``, sorted."""
    from tts_maml.corpus.build import WAV_DIR

    return sorted(random.Random(seed).sample(sorted(os.listdir(os.path.join(corpus, WAV_DIR))), n))


def small_corpus(folder=None):
    """8 speakers x 10 clips (+2 held out), built into a temporary folder (about 10 s)."""
    folder = folder or tempfile.mkdtemp(prefix="tts_maml_bench_")
    out = os.path.join(folder, "corpus")
    if not os.path.isfile(os.path.join(out, "corpus.json")):
        build_corpus(out, speakers=8, utterances=10, seed=5, held_out=2, progress=False)
    return out


def setup(corpus, algorithm="maml", inner_steps=3, meta_batch_size=4, config=None, seed=0):
    """(backbone, model, learner, tasks): tiny VITS and one meta-batch of prebuilt task batches."""
    from TTS.tts.configs.shared_configs import BaseDatasetConfig

    from tts_maml.corpus.samples import load_samples

    config = config or VitsBackbone.tiny_config(phoneme_cache_path=os.path.join(corpus, "..", "phonemes"))
    config.maml.algorithm = algorithm
    config.maml.inner_steps = inner_steps
    config.maml.n_support, config.maml.n_query = 5, 5
    backbone = VitsBackbone(config)
    torch.manual_seed(seed)
    model = backbone.build_model().train()
    samples = load_samples(BaseDatasetConfig(formatter="vctk", path=corpus))
    episodes = EpisodeSampler(samples, 5, 5, seed=seed).sample(0, meta_batch_size)
    tasks = [TaskBatch(e.task, backbone.make_batch(model, e.support), backbone.make_batch(model, e.query)) for e in episodes]
    learner = backbone.make_learner(model)
    return backbone, model, learner, tasks


def evaluated(model_path, config_path, corpus, out, **kwargs):
    """``tts-maml evaluate``'s results in ``out``: read back from its ``results.json`` when there is one
    (a re-run measures only what is missing), else measured (``kwargs`` go to ``evaluate``)."""
    done = os.path.join(out, "results.json")
    if os.path.isfile(done):
        with open(done, encoding="utf-8") as f:
            return json.load(f)
    from tts_maml.evaluate.evaluation import evaluate

    return evaluate(model_path, config_path, corpus, out, overwrite=True, progress=False, **kwargs)


def table(header, rows):
    """Print a markdown table."""
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(str(c) for c in row) + " |")


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on now (for a server or a rendezvous)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
