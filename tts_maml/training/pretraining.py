"""Pre-training: Coqui's ordinary multi-speaker training, the first of tts_maml's two phases.

Few-shot adaptation can only move a voice that a model can already produce, so tts_maml first
trains a multi-speaker model the way any Coqui user does (Coqui's model, ``train_step``, losses and
``Trainer``), then converts it into a one-voice-slot model (:mod:`tts_maml.training.conversion`) and
meta-trains from there.

The CPU preset conditions Glow-TTS on d-vectors (:mod:`tts_maml.speakers.d_vectors`): a speaker encoder's
embedding of each clip, projected to ``hidden_channels_enc`` values, instead of a learned row per
speaker. A new voice then has a starting point in the same space, the d-vector of its clips.

Example:
    >>> from tts_maml.training.pretraining import pretrain_glow_tts_config
    >>> config = pretrain_glow_tts_config(d_vector_file="d_vectors.json")
    >>> config.use_d_vector_file, config.d_vector_dim == config.hidden_channels_enc
    (True, True)
"""

from typing import Any, Dict

from TTS.tts.configs.glow_tts_config import GlowTTSConfig

from tts_maml.backbones.base import apply_overrides
from tts_maml.backbones.glow_tts import GlowTTSBackbone

# Sizes that learn to speak on 2 CPU cores within an hour or two (about 6 M weights; Coqui's
# defaults, 192/192/256 channels and 12 flows, are meant for a GPU).
CPU_HIDDEN = 96
CPU_FLOW_BLOCKS = 8


def pretrain_glow_tts_config(d_vector_file: str, **overrides: Any) -> GlowTTSConfig:
    """Coqui's ``GlowTTSConfig`` for multi-speaker pre-training on a CPU, conditioned on d-vectors.

    Args:
        d_vector_file: Coqui's d-vector file (see :func:`tts_maml.speakers.d_vectors.prepare_d_vectors`).
        **overrides: config fields to set.

    The learning-rate scheduler (NoamLR) steps per optimiser step: Coqui's default steps it per
    epoch, which leaves the rate near zero for a whole CPU run.

    Inference settings (they change no weight): Griffin-Lim's magnitude exponent ``audio.power`` 1.25
    and ``inference_noise_scale`` 0.333, chosen by ``benchmarks/base_speaks.py`` on training speakers.
    With Coqui's power 1.5 the real clips themselves, resynthesised, score only 0.78 speaker
    similarity (ceiling 0.93): the exponent sharpens the spectrum and loses the voice; at 1.0 they
    score 0.93 but the model's smoother mels lose instead.
    """
    tiny = GlowTTSBackbone.tiny_config()
    config = GlowTTSConfig(
        audio=tiny.audio,
        hidden_channels_enc=CPU_HIDDEN,
        hidden_channels_dec=CPU_HIDDEN,
        hidden_channels_dp=CPU_HIDDEN,
        num_flow_blocks_dec=CPU_FLOW_BLOCKS,
        encoder_params={
            "kernel_size": 3,
            "dropout_p": 0.1,
            "num_layers": 6,
            "num_heads": 2,
            "hidden_channels_ffn": 4 * CPU_HIDDEN,
            "input_length": None,
        },
        use_speaker_embedding=False,
        use_d_vector_file=True,
        d_vector_file=d_vector_file,
        # The one-voice-slot model keeps a table row of hidden_channels_enc values: same width.
        d_vector_dim=CPU_HIDDEN,
        batch_size=16,
        eval_batch_size=16,
        lr=1e-3,
        lr_scheduler="NoamLR",
        lr_scheduler_params={"warmup_steps": 500},
        scheduler_after_epoch=False,
        num_loader_workers=1,
        num_eval_loader_workers=0,
        run_eval=False,
        test_delay_epochs=10**6,
        print_step=50,
        save_step=500,
        save_n_checkpoints=3,
        use_phonemes=tiny.use_phonemes,
        phonemizer=tiny.phonemizer,
        phoneme_language=tiny.phoneme_language,
        text_cleaner=tiny.text_cleaner,
        mixed_precision=False,
        run_name="pretrain_glow_tts",
        inference_noise_scale=0.333,
    )
    config.audio.power = 1.25
    return apply_overrides(config, overrides)


def noam_rate(config: GlowTTSConfig, step: int) -> float:
    """The learning rate Coqui's ``NoamLR`` (``config.lr``, ``lr_scheduler_params.warmup_steps``)
    uses for optimiser step ``step``, counted from 1."""
    warmup = float(config.lr_scheduler_params["warmup_steps"])
    step = max(int(step), 1)
    return float(config.lr * warmup**0.5 * min(step**-0.5, step * warmup**-1.5))


def checkpoint_rate(config: GlowTTSConfig, checkpoint: Dict[str, Any]) -> float:
    """The learning rate a pre-training checkpoint's run used on its last step: NoamLR's at its
    ``step`` (:func:`noam_rate` on ``config``'s schedule); for a checkpoint of a fine-tuning run
    (its saved config holds a constant rate, no scheduler), that rate, since such a run counts its
    steps from 0 again and its step says nothing about the rate.

    Example:
        >>> from tts_maml.training.pretraining import checkpoint_rate, pretrain_glow_tts_config
        >>> config = pretrain_glow_tts_config("d_vectors.json")
        >>> round(checkpoint_rate(config, {"step": 4500, "config": {"lr_scheduler": "NoamLR"}}), 7)
        0.0003333
        >>> checkpoint_rate(config, {"step": 300, "config": {"lr_scheduler": None, "lr": 3e-4}})
        0.0003
    """
    saved = checkpoint.get("config") or {}
    if "lr_scheduler" in saved and not saved["lr_scheduler"]:
        return float(saved["lr"])
    return noam_rate(config, checkpoint["step"])


def fine_tuning_config(config: GlowTTSConfig, rate: float, **overrides: Any) -> GlowTTSConfig:
    """``config`` for training on from a pre-training checkpoint (global-variance fine-tuning,
    :mod:`tts_maml.global_variance`) at ``rate``, the rate of the checkpoint's last step
    (:func:`checkpoint_rate`), held constant (a run restored with Coqui's ``restore_path`` counts
    its steps from 0 again and would replay the warm-up up to ``config.lr``), and no
    data-dependent ActNorm initialisation (it would overwrite the trained layers on the first
    steps).

    Example:
        >>> from tts_maml.training.pretraining import fine_tuning_config, noam_rate, pretrain_glow_tts_config
        >>> config = pretrain_glow_tts_config("d_vectors.json")
        >>> config = fine_tuning_config(config, noam_rate(config, 4500))
        >>> round(config.lr, 7), config.lr_scheduler, config.data_dep_init_steps
        (0.0003333, None, 0)
    """
    config.lr = float(rate)
    config.lr_scheduler = None
    config.lr_scheduler_params = {}
    config.data_dep_init_steps = 0
    return apply_overrides(config, overrides)

