"""The one home of the package's plots: the loss curve of ``tts-maml adapt``, the per-metric
curves of ``tts-maml evaluate``, and spectrograms side by side (the real, base and adapted clips of a
sentence: what a listener can also see), each written atomically as a PNG.

Example:
    >>> from tts_maml.plots import plot_adaptation_curve
    >>> curve = {"support_loss": [2.0, 1.5, 1.2], "val_loss": [2.1, 1.7, 1.8], "best_step": 1}
    >>> plot_adaptation_curve(curve, "curve.png")  # doctest: +SKIP
"""

import math
from typing import Any, Callable, Dict

import numpy as np

from tts_maml.files import atomic_write


def _draw(path: str, draw: Callable[[Any], None]) -> None:
    """A 6 x 3.5 inch figure, drawn by ``draw(axes)``, saved atomically to ``path`` at 100 dpi."""
    import matplotlib

    # No display: the plots are files, written from CLIs and worker processes alike.
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    try:
        draw(ax)
        ax.legend()
        fig.tight_layout()
        atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    finally:
        plt.close(fig)


def plot_adaptation_curve(curve: Dict[str, Any], path: str) -> None:
    """The support (and held-out) loss per adaptation step, with the exported step marked.

    ``curve`` is what ``curve.json`` holds: ``support_loss``, ``val_loss`` (may be empty) and
    ``best_step``.
    """

    def draw(ax: Any) -> None:
        steps = list(range(len(curve["support_loss"])))
        ax.plot(steps, curve["support_loss"], label="support loss")
        if curve["val_loss"]:
            ax.plot(steps, curve["val_loss"], label="held-out loss")
        ax.axvline(curve["best_step"], color="grey", linestyle="--", label=f"exported step {curve['best_step']}")
        ax.set_xlabel("adaptation step")
        ax.set_ylabel("task loss")

    _draw(path, draw)


def plot_metric(results: Dict[str, Any], metric: str, path: str) -> None:
    """One evaluation metric per step: mean and 95% interval, one line per model; on a judge's plot
    (similarities, error rates), its floor, Griffin-Lim ceiling and ceiling on real clips as
    horizontal lines.

    ``results`` is what ``results.json`` holds (``protocol.steps``, ``summary``, ``bounds``).
    """

    def draw(ax: Any) -> None:
        steps = results["protocol"]["steps"]
        for name, metrics in results["summary"].items():
            s = metrics[metric]
            ax.plot(steps, s["mean"], marker="o", label=name)
            ax.fill_between(steps, s["low"], s["high"], alpha=0.2)
        bounds = results.get("bounds", {}).get(metric, {})
        for key, style in (("ceiling", "--"), ("vocoder_ceiling", "-."), ("floor", ":")):
            if key in bounds and math.isfinite(bounds[key]["mean"]):
                label = "Griffin-Lim ceiling" if key == "vocoder_ceiling" else f"{key} (real clips)"
                ax.axhline(bounds[key]["mean"], color="grey", linestyle=style, label=label)
        # Step counts span 0..hundreds: linear near 0, logarithmic beyond.
        ax.set_xscale("symlog", linthresh=1)
        ax.set_xticks(steps, [str(s) for s in steps])
        ax.set_xlabel("adaptation steps")
        ax.set_ylabel(metric.replace("_", " "))

    _draw(path, draw)


SPECTROGRAM_HOP = 256
SPECTROGRAM_MELS = 80


def plot_spectrograms(wavs: Dict[str, str], path: str, title: str) -> None:
    """Write one PNG to ``path``: the log-mel spectrogram of each wav of ``wavs`` (label -> audio
    file), stacked in order, on the same time and frequency axes."""
    import librosa
    import matplotlib
    import soundfile as sf

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(wavs), 1, figsize=(9, 2.4 * len(wavs)), sharex=True, squeeze=False)
    try:
        for ax, (label, wav_path) in zip(axes[:, 0], wavs.items()):
            wav, rate = sf.read(wav_path, dtype="float32", always_2d=True)
            mel = librosa.feature.melspectrogram(y=wav.mean(axis=1), sr=rate, n_fft=1024, hop_length=SPECTROGRAM_HOP,
                                                 n_mels=SPECTROGRAM_MELS)  # fmt: skip
            ax.imshow(librosa.power_to_db(mel, ref=np.max), origin="lower", aspect="auto", cmap="magma",
                      extent=(0, mel.shape[1] * SPECTROGRAM_HOP / rate, 0, SPECTROGRAM_MELS))  # fmt: skip
            ax.set_facecolor("black")  # past a shorter clip's end: silence, not white
            ax.set_ylabel("mel bin")
            ax.set_title(label, fontsize=9)
        axes[-1, 0].set_xlabel("seconds")
        fig.suptitle(title, fontsize=10)
        fig.tight_layout()
        atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=90))
    finally:
        plt.close(fig)
