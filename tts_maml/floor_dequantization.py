"""Floor dequantisation: the mel values clipped at the floor, spread just below it.

Coqui normalises mel spectrograms into ``[-max_norm, max_norm]`` and clips (``audio.clip_norm``):
every value quieter than ``audio.min_level_db`` lands exactly on the floor. A voice recorded at
16 kHz has nothing above 8 kHz, so in a 22.05 kHz model its top mel bands sit on the floor in most
frames (the voice families' dev voices: 46-100 % of the frames of bands 78-79). Maximum likelihood
gives a point mass an unbounded density: Glow-TTS' decoder learns an extreme scale for those bands,
and its loss is then so sharp along the decoder's per-channel scales that one gradient step of L2
length 0.001 on them raises a dev voice's support loss from 1.5 to 4.7
(``benchmarks/inner_loop_curvature.py``); an inner loop over them diverges at any rate.

The remedy of flow models on discrete or censored data is dequantisation (Theis et al. 2016; Ho et
al. 2019, Flow++): train on the data plus noise that fills the gap. Here only the values *on* the
floor move, each below it by half-normal noise of scale ``sigma``; values above the floor are left
alone. Whatever the model then generates below the floor, Coqui's denormalisation clips back to it:
the floor still means silence, and synthesis is unchanged in kind.

:class:`FloorDequantizedGlowTTS` trains Coqui's Glow-TTS so (pre-training, ``--floor-noise``);
the meta-learning task loss does the same with ``maml.floor_noise``.

Example:
    >>> import torch
    >>> from tts_maml.floor_dequantization import dequantize_floor
    >>> mel = torch.tensor([[[-4.0, -1.0, -4.0]]])
    >>> out = dequantize_floor(mel, floor=-4.0, sigma=0.5, generator=torch.Generator().manual_seed(0))
    >>> bool(out[0, 0, 1] == -1.0), bool((out[0, 0, [0, 2]] < -4.0).all())
    (True, True)
"""

from typing import Any, Dict, Optional, Tuple

import torch
from torch import Tensor

from tts_maml.global_variance import GlobalVarianceGlowTTS

# A value this close to the floor counts as on it (the clip leaves it exact; float32 round-off aside).
ON_FLOOR = 1e-4


def mel_floor(audio: Any) -> float:
    """The value Coqui's normalisation clips silence to, from audio settings (``config.audio`` or an
    ``AudioProcessor``): ``-max_norm`` (symmetric) or 0.

    Raises ``ValueError`` when the audio settings have no floor (``signal_norm`` or ``clip_norm`` off).
    """
    if not (getattr(audio, "signal_norm", False) and getattr(audio, "clip_norm", False)):
        raise ValueError("floor dequantisation needs a normalised, clipped mel spectrogram "
                         "(audio.signal_norm and audio.clip_norm true): without them there is no floor")  # fmt: skip
    return -float(audio.max_norm) if audio.symmetric_norm else 0.0


def dequantize_floor(mel: Tensor, floor: float, sigma: float, generator: Optional[torch.Generator] = None) -> Tensor:
    """``mel`` with every value on ``floor`` moved below it by ``sigma * |N(0, 1)|``; the rest unchanged.

    Padding (Coqui pads with zeros, above the symmetric floor) is not on the floor and is left alone.
    ``sigma`` 0 returns ``mel`` itself.
    """
    if sigma < 0:
        raise ValueError(f"floor noise must be >= 0, got {sigma}")
    if sigma == 0:
        return mel
    noise = torch.randn(mel.shape, generator=generator, device=mel.device if generator is None else "cpu")
    noise = noise.to(device=mel.device, dtype=mel.dtype).abs() * sigma
    on_floor = mel <= floor + ON_FLOOR
    return torch.where(on_floor, mel - noise, mel)


class FloorDequantizedGlowTTS(GlobalVarianceGlowTTS):
    """Coqui's ``GlowTTS`` (with :mod:`tts_maml.global_variance`'s term when ``weight`` > 0) trained on
    mel spectrograms whose floor values are dequantised with ``floor_noise`` (:func:`dequantize_floor`).
    Its checkpoints are plain Glow-TTS checkpoints.

    Args:
        config, ap, tokenizer, speaker_manager, weight: as :class:`GlobalVarianceGlowTTS`.
        floor_noise: the half-normal noise scale below the floor (0: Coqui's training unchanged).
    """

    def __init__(self, config: Any, ap: Any = None, tokenizer: Any = None, speaker_manager: Any = None,
                 weight: float = 0.0, floor_noise: float = 0.0) -> None:  # fmt: skip
        super().__init__(config, ap, tokenizer, speaker_manager, weight=weight)
        if floor_noise < 0:
            raise ValueError(f"floor noise must be >= 0, got {floor_noise}")
        self.floor_noise = float(floor_noise)
        self.floor = mel_floor(config.audio) if self.floor_noise > 0 else None

    def train_step(self, batch: Dict[str, Any], criterion: Any,
                   optimizer_idx: Optional[int] = None) -> Tuple[Any, Any]:  # fmt: skip
        if self.floor_noise > 0:
            batch = {**batch, "mel_input": dequantize_floor(batch["mel_input"], self.floor, self.floor_noise)}
        return super().train_step(batch, criterion, optimizer_idx)
