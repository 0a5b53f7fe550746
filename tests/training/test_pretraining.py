"""Both phases on a tiny model: Coqui pre-training on d-vectors, conversion, meta-training, adaptation."""

import math
import os

import pytest
import torch
import torch.nn.functional as F

from tts_maml.training.pretraining import checkpoint_rate, fine_tuning_config, noam_rate, pretrain_glow_tts_config


def test_cpu_preset_is_coqui_multi_speaker_training_on_d_vectors():
    config = pretrain_glow_tts_config("d.json")
    assert config.model == "glow_tts" and config.use_d_vector_file and not config.use_speaker_embedding
    assert config.d_vector_dim == config.hidden_channels_enc
    # The scheduler steps per optimiser step (Coqui's per-epoch default keeps NoamLR near zero).
    assert config.scheduler_after_epoch is False and config.lr_scheduler == "NoamLR"


@pytest.mark.slow
def test_pretrain_convert_meta_train_adapt(adapt_corpus, phoneme_cache, tmp_path, tiny_glow_tts):
    from trainer import Trainer, TrainerArgs
    from TTS.tts.configs.shared_configs import BaseDatasetConfig
    from TTS.tts.models.glow_tts import GlowTTS
    from TTS.tts.utils.speakers import SpeakerManager
    from TTS.tts.utils.text.tokenizer import TTSTokenizer
    from TTS.utils.audio import AudioProcessor

    from tts_maml.adapt.adaptation import adapt
    from tts_maml.adapt.voice_delta import load_voice
    from tts_maml.config import load_config
    from tts_maml.corpus.samples import load_samples
    from tts_maml.speakers.d_vectors import DVectorProjection, voice_vector
    from tts_maml.training.conversion import convert
    from tts_maml.training.trainer_model import MamlTrainer, MamlTrainerModel

    # Phase 1: Coqui's own multi-speaker training (its model, train_step, Trainer) on d-vectors.
    samples = load_samples(BaseDatasetConfig(formatter="vctk", path=adapt_corpus.out))
    held = load_samples(BaseDatasetConfig(formatter="vctk", path=os.path.join(adapt_corpus.out, "held_out")))
    from tts_maml.speakers.d_vectors import prepare_d_vectors

    d = prepare_d_vectors(samples, str(tmp_path / "d_vectors"), dim=8)
    config = pretrain_glow_tts_config(d["d_vector_file"], output_path=str(tmp_path / "pre"), epochs=1, batch_size=8,
                                      phoneme_cache_path=phoneme_cache, num_loader_workers=0, data_dep_init_steps=1,
                                      print_step=100, **tiny_glow_tts)  # fmt: skip
    tokenizer, config = TTSTokenizer.init_from_config(config)
    model = GlowTTS(config, AudioProcessor(config.audio), tokenizer, SpeakerManager.init_from_config(config))
    trainer = Trainer(TrainerArgs(), config, config.output_path, model=model, train_samples=samples, eval_samples=None,
                      parse_command_line_args=False)  # fmt: skip
    trainer.fit()
    run = str(trainer.output_path)

    # Conversion: one voice slot; new voices start from their clips' d-vector.
    base = str(tmp_path / "base")
    summary = convert(os.path.join(run, "best_model.pth"), os.path.join(run, "config.json"), base)
    assert summary["voice_start"] == "d_vector" and summary["speakers"] == 3

    # Phase 2: meta-training from the converted model (the slot starts at each task's d-vector).
    meta_config = load_config(os.path.join(base, "config.json"))
    meta_config.output_path, meta_config.epochs, meta_config.run_eval = str(tmp_path / "meta"), 1, False
    meta_config.test_sentences, meta_config.phoneme_cache_path = [], phoneme_cache
    maml = meta_config.maml
    maml.meta_batch_size, maml.n_support, maml.n_query, maml.inner_steps, maml.meta_steps_per_epoch = 2, 3, 3, 1, 1
    meta = MamlTrainer(TrainerArgs(restore_path=os.path.join(base, "model.pth")), meta_config,
                       meta_config.output_path, model=MamlTrainerModel(meta_config), train_samples=samples,
                       eval_samples=held, parse_command_line_args=False)  # fmt: skip
    assert "emb_g.weight" in meta.model.adapted
    meta.fit()
    meta_run = str(meta.output_path)

    # Adaptation starts from the support clips' projected d-vector, and exports the slot.
    clips = os.path.join(adapt_corpus.out, "held_out", "wav48_silence_trimmed", adapt_corpus.held_out_speakers[0])
    result = adapt(os.path.join(meta_run, "best_model.pth"), os.path.join(meta_run, "config.json"), clips,
                   str(tmp_path / "voice"), steps=2, val_clips=2, progress=False)  # fmt: skip
    assert "emb_g.weight" in result.adapted
    voice = load_voice(result.files["voice.pth"])
    assert voice.tensors["emb_g.weight"].shape == (1, 8)
    # The slot started at the support clips' d-vector (adapt embeds its own level-normalised copies
    # of the clips, so compare directions) and two small steps keep it near there, far from the
    # mean voice that the converted model holds.
    support = [c["file"] for c in voice.provenance["clips"] if c["role"] == "support"]
    projection = DVectorProjection.from_dict(load_config(os.path.join(meta_run, "config.json")).maml.d_vector_projection)
    start = torch.as_tensor(voice_vector(support, projection))
    slot = voice.tensors["emb_g.weight"][0]
    mean_voice = torch.load(os.path.join(base, "model.pth"), weights_only=False)["model"]["emb_g.weight"][0]
    assert F.cosine_similarity(slot, start, dim=0) > 0.95
    assert F.cosine_similarity(slot, start, dim=0) > F.cosine_similarity(slot, mean_voice, dim=0)
    assert result.val_losses and len(result.val_losses) == 3


def test_fine_tuning_holds_the_rate_noam_had_reached():
    from trainer.torch import NoamLR

    config = pretrain_glow_tts_config("d.json")
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=config.lr)
    scheduler = NoamLR(optimizer, warmup_steps=config.lr_scheduler_params["warmup_steps"])
    for step in range(1, 1201):  # the rate of optimiser step `step`, then the scheduler's step after it
        if step in (1, 2, 499, 500, 501, 1200):
            assert noam_rate(config, step) == pytest.approx(scheduler.get_last_lr()[0], rel=1e-9), step
        optimizer.step()
        scheduler.step()
    rate = checkpoint_rate(config, {"step": 4500, "config": config.to_dict()})
    assert rate == pytest.approx(1e-3 * math.sqrt(500 / 4500))
    tuned = fine_tuning_config(config, rate)
    assert tuned.lr == rate and tuned.lr_scheduler is None and tuned.data_dep_init_steps == 0
    # A checkpoint of that fine-tuning run counts from step 0 again: its held rate goes on, not
    # NoamLR's warm-up rate at its step.
    assert checkpoint_rate(config, {"step": 300, "config": tuned.to_dict()}) == rate
