"""VITS (``TTS.tts.models.vits.Vits``) as a meta-learning backbone.

Task loss: Coqui's generator reconstruction terms, computed by Coqui's ``VitsGeneratorLoss`` on the
outputs of Coqui's ``Vits.forward``: mel L1 on the generated waveform segment, the KL term and the
duration loss. The adversarial and feature-matching terms are zero in the inner loop (the loss is
called with no discriminator scores), so the discriminator (``disc.*``) is never adapted. With
``maml.train_discriminator`` the query loss adds them (``adversarial=True``) and the discriminator
takes Coqui's ``VitsDiscriminatorLoss`` steps in the outer loop (:meth:`VitsBackbone.discriminator_loss`).

Example:
    >>> from tts_maml.backbones.vits import VitsBackbone
    >>> backbone = VitsBackbone(VitsBackbone.tiny_config())
    >>> sorted(backbone.presets)[:2]
    ['biases', 'conditioning']
"""

from typing import Any, Dict, Sequence

import torch
from torch import Tensor, nn
from torch.func import functional_call
from TTS.config.shared_configs import BaseAudioConfig
from TTS.tts.configs.vits_config import VitsArgs
from TTS.tts.layers.losses import VitsDiscriminatorLoss, VitsGeneratorLoss
from TTS.tts.models.vits import VitsDataset
from TTS.tts.utils.helpers import segment
from TTS.utils.audio.torch_transforms import wav_to_mel

from tts_maml.backbones.base import Backbone, Batch, apply_overrides, preset_fields
from tts_maml.config import MamlVitsConfig
from tts_maml.meta.parameter_selection import AdapterPreset

# The speaker-conditioning layers of VITS: the voice-slot embedding and every layer that reads it.
# The posterior encoder's conditioning is left out: inference (text -> prior -> flow -> decoder)
# never runs the posterior encoder, so adapting it cannot change what `tts` says.
_CONDITIONING = r"emb_g|(?!posterior_encoder\.).*\.cond_layer|duration_predictor\.cond"


class VitsBackbone(Backbone):
    """Coqui's VITS, meta-learned over its generator (the discriminator is never adapted)."""

    name = "vits"
    config_class = MamlVitsConfig
    never_adapt = ("disc",)
    presets = {
        p.name: p
        for p in (
            AdapterPreset("speaker_embedding", ["emb_g"], description="the voice-slot embedding only"),
            AdapterPreset(
                "conditioning",
                _CONDITIONING,
                description="voice-slot embedding + every speaker-conditioning layer that inference runs (flow, "
                "duration predictor, HiFi-GAN decoder; not the posterior encoder)",
            ),
            AdapterPreset("biases", r".*\.bias|emb_g\.weight", description="every bias + the voice-slot embedding (BitFit)"),
            AdapterPreset("flow", r"flow|" + _CONDITIONING, description="the normalising flow + conditioning"),
            AdapterPreset(
                "decoder", r"waveform_decoder|" + _CONDITIONING, description="the HiFi-GAN waveform decoder + conditioning"
            ),
            AdapterPreset("generator", r".*", description="every generator weight"),
        )
    }

    def __init__(self, config: MamlVitsConfig) -> None:
        super().__init__(config)
        self.criterion = VitsGeneratorLoss(config)
        self.disc_criterion = VitsDiscriminatorLoss(config)
        if config.maml.train_discriminator and not config.model_args.init_discriminator:
            raise ValueError("maml.train_discriminator needs model_args.init_discriminator=True (a discriminator)")

    @staticmethod
    def tiny_config(**overrides: Any) -> MamlVitsConfig:
        """A VITS small enough for a meta-step in seconds on 2 CPU cores (about 0.5 M generator weights).

        Coqui's VCTK audio settings (22050 Hz, hop 256, 80 mels) and English espeak phonemes; no
        discriminator (``init_discriminator=False``), no mixed precision (second-order gradients in
        float16 lose too much). Keyword arguments override config fields.
        """
        config = MamlVitsConfig(
            audio=BaseAudioConfig(
                sample_rate=22050, win_length=1024, hop_length=256, num_mels=80, preemphasis=0.0, ref_level_db=20,
                log_func="np.log", do_trim_silence=True, trim_db=23.0, mel_fmin=0, mel_fmax=None, spec_gain=1.0,
                signal_norm=False, do_amp_to_db_linear=False, resample=True,
            ),  # fmt: skip
            model_args=VitsArgs(
                hidden_channels=32, hidden_channels_ffn_text_encoder=64, num_heads_text_encoder=2,
                num_layers_text_encoder=2, num_layers_posterior_encoder=4, num_layers_flow=2,
                upsample_initial_channel_decoder=64, resblock_type_decoder="2", resblock_kernel_sizes_decoder=[3],
                resblock_dilation_sizes_decoder=[[1, 3]], upsample_rates_decoder=[8, 8, 4],
                upsample_kernel_sizes_decoder=[16, 16, 8], spec_segment_size=16, use_sdp=False,
                speaker_embedding_channels=32, use_speaker_embedding=True, init_discriminator=False,
            ),  # fmt: skip
            add_blank=True,
            run_name="tiny_vits_maml",
            **preset_fields(),
        )
        return apply_overrides(config, overrides)

    @staticmethod
    def vctk_config(**overrides: Any) -> MamlVitsConfig:
        """Coqui's VCTK VITS recipe sizes (Coqui's default ``VitsArgs``, 22050 Hz, English espeak
        phonemes), meant for a GPU. Keyword arguments override config fields."""
        config = MamlVitsConfig(
            audio=VitsBackbone.tiny_config().audio,
            add_blank=True,
            run_name="vctk_vits_maml",
            **preset_fields(),
        )
        config.model_args.use_speaker_embedding = True
        # The mel L1 term trains the posterior (autoencoder) path, where the latent already carries
        # the target voice; this term trains the path `tts` runs (prior -> inverse flow -> decoder).
        config.maml.synthesis_loss_weight = 1.0
        return apply_overrides(config, overrides)

    def dataset(self, model: nn.Module, clips: Sequence[Dict[str, Any]]) -> VitsDataset:
        """Coqui's ``VitsDataset`` over exactly ``clips`` (length limits off: nothing is swapped)."""
        return VitsDataset(
            model_args=model.args,
            samples=list(clips),
            batch_group_size=0,
            min_text_len=0,
            max_text_len=float("inf"),
            min_audio_len=0,
            max_audio_len=float("inf"),
            phoneme_cache_path=self.config.phoneme_cache_path,
            precompute_num_workers=0,
            tokenizer=model.tokenizer,
            start_by_longest=False,
        )

    def format_batch(self, model: nn.Module, batch: Batch) -> Batch:
        """``Vits.format_batch``, then ``format_batch_on_device`` (spectrograms) on the model's device."""
        batch = self.to_device(model.format_batch(batch), next(model.parameters()).device)
        return model.format_batch_on_device(batch)

    supports_discriminator = True
    stochastic_loss = True

    def _generate(self, model: nn.Module, params: Dict[str, Tensor], batch: Batch) -> Dict[str, Any]:
        with self.seeded(batch):
            return functional_call(
                model,
                params,
                (batch["tokens"], batch["token_lens"], batch["spec"], batch["spec_lens"], batch["waveform"]),
                {"aux_input": {"d_vectors": None, "speaker_ids": batch["speaker_ids"], "language_ids": None}},
            )

    def task_losses(
        self, model: nn.Module, params: Dict[str, Tensor], batch: Batch, extra_terms: bool = True,
        adversarial: bool = False,
    ) -> Dict[str, Tensor]:
        """Coqui's VITS generator loss; without its adversarial terms unless ``adversarial``; plus
        the synthesis-path term (``maml.synthesis_loss_weight``) unless ``extra_terms`` is False."""
        outputs = self._generate(model, params, batch)
        segment_size = model.spec_segment_size
        if model.args.encoder_sample_rate:
            segment_size = segment_size * int(model.interpolate_factor)
        mel_slice = segment(batch["mel"].float(), outputs["slice_ids"], segment_size, pad_short=True)
        mel_slice_hat = self._mel(outputs["model_outputs"])
        losses = self.criterion(
            mel_slice_hat=mel_slice.float(),  # (sic) Coqui's train_step passes them crossed; L1 is symmetric
            mel_slice=mel_slice_hat.float(),
            z_p=outputs["z_p"].float(),
            logs_q=outputs["logs_q"].float(),
            m_p=outputs["m_p"].float(),
            logs_p=outputs["logs_p"].float(),
            z_len=batch["spec_lens"],
            loss_duration=outputs["loss_duration"],
            **self._adversarial_inputs(model, outputs, adversarial),
        )
        keys = ("loss", "loss_mel", "loss_kl", "loss_duration") + (("loss_gen", "loss_feat") if adversarial else ())
        result = {k: losses[k] for k in keys}
        weight = self.config.maml.synthesis_loss_weight if extra_terms else 0.0
        if weight:
            result["loss_synthesis"] = self._synthesis_loss(model, params, batch, outputs, mel_slice)
            result["loss"] = result["loss"] + weight * result["loss_synthesis"]
        return result

    def _mel(self, wav: Tensor) -> Tensor:
        audio = self.config.audio
        return wav_to_mel(
            y=wav.float(),
            n_fft=audio.fft_size,
            sample_rate=audio.sample_rate,
            num_mels=audio.num_mels,
            hop_length=audio.hop_length,
            win_length=audio.win_length,
            fmin=audio.mel_fmin,
            fmax=audio.mel_fmax,
            center=False,
        )

    def _synthesis_loss(self, model: nn.Module, params: Dict[str, Tensor], batch: Batch, outputs: Dict[str, Any],
                        mel_slice: Tensor) -> Tensor:  # fmt: skip
        """Mel L1 (Coqui's ``c_mel`` scale) of the synthesis path on the same segment: the prior's
        mean, aligned to the frames as Coqui's forward aligns it, through the inverse flow and the
        waveform decoder (what inference runs, without its noise)."""

        def sub(prefix: str) -> Dict[str, Tensor]:
            return {k[len(prefix) :]: v for k, v in params.items() if k.startswith(prefix)}

        g = params["emb_g.weight"][batch["speaker_ids"]].unsqueeze(-1)
        lengths = batch["spec_lens"]
        y_mask = (torch.arange(outputs["m_p"].shape[2], device=lengths.device)[None, :] < lengths[:, None]).unsqueeze(1)
        z = functional_call(model.flow, sub("flow."), (outputs["m_p"], y_mask.to(outputs["m_p"].dtype)), {"g": g, "reverse": True})
        z_slice = segment(z, outputs["slice_ids"], model.spec_segment_size, pad_short=True)
        wav = functional_call(model.waveform_decoder, sub("waveform_decoder."), (z_slice,), {"g": g})
        return torch.nn.functional.l1_loss(self._mel(wav), mel_slice.float()) * self.criterion.mel_loss_alpha

    @staticmethod
    def _adversarial_inputs(model: nn.Module, outputs: Dict[str, Any], adversarial: bool) -> Dict[str, Any]:
        if not adversarial:
            return {"scores_disc_fake": [], "feats_disc_fake": [], "feats_disc_real": []}
        # The live discriminator: it is not a meta-parameter, so no meta-gradient reaches it.
        scores_fake, feats_fake, _, feats_real = model.disc(outputs["model_outputs"], outputs["waveform_seg"])
        return {"scores_disc_fake": scores_fake, "feats_disc_fake": feats_fake, "feats_disc_real": feats_real}

    def query_loss(self, model: nn.Module):
        """The meta-loss on query clips: with adversarial terms when the discriminator trains."""
        adversarial = bool(self.config.maml.train_discriminator)
        return lambda params, batch: self.task_losses(model, params, batch, adversarial=adversarial)["loss"]

    def discriminator_loss(self, model: nn.Module, params: Dict[str, Tensor], batch: Batch) -> Tensor:
        """Coqui's ``VitsDiscriminatorLoss`` on real clips vs the generator run with ``params``."""
        with torch.no_grad():
            outputs = self._generate(model, params, batch)
        scores_fake, _, scores_real, _ = model.disc(outputs["model_outputs"].detach(), outputs["waveform_seg"])
        return self.disc_criterion(scores_disc_real=scores_real, scores_disc_fake=scores_fake)["loss"]
