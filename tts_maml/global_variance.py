"""Global-variance fine-tuning: Glow-TTS trained to vary its mel spectrograms as much as real speech.

A model trained by maximum likelihood speaks the *mean* of what it has heard: its mel spectrograms
are over-smoothed, each mel band varying less over time than in real speech (the pre-trained
CPU model's bands vary 1.20-1.28x less; ``benchmarks/base_speaks.py`` prints that ratio), and
Griffin-Lim turns the flat bands into a muffled voice that a speaker encoder places nearer the
average speaker. The *global variance* (GV) of statistical parametric synthesis measures exactly
that (Toda and Tokuda, 2007), and a GV term in the training loss is the usual cure.

:class:`GlobalVarianceGlowTTS` is Coqui's ``GlowTTS`` whose training step adds, to Coqui's own
losses, ``weight`` times :func:`global_variance_loss` of the mel spectrogram its *synthesis path*
gives (the aligned prior means plus noise at ``inference_noise_scale``, through the inverse decoder,
as inference does) against the real one. Its weights are ``GlowTTS``'s: its checkpoints are plain
Coqui checkpoints that the stock ``tts`` command, ``tts-maml convert`` and adaptation load as they
load any Glow-TTS. :class:`GlobalVarianceForward` gives the same term to meta-learning, whose task
loss runs the forward pass through ``torch.func.functional_call`` (``maml.global_variance_weight``).

Example:
    >>> import torch
    >>> from tts_maml.global_variance import global_variance_loss
    >>> real = torch.tensor([[[0.0, 2.0, 0.0, 2.0]]])          # [batch, mel bands, frames]
    >>> smooth = torch.tensor([[[0.5, 1.5, 0.5, 1.5]]])        # half the standard deviation
    >>> mask = torch.ones(1, 1, 4)
    >>> round(float(global_variance_loss(smooth, real, mask)), 3)  # |log(0.5 / 1)|
    0.693
"""

from typing import Any, Dict, Optional, Tuple

import torch
from torch import Tensor, nn
from TTS.tts.models.glow_tts import GlowTTS
from TTS.tts.utils.helpers import sequence_mask

# Keeps the log of a silent band's standard deviation finite (normalised mel values span -4..4).
EPS = 1e-5


def log_std_over_time(mel: Tensor, mask: Tensor) -> Tensor:
    """``[B, C, 1]``: the log standard deviation over the unmasked frames of each band of ``mel``
    ``[B, C, T]`` (``mask`` ``[B, 1, T]``, 1 on frames)."""
    frames = mask.sum(2, keepdim=True).clamp(min=1.0)
    mean = (mel * mask).sum(2, keepdim=True) / frames
    variance = ((mel - mean) ** 2 * mask).sum(2, keepdim=True) / frames
    return 0.5 * torch.log(variance + EPS)


def global_variance_loss(synthesised: Tensor, real: Tensor, mask: Tensor) -> Tensor:
    """The mean over utterances and mel bands of ``|log std_t(synthesised) - log std_t(real)|``:
    0 when every band of every utterance varies over time as much as the real one does."""
    return (log_std_over_time(synthesised, mask) - log_std_over_time(real, mask)).abs().mean()


def synthesis_path(glow: GlowTTS, outputs: Dict[str, Any], y: Tensor, y_lengths: Tensor,
                   aux_input: Optional[Dict[str, Any]]) -> Tuple[Tensor, Tensor, Tensor]:  # fmt: skip
    """``(synthesised, real, mask)``, ``[B, C, T]`` each (``mask`` ``[B, 1, T]``): the mel that
    inference would give on ``glow``'s forward pass' alignment (prior means and log-scales of
    ``outputs``, noise at ``inference_noise_scale``, the inverse decoder), the real mel ``y``
    ``[B, T, C]`` cut to the same frames (by ``GlowTTS.preprocess``, as the forward pass cuts it),
    their mask."""
    real, lengths, frames, _ = glow.preprocess(y.transpose(1, 2), y_lengths, y.size(1))
    y_mean = outputs["y_mean"].transpose(1, 2)
    mask = torch.unsqueeze(sequence_mask(lengths, frames), 1).to(y_mean.dtype)
    noise = torch.randn_like(y_mean) * glow.inference_noise_scale
    z = (y_mean + torch.exp(outputs["y_log_scale"].transpose(1, 2)) * noise) * mask
    g = glow._get_speaker_conditioning(aux_input or {"d_vectors": None, "speaker_ids": None}, "emb_g")
    synthesised, _ = glow.decoder(z, mask, g=g, reverse=True)
    return synthesised, real, mask


class GlobalVarianceForward(nn.Module):
    """``glow``'s forward pass with ``"gv_loss"`` (:func:`global_variance_loss` of its
    :func:`synthesis_path`) added to the outputs, whatever mode ``glow`` is in.

    A module for ``torch.func.functional_call``: the synthesis path then runs on the same
    substituted weights as the forward pass (name them ``glow.<parameter name>``). This is how the
    meta-learning task loss adds the term (``maml.global_variance_weight``,
    :class:`tts_maml.backbones.glow_tts.GlowTTSBackbone`).
    """

    def __init__(self, glow: GlowTTS) -> None:
        super().__init__()
        self.glow = glow

    def forward(self, x: Tensor, x_lengths: Tensor, y: Tensor, y_lengths: Tensor,
                aux_input: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:  # fmt: skip
        outputs = self.glow(x, x_lengths, y, y_lengths, aux_input=aux_input)
        outputs["gv_loss"] = global_variance_loss(*synthesis_path(self.glow, outputs, y, y_lengths, aux_input))
        return outputs


class GlobalVarianceGlowTTS(GlowTTS):
    """Coqui's ``GlowTTS`` trained with Coqui's losses plus ``weight`` x :func:`global_variance_loss`
    (logged as ``gv_loss``) of its synthesis path's mel spectrogram.

    Args:
        config, ap, tokenizer, speaker_manager: as ``GlowTTS``.
        weight: the GV term's weight (0: plain ``GlowTTS`` training).
    """

    def __init__(self, config: Any, ap: Any = None, tokenizer: Any = None, speaker_manager: Any = None,
                 weight: float = 1.0) -> None:  # fmt: skip
        super().__init__(config, ap, tokenizer, speaker_manager)
        if weight < 0:
            raise ValueError(f"global-variance weight must be >= 0, got {weight}")
        self.global_variance_weight = float(weight)

    def forward(self, x: Tensor, x_lengths: Tensor, y: Tensor, y_lengths: Optional[Tensor] = None,
                aux_input: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:  # fmt: skip
        outputs = super().forward(x, x_lengths, y, y_lengths, aux_input)
        if self.training and self.global_variance_weight > 0:
            outputs["gv_loss"] = global_variance_loss(*synthesis_path(self, outputs, y, y_lengths, aux_input))
        return outputs

    def train_step(self, batch: Dict[str, Any], criterion: Any,
                   optimizer_idx: Optional[int] = None) -> Tuple[Any, Any]:  # fmt: skip
        outputs, loss_dict = super().train_step(batch, criterion, optimizer_idx)
        if loss_dict is not None and "gv_loss" in outputs:
            loss_dict["gv_loss"] = outputs["gv_loss"]
            loss_dict["loss"] = loss_dict["loss"] + self.global_variance_weight * outputs["gv_loss"]
        return outputs, loss_dict
