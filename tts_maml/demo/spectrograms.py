"""Spectrograms side by side: what a listener can also see (the real, base and adapted clips of a sentence)."""

from typing import Dict

import numpy as np
import soundfile as sf

HOP = 256
N_MELS = 80


def plot_spectrograms(wavs: Dict[str, str], path: str, title: str) -> None:
    """Write one PNG to ``path``: the log-mel spectrogram of each wav of ``wavs`` (label -> wav file),
    stacked in order, on the same time and frequency axes."""
    import librosa
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(wavs), 1, figsize=(9, 2.4 * len(wavs)), sharex=True)
    for ax, (label, wav_path) in zip(axes, wavs.items()):
        wav, rate = sf.read(wav_path, dtype="float32", always_2d=True)
        mel = librosa.feature.melspectrogram(y=wav.mean(axis=1), sr=rate, n_fft=1024, hop_length=HOP, n_mels=N_MELS)
        ax.imshow(librosa.power_to_db(mel, ref=np.max), origin="lower", aspect="auto", cmap="magma",
                  extent=(0, mel.shape[1] * HOP / rate, 0, N_MELS))  # fmt: skip
        ax.set_facecolor("black")  # past a shorter clip's end: silence, not white
        ax.set_ylabel("mel bin")
        ax.set_title(label, fontsize=9)
    axes[-1].set_xlabel("seconds")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
