import glob
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch
from trainer import TrainerArgs

from tts_maml.backbones import GlowTTSBackbone, VitsBackbone
from tts_maml.checkpoint import CHECKPOINT_KEY, ENTRY_VERSION, MamlEntry
from tts_maml.meta.learner import INNER_LRS_GROUP
from tts_maml.training.trainer_model import MamlTrainer, MamlTrainerModel

torch.set_num_threads(2)


def tiny_config(backbone_cls, tmp_path, phoneme_cache, algorithm="fomaml", steps_per_epoch=2, epochs=1, **overrides):
    config = backbone_cls.tiny_config(
        phoneme_cache_path=phoneme_cache, output_path=str(tmp_path / "runs"), epochs=epochs, batch_size=1,
        eval_batch_size=1, print_step=1, plot_step=1, save_step=1, mixed_precision=False,
        test_sentences=["Hello."], dashboard_logger="tensorboard", **overrides,
    )  # fmt: skip
    config.maml.algorithm = algorithm
    config.maml.inner_steps = 2
    config.maml.n_support = 2
    config.maml.n_query = 2
    config.maml.meta_batch_size = 2
    config.maml.meta_steps_per_epoch = steps_per_epoch
    return config


def run(config, train, held, continue_path=None, record=None):
    model = MamlTrainerModel(config)
    args = TrainerArgs()
    if continue_path:
        args.continue_path = continue_path
    trainer = MamlTrainer(args, config, config.output_path, model=model, train_samples=train, eval_samples=held,
                          parse_command_line_args=False)  # fmt: skip
    if record is not None:
        sample = model.learner.meta_step

        def recording(tasks, optimizer, step):
            record.append((step, [t.task for t in tasks]))
            return sample(tasks, optimizer, step)

        model.learner.meta_step = recording
    trainer.fit()
    return trainer, model


@pytest.fixture(scope="module")
def samples(small_corpus, small_samples):
    from TTS.tts.configs.shared_configs import BaseDatasetConfig, BaseTTSConfig
    from TTS.tts.datasets import load_tts_samples

    config = BaseTTSConfig(datasets=[BaseDatasetConfig(formatter="vctk", path=small_corpus.out + "/held_out")])
    held, _ = load_tts_samples(config, eval_split=False)
    return small_samples, held


@pytest.mark.parametrize("backbone_cls", [VitsBackbone, GlowTTSBackbone], ids=lambda b: b.name)
def test_coqui_run_folder_and_checkpoints(backbone_cls, tmp_path, phoneme_cache, samples):
    config = tiny_config(backbone_cls, tmp_path, phoneme_cache)
    trainer, model = run(config, *samples)
    out = str(trainer.output_path)
    files = os.listdir(out)
    assert "config.json" in files and "best_model.pth" in files and "checkpoint_1.pth" in files
    assert glob.glob(os.path.join(out, "events.out.tfevents.*")), "TensorBoard logs"
    with open(os.path.join(out, "config.json"), encoding="utf-8") as f:
        saved = json.load(f)
    assert saved["model"] == backbone_cls.name and saved["maml"]["algorithm"] == "fomaml"
    checkpoint = torch.load(os.path.join(out, "checkpoint_1.pth"), map_location="cpu", weights_only=False)
    # Coqui's own keys: exactly the Coqui model's state dict, no wrapper prefix
    assert set(checkpoint["model"]) == set(model.model.state_dict())
    extra = checkpoint[CHECKPOINT_KEY]
    assert extra["adapted"] == model.adapted and extra["sampler"]["seed"] == config.maml.seed
    assert checkpoint["step"] == 1 and extra["meta_steps_done"] == 1  # checkpoint_N: after N meta-steps
    assert extra["format"] == ENTRY_VERSION and MamlEntry.from_dict(extra).to_dict().keys() == extra.keys()


def test_logs_name_the_meta_learning_quantities(tmp_path, phoneme_cache, samples):
    config = tiny_config(VitsBackbone, tmp_path, phoneme_cache, algorithm="metasgd")
    trainer, _ = run(config, *samples)
    with open(os.path.join(trainer.output_path, "trainer_0_log.txt"), encoding="utf-8") as f:
        log = f.read()
    for key in ("query_loss_before", "query_loss_after", "adaptation_gain", "support_loss_step0",
                "support_loss_step1", "inner_lr_step0_mean", "skipped_tasks", "seconds_per_meta_step",
                "avg_query_loss_before", "avg_query_loss_mel_after", "avg_query_loss_kl_after"):  # fmt: skip
        assert key in log, key
    checkpoint = torch.load(os.path.join(trainer.output_path, "best_model.pth"), map_location="cpu", weights_only=False)
    rates = checkpoint[CHECKPOINT_KEY]["inner_lrs"]
    assert set(rates) == set(checkpoint[CHECKPOINT_KEY]["adapted"]) and all(r.shape == (2,) for r in rates.values())


def tensorboard_steps(folder, tag):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    steps = []
    for path in sorted(glob.glob(os.path.join(folder, "events.out.tfevents.*"))):
        events = EventAccumulator(path)
        events.Reload()
        if tag in events.Tags()["scalars"]:
            steps += [e.step for e in events.Scalars(tag)]
    return steps


def pth_files(folder):
    return {n: torch.load(os.path.join(folder, n), map_location="cpu", weights_only=False)
            for n in os.listdir(folder) if n.endswith(".pth")}  # fmt: skip


def set_epochs(run_folder, epochs):
    """What ``--coqpit.epochs`` does to a continued run (whose config is its config.json)."""
    with open(os.path.join(run_folder, "config.json"), encoding="utf-8") as f:
        saved = json.load(f)
    saved["epochs"] = epochs
    with open(os.path.join(run_folder, "config.json"), "w", encoding="utf-8") as f:
        json.dump(saved, f)


def test_one_numbering_and_continuing_for_more_epochs(tmp_path, phoneme_cache, samples, caplog):
    """checkpoint_N, best_model_N, TensorBoard steps and meta_steps_done say the same N; a finished
    1-epoch run continued with epochs=2 runs exactly the second epoch (the same episodes, the same
    final weights bit for bit as the 2-epoch run), after removing the stale temporary file of a killed
    save and finishing a best-model save killed before its copy to best_model.pth."""
    whole = []
    config = tiny_config(VitsBackbone, tmp_path / "a", phoneme_cache, steps_per_epoch=2, epochs=2)
    torch.manual_seed(0)  # the same initial weights in both runs
    trainer, _ = run(config, *samples, record=whole)
    uninterrupted = str(trainer.output_path)
    first = []
    config = tiny_config(VitsBackbone, tmp_path / "b", phoneme_cache, steps_per_epoch=2, epochs=1)
    torch.manual_seed(0)
    trainer, _ = run(config, *samples, record=first)
    out = str(trainer.output_path)
    set_epochs(out, 2)
    stale = os.path.join(out, ".checkpoint_3.pth.0123456789abcdef.tmp")
    open(stale, "wb").close()
    os.remove(os.path.join(out, "best_model.pth"))  # as if killed between best_model_2.pth and its copy
    resumed = []
    with caplog.at_level("WARNING", logger="tts_maml.training.trainer_model"):
        run(tiny_config(VitsBackbone, tmp_path / "b", phoneme_cache, steps_per_epoch=2, epochs=2), *samples,
            continue_path=out, record=resumed)  # fmt: skip
    assert [s for s, _ in whole] == [0, 1, 2, 3] and [s for s, _ in first] == [0, 1]
    assert [s for s, _ in resumed] == [2, 3] and first + resumed == whole
    assert not os.path.exists(stale) and os.path.basename(stale) in caplog.text
    assert "best_model.pth: copying best_model_2.pth" in caplog.text
    files, expected = pth_files(out), pth_files(uninterrupted)
    assert sorted(files) == sorted(expected) == ["best_model.pth", "best_model_4.pth", "checkpoint_1.pth",
                                                 "checkpoint_2.pth", "checkpoint_3.pth", "checkpoint_4.pth"]  # fmt: skip
    for name, state in files.items():
        n = int(name[:-4].split("_")[-1]) if name != "best_model.pth" else 4
        assert state["step"] == state[CHECKPOINT_KEY]["meta_steps_done"] == n, name
        for key, tensor in expected[name]["model"].items():
            assert torch.equal(state["model"][key], tensor), (name, key)
    for folder in (uninterrupted, out):
        assert tensorboard_steps(folder, "TrainIterStats/loss") == [1, 2, 3, 4]
        assert tensorboard_steps(folder, "EvalStats/avg_loss") == [2, 4]


def test_continue_with_other_data_is_refused(tmp_path, phoneme_cache, samples):
    train, held = samples
    config = tiny_config(VitsBackbone, tmp_path, phoneme_cache, steps_per_epoch=2, epochs=1)
    trainer, _ = run(config, train, held)
    set_epochs(str(trainer.output_path), 2)  # a second epoch to run, on other data
    config = tiny_config(VitsBackbone, tmp_path, phoneme_cache, steps_per_epoch=2, epochs=2)
    fewer = [s for s in train if not s["speaker_name"].endswith("sp000")]
    with pytest.raises(SystemExit):  # the Trainer turns the ValueError into exit(1) after logging it
        run(config, fewer, held, continue_path=str(trainer.output_path))


def test_eval_needs_held_out_tasks(tmp_path, phoneme_cache, samples):
    config = tiny_config(VitsBackbone, tmp_path, phoneme_cache)
    model = MamlTrainerModel(config)
    with pytest.raises(ValueError, match="held-out tasks"):
        model.get_data_loader(config, is_eval=True, samples=None, verbose=False)


def test_discriminator_switch(tmp_path, phoneme_cache, samples):
    config = tiny_config(VitsBackbone, tmp_path, phoneme_cache)
    config.maml.train_discriminator = True
    with pytest.raises(ValueError, match="init_discriminator"):
        MamlTrainerModel(config)
    config.model_args.init_discriminator = True
    trainer, model = run(config, *samples)
    assert len(trainer.optimizer) == 2
    checkpoint = torch.load(os.path.join(trainer.output_path, "checkpoint_1.pth"), map_location="cpu", weights_only=False)
    assert any(k.startswith("disc.") for k in checkpoint["model"])
    with open(os.path.join(trainer.output_path, "trainer_0_log.txt"), encoding="utf-8") as f:
        assert "loss_disc" in f.read()
    glow = tiny_config(GlowTTSBackbone, tmp_path, phoneme_cache)
    glow.maml.train_discriminator = True
    with pytest.raises(ValueError, match="no discriminator"):
        MamlTrainerModel(glow)


@pytest.mark.slow
@pytest.mark.parametrize("backbone_cls", [VitsBackbone, GlowTTSBackbone], ids=lambda b: b.name)
def test_stock_tts_cli_speaks_the_checkpoint(backbone_cls, tmp_path, phoneme_cache, samples):
    config = tiny_config(backbone_cls, tmp_path, phoneme_cache)
    trainer, _ = run(config, *samples)
    out = str(trainer.output_path)
    wav = tmp_path / "out.wav"
    tts = os.path.join(os.path.dirname(sys.executable), "tts")
    subprocess.run([tts, "--model_path", os.path.join(out, "best_model.pth"), "--config_path",
                    os.path.join(out, "config.json"), "--text", "Hello there, how are you?", "--out_path", str(wav)],
                   check=True, capture_output=True)  # fmt: skip
    audio, rate = sf.read(wav)
    assert rate == config.audio.sample_rate
    assert audio.size > rate * 0.2 and np.sqrt(np.mean(audio**2)) > 1e-3


def _held_out_adaptation(backbone, model, learner, batches):
    """Mean held-out query loss before / after k adaptation steps."""
    model.eval()
    loss = backbone.task_loss(model)
    before, after = [], []
    params = {n: p.detach() for n, p in model.named_parameters()}
    for support, query in batches:
        fast = learner.adapt(support).fast
        with torch.no_grad():
            before.append(float(loss(params, query)))
            after.append(float(loss({**params, **fast}, query)))
    model.train()
    return float(np.mean(before)), float(np.mean(after))


@pytest.mark.slow
def test_learning_is_real(tmp_path_factory, phoneme_cache):
    """Tiny VITS on the offline corpus: meta-training lowers the post-adaptation loss on held-out
    speakers, and makes the adaptation gain larger than ordinary (joint) training of the same
    model on the same episodes for the same number of steps."""
    from TTS.tts.configs.shared_configs import BaseDatasetConfig, BaseTTSConfig
    from TTS.tts.datasets import load_tts_samples

    from tts_maml.corpus.build import build_corpus
    from tts_maml.meta.joint_training import joint_step
    from tts_maml.meta.episodes import EpisodeSampler
    from tts_maml.meta.learner import TaskBatch

    corpus = build_corpus(str(tmp_path_factory.mktemp("learn") / "c"), speakers=8, utterances=10, seed=3,
                          held_out=2, workers=2, progress=False)  # fmt: skip

    def load(path):
        return load_tts_samples(BaseTTSConfig(datasets=[BaseDatasetConfig(formatter="vctk", path=path)]),
                                eval_split=False)[0]  # fmt: skip

    train, held = load(corpus.out), load(os.path.join(corpus.out, "held_out"))
    steps, results = 30, {}
    for mode in ("maml", "joint"):
        config = VitsBackbone.tiny_config(phoneme_cache_path=phoneme_cache)
        config.maml.algorithm = "maml" if mode == "maml" else "fomaml"
        config.maml.inner_lr = 0.03
        config.maml.n_support, config.maml.n_query = 4, 4
        backbone = VitsBackbone(config)
        torch.manual_seed(0)
        model = backbone.build_model().train()
        learner = backbone.make_learner(model)
        optimizer = torch.optim.Adam(learner.trainable_parameters(), lr=1e-3)
        held_sampler = EpisodeSampler(held, 4, 4, seed=0)
        batches = [(backbone.make_batch(model, e.support), backbone.make_batch(model, e.query))
                   for s in range(2) for e in [held_sampler.episode(t, s, i) for i, t in enumerate(held_sampler.train_tasks)]]  # fmt: skip
        initial = _held_out_adaptation(backbone, model, learner, batches)
        sampler = EpisodeSampler(train, 4, 4, seed=0)
        for step in range(steps):
            episodes = sampler.sample(step, 4)
            if mode == "maml":
                tasks = [TaskBatch(e.task, backbone.make_batch(model, e.support), backbone.make_batch(model, e.query))
                         for e in episodes]  # fmt: skip
                learner.meta_step(tasks, optimizer, step)
            else:
                joint_step(model, backbone.task_loss(model), [backbone.make_batch(model, e.support + e.query)
                                                              for e in episodes], optimizer)  # fmt: skip
        results[mode] = (initial, _held_out_adaptation(backbone, model, learner, batches))
    (before0, after0), (before, after) = results["maml"]
    _, (joint_before, joint_after) = results["joint"]
    print({"initial": (before0, after0), "maml": (before, after), "joint": (joint_before, joint_after)})
    assert after < after0, "meta-training lowers the post-adaptation held-out loss"
    assert before - after > 0, "adaptation of the meta-trained model helps on held-out speakers"
    assert before - after > joint_before - joint_after, "meta-training grows the adaptation gain beyond ordinary training"


def test_restore_with_a_config_that_does_not_fit_is_refused(tmp_path, phoneme_cache, samples):
    config = tiny_config(VitsBackbone, tmp_path, phoneme_cache)
    trainer, _ = run(config, *samples)
    other = tiny_config(VitsBackbone, tmp_path / "b", phoneme_cache)
    other.model_args.hidden_channels = 48
    args = TrainerArgs()
    args.restore_path = os.path.join(trainer.output_path, "best_model.pth")
    with pytest.raises(ValueError, match="best_model.pth: tensor 'text_encoder.emb.weight' has shape"):
        MamlTrainer(args, other, other.output_path, model=MamlTrainerModel(other), train_samples=samples[0],
                    eval_samples=samples[1], parse_command_line_args=False)  # fmt: skip


def test_learned_inner_rates_have_their_own_outer_rate(tmp_path, phoneme_cache, samples):
    config = tiny_config(VitsBackbone, tmp_path, phoneme_cache, algorithm="metasgd")
    config.maml.inner_lr_meta_lr = 0.05
    trainer, model = run(config, *samples)
    groups = trainer.optimizer[0].param_groups
    assert [g.get("name") for g in groups] == [None, INNER_LRS_GROUP]
    assert groups[0]["lr"] == config.maml.meta_lr and groups[1]["lr"] == 0.05
    # Adam moves a tensor by about its rate per step: 2 meta-steps move the rates well past what
    # meta_lr (2e-4) could, and by at most 2 x 0.05
    moved = torch.cat([r.detach() for r in model.learner.inner_lrs.as_dict().values()]) - config.maml.inner_lr
    assert 2 * config.maml.meta_lr < moved.abs().max() <= 0.1 * 1.01
    # a run restored from it (not continued): Coqui resets every group to get_lr(); the rates keep theirs
    args = TrainerArgs()
    args.restore_path = os.path.join(trainer.output_path, "best_model.pth")
    other = tiny_config(VitsBackbone, tmp_path / "b", phoneme_cache, algorithm="metasgd")
    other.maml.inner_lr_meta_lr = 0.05
    restored = MamlTrainer(args, other, other.output_path, model=MamlTrainerModel(other), train_samples=samples[0],
                           eval_samples=samples[1], parse_command_line_args=False)  # fmt: skip
    assert [g["lr"] for g in restored.optimizer[0].param_groups] == [other.maml.meta_lr, 0.05]


def test_command_line_overrides_reach_the_learner(tmp_path, phoneme_cache, samples, monkeypatch):
    # Coqui's Trainer applies --coqpit.* to the config after the model is built (as a recipe builds it)
    config = tiny_config(GlowTTSBackbone, tmp_path, phoneme_cache)
    model = MamlTrainerModel(config)
    assert model.learner.inner_lrs is None and config.maml.adapter_preset != "decoder_norms"
    before = list(model.adapted)
    monkeypatch.setattr(sys, "argv", ["recipe", "--coqpit.maml.algorithm", "metasgd",
                                      "--coqpit.maml.adapter_preset", "decoder_norms"])  # fmt: skip
    trainer = MamlTrainer(TrainerArgs(), config, config.output_path, model=model, train_samples=samples[0],
                          eval_samples=samples[1])  # fmt: skip
    assert model.learner.config.algorithm == "metasgd" and model.learner.inner_lrs is not None
    assert config.maml.adapter_preset == "decoder_norms"
    assert model.adapted == GlowTTSBackbone(config).adapter_names(model.model) != before
    assert trainer.optimizer[0].param_groups[-1]["params"] == list(model.learner.inner_lrs.parameters())
    learner = model.learner  # nothing changed since: the same learner, so a wrapped meta_step stays
    model.get_optimizer()
    assert model.learner is learner


def test_checkpoints_are_written_atomically(tmp_path, phoneme_cache, samples):
    config = tiny_config(VitsBackbone, tmp_path, phoneme_cache)
    trainer, _ = run(config, *samples)
    names = os.listdir(trainer.output_path)
    assert not [n for n in names if n.startswith(".") or n.endswith(".tmp")]
    assert sorted(n for n in names if n.startswith("best_model")) == ["best_model.pth", "best_model_2.pth"]
    best = torch.load(os.path.join(trainer.output_path, "best_model.pth"), map_location="cpu", weights_only=False)
    assert best["step"] == 2 and CHECKPOINT_KEY in best
