"""Shared fixtures: a small offline corpus, built once per test session; a free local port."""

import socket

import pytest

from tts_maml.corpus.build import build_corpus


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


@pytest.fixture(scope="session")
def adapt_corpus(tmp_path_factory):
    """3 training speakers + 2 held-out speakers, 8 clips each (enough for 5 support + 2 held-out)."""
    out = tmp_path_factory.mktemp("adapt_corpus") / "corpus"
    return build_corpus(str(out), speakers=3, utterances=8, seed=11, held_out=2, workers=2, progress=False)


@pytest.fixture(scope="session")
def meta_trained(adapt_corpus, tmp_path_factory, phoneme_cache):
    """A tiny VITS meta-trained (Meta-SGD) for a few steps by MamlTrainer: (checkpoint, config.json)."""
    import os

    import torch
    from trainer import TrainerArgs
    from TTS.tts.configs.shared_configs import BaseDatasetConfig, BaseTTSConfig
    from TTS.tts.datasets import load_tts_samples

    from tts_maml.backbones import VitsBackbone
    from tts_maml.training.trainer_model import MamlTrainer, MamlTrainerModel

    torch.manual_seed(0)
    load = lambda p: load_tts_samples(BaseTTSConfig(datasets=[BaseDatasetConfig(formatter="vctk", path=p)]),
                                      eval_split=False)[0]  # noqa: E731
    train, held = load(adapt_corpus.out), load(os.path.join(adapt_corpus.out, "held_out"))
    config = VitsBackbone.tiny_config(
        phoneme_cache_path=phoneme_cache, output_path=str(tmp_path_factory.mktemp("meta_run")), epochs=1,
        print_step=10, plot_step=10, save_step=100, test_sentences=[], run_eval=False,
    )  # fmt: skip
    config.maml.algorithm = "metasgd"
    config.maml.inner_steps = 2
    config.maml.meta_batch_size = 2
    config.maml.n_support = 3
    config.maml.n_query = 3
    config.maml.meta_steps_per_epoch = 4
    trainer = MamlTrainer(TrainerArgs(), config, config.output_path, model=MamlTrainerModel(config),
                          train_samples=train, eval_samples=held, parse_command_line_args=False)  # fmt: skip
    trainer.fit()
    out = str(trainer.output_path)
    return os.path.join(out, "best_model.pth"), os.path.join(out, "config.json")


def save_untrained(folder, backbone_class):
    """An untrained tiny one-voice-slot model of ``backbone_class`` (seed 0) saved into ``folder`` as
    ``model.pth`` + ``config.json`` (its phonemes cached there too): the two paths."""
    import torch

    config = backbone_class.tiny_config(phoneme_cache_path=str(folder / "phonemes"))
    torch.manual_seed(0)
    model = backbone_class(config).build_model()
    torch.save({"model": model.state_dict()}, folder / "model.pth")
    config.save_json(str(folder / "config.json"))
    return str(folder / "model.pth"), str(folder / "config.json")


@pytest.fixture
def tiny_glow_tts():
    """Tiny multi-speaker Glow-TTS sizes for the pre-training preset: the d-vector width equals
    hidden_channels_enc, as the conversion needs."""
    return dict(
        hidden_channels_enc=8,
        hidden_channels_dec=32,
        hidden_channels_dp=32,
        num_flow_blocks_dec=4,
        num_block_layers=2,
        d_vector_dim=8,
        encoder_params={"kernel_size": 3, "dropout_p": 0.1, "num_layers": 2, "num_heads": 2, "hidden_channels_ffn": 32,
                        "input_length": None},  # fmt: skip
    )


@pytest.fixture
def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on (for a process group or a server)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
