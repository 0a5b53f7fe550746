"""Glow-TTS (``TTS.tts.models.glow_tts.GlowTTS``) as a meta-learning backbone.

Task loss: Coqui's ``GlowTTSLoss`` (maximum likelihood of the mel frames under the flow + duration
loss) on the outputs of Coqui's ``GlowTTS.forward``, plus ``maml.global_variance_weight`` times the
global-variance term of the synthesis path (:mod:`tts_maml.global_variance`) when it is set, on mel
spectrograms whose silence floor is dequantised when ``maml.floor_noise`` is set
(:mod:`tts_maml.floor_dequantization`). The
ActNorm layers stay locked (no data-dependent initialisation: it would write into the parameters
during a forward pass), and the vocoder is Coqui's own at synthesis time (HiFi-GAN when given,
Griffin-Lim otherwise).

Example:
    >>> from tts_maml.backbones.glow_tts import GlowTTSBackbone
    >>> "decoder_norms" in GlowTTSBackbone.presets
    True
"""

from typing import Any, Dict, Sequence

import torch
from torch import Tensor, nn
from torch.func import functional_call
from TTS.config.shared_configs import BaseAudioConfig
from TTS.tts.datasets.dataset import TTSDataset
from TTS.tts.layers.losses import GlowTTSLoss

from tts_maml.backbones.base import Backbone, Batch, apply_overrides, preset_fields
from tts_maml.config import MamlGlowTTSConfig
from tts_maml.floor_dequantization import dequantize_floor, mel_floor
from tts_maml.global_variance import GlobalVarianceForward
from tts_maml.meta.parameter_selection import AdapterPreset

# The voice-slot embedding and the layers that read it: every decoder flow's WaveNet conditioning
# layer, and the duration predictor's first convolution (Coqui concatenates the speaker vector to its
# input, so no separate layer carries it).
_CONDITIONING = r"emb_g|.*\.cond_layer|encoder\.duration_predictor\.conv_1"
# Every decoder layer's per-channel scale and shift, the decoder's BitFit: the ActNorm scales and
# shifts, and each coupling layer's convolution biases and weight-norm gains (g of w = g v / |v|: one
# scale per output channel). The convolutions' directions v stay shared.
_DECODER_AFFINE = r"decoder\.flows\.\d+\.(logs|bias|.+\.bias|.+\.parametrizations\.weight\.original0)|emb_g\.weight"


class GlowTTSBackbone(Backbone):
    """Coqui's Glow-TTS, meta-learned over all its weights."""

    name = "glow_tts"
    config_class = MamlGlowTTSConfig
    speaks_through_griffin_lim = True
    presets = {
        p.name: p
        for p in (
            AdapterPreset("speaker_embedding", ["emb_g"], description="the voice-slot embedding only"),
            AdapterPreset(
                "conditioning",
                _CONDITIONING,
                description="voice-slot embedding + every layer that reads it (decoder flows' conditioning, the duration "
                "predictor's input convolution)",
            ),
            AdapterPreset(
                "decoder_norms",
                r"decoder\.flows\.\d+\.(logs|bias)|emb_g\.weight",
                description="the decoder's ActNorm scales and shifts + the voice-slot embedding",
            ),
            AdapterPreset(
                "decoder_affine",
                _DECODER_AFFINE,
                description="per-channel scale and shift of every decoder layer (ActNorm, each convolution's bias and "
                "weight-norm gain) + the voice-slot embedding",
            ),
            AdapterPreset("decoder", r"decoder|emb_g", description="the flow decoder + the voice-slot embedding"),
            AdapterPreset("generator", r".*", description="every weight"),
        )
    }

    def __init__(self, config: MamlGlowTTSConfig) -> None:
        super().__init__(config)
        # Data-dependent ActNorm initialisation runs in GlowTTS.train_step, which tts_maml never
        # calls: a config that asks for it would say something that does not happen.
        if config.data_dep_init_steps != 0:
            raise ValueError(
                f"config.data_dep_init_steps is {config.data_dep_init_steps}: tts_maml keeps Glow-TTS's ActNorm "
                "locked (no data-dependent initialisation); set it to 0 (MamlGlowTTSConfig's default)"
            )
        self.criterion = GlowTTSLoss()

    @staticmethod
    def tiny_config(**overrides: Any) -> MamlGlowTTSConfig:
        """A Glow-TTS small enough for a meta-step in seconds on 2 CPU cores.

        Coqui's VCTK audio settings (22050 Hz, hop 256, 80 mels), English espeak phonemes and
        ``maml.inner_lr=0.1``. Keyword arguments override config fields.
        """
        config = MamlGlowTTSConfig(
            audio=BaseAudioConfig(sample_rate=22050, win_length=1024, hop_length=256, num_mels=80, mel_fmin=0,
                                  mel_fmax=None, do_trim_silence=True, trim_db=23.0),  # fmt: skip
            hidden_channels_enc=32,
            hidden_channels_dec=32,
            hidden_channels_dp=32,
            num_flow_blocks_dec=4,
            num_block_layers=2,
            encoder_params={
                "kernel_size": 3,
                "dropout_p": 0.1,
                "num_layers": 2,
                "num_heads": 2,
                "hidden_channels_ffn": 64,
                "input_length": None,
            },
            use_speaker_embedding=True,
            run_name="tiny_glow_tts_maml",
            **preset_fields(),
        )
        # Glow-TTS' MLE loss is about 30x smaller than VITS' mel L1 term: a larger inner step.
        config.maml.inner_lr = 0.1
        return apply_overrides(config, overrides)

    @staticmethod
    def vctk_config(**overrides: Any) -> MamlGlowTTSConfig:
        """Coqui's Glow-TTS sizes (Coqui's defaults, 22050 Hz, English espeak phonemes) as in its
        VCTK recipe, meant for a GPU. Keyword arguments override config fields."""
        config = MamlGlowTTSConfig(
            audio=GlowTTSBackbone.tiny_config().audio,
            use_speaker_embedding=True,
            run_name="vctk_glow_tts_maml",
            **preset_fields(),
        )
        config.maml.inner_lr = 0.1
        return apply_overrides(config, overrides)

    def dataset(self, model: nn.Module, clips: Sequence[Dict[str, Any]]) -> TTSDataset:
        """Coqui's ``TTSDataset`` over exactly ``clips``, set up as ``BaseTTS.get_data_loader`` does."""
        return TTSDataset(
            outputs_per_step=1,
            compute_linear_spec=False,
            samples=list(clips),
            ap=model.ap,
            return_wav=False,
            batch_group_size=0,
            min_text_len=0,
            max_text_len=float("inf"),
            min_audio_len=0,
            max_audio_len=float("inf"),
            phoneme_cache_path=self.config.phoneme_cache_path,
            precompute_num_workers=0,
            use_noise_augment=False,
            speaker_id_mapping=model.speaker_manager.name_to_id,
            tokenizer=model.tokenizer,
            start_by_longest=False,
        )

    def format_batch(self, model: nn.Module, batch: Batch) -> Batch:
        """``BaseTTS.format_batch`` on the model's device."""
        return self.to_device(model.format_batch(batch), next(model.parameters()).device)

    def task_losses(self, model: nn.Module, params: Dict[str, Tensor], batch: Batch,
                    extra_terms: bool = True) -> Dict[str, Tensor]:  # fmt: skip
        """Coqui's Glow-TTS loss: MLE of the mel frames + duration loss (+ ``gv_loss`` weighted by
        ``maml.global_variance_weight``, when it is set and ``extra_terms``). With ``extra_terms`` and
        ``maml.floor_noise``, the mel frames' floor values are dequantised first (the same draw at
        every inner step: the batch's seed)."""
        weight = self.config.maml.global_variance_weight if extra_terms else 0.0
        floor_noise = self.config.maml.floor_noise if extra_terms else 0.0
        aux_input = {"aux_input": {"d_vectors": None, "speaker_ids": batch["speaker_ids"]}}
        with self.seeded(batch):  # the seed also fixes the synthesis path's noise and the floor's
            mel = batch["mel_input"]
            if floor_noise > 0:
                mel = dequantize_floor(mel, mel_floor(self.config.audio), floor_noise)
            inputs = (batch["text_input"], batch["text_lengths"], mel, batch["mel_lengths"])
            if weight > 0:
                named = {f"glow.{name}": tensor for name, tensor in params.items()}
                outputs = functional_call(GlobalVarianceForward(model), named, inputs, aux_input)
            else:
                outputs = functional_call(model, params, inputs, aux_input)
        try:
            losses = self.criterion(
                outputs["z"].float(),
                outputs["y_mean"].float(),
                outputs["y_log_scale"].float(),
                outputs["logdet"].float(),
                batch["mel_lengths"],
                outputs["durations_log"].float(),
                outputs["total_durations_log"].float(),
                batch["text_lengths"],
            )
        except RuntimeError as e:
            # GlowTTSLoss raises on a NaN term; the inner loop's contract is a non-finite loss,
            # which skips the task instead of stopping the run.
            if "NaN loss" not in str(e):
                raise
            nan = torch.tensor(float("nan"), device=batch["mel_input"].device)
            return {"loss": nan, "log_mle": nan, "loss_dur": nan} | ({"gv_loss": nan} if weight > 0 else {})
        result = {k: losses[k] for k in ("loss", "log_mle", "loss_dur")}
        if weight > 0:
            result["gv_loss"] = outputs["gv_loss"]
            result["loss"] = result["loss"] + weight * outputs["gv_loss"]
        return result
