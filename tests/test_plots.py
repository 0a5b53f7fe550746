import math

import matplotlib.pyplot as plt
import pytest

from tts_maml.plots import plot_adaptation_curve, plot_metric

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("val_loss", [[2.1, 1.7, 1.8], []], ids=["held-out", "support only"])
def test_adaptation_curve_is_a_png_and_leaves_no_figure_open(tmp_path, val_loss):
    path = tmp_path / "curve.png"
    plot_adaptation_curve({"support_loss": [2.0, 1.5, 1.2], "val_loss": val_loss, "best_step": 1}, str(path))
    assert path.read_bytes().startswith(PNG) and plt.get_fignums() == []
    assert [p.name for p in tmp_path.iterdir()] == ["curve.png"]  # written atomically: no temporary left


def test_metric_plot_draws_every_model_and_the_real_clip_lines(tmp_path, monkeypatch):
    steps = [0, 5, 20]
    line = {"mean": [0.5, 0.6, 0.7], "low": [0.4, 0.5, 0.6], "high": [0.6, 0.7, 0.8]}
    results = {"protocol": {"steps": steps}, "summary": {"meta": {"speaker_similarity": line},
               "baseline": {"speaker_similarity": line}},
               "bounds": {"speaker_similarity": {"ceiling": {"mean": 0.9}, "vocoder_ceiling": {"mean": 0.8},
                                                 "floor": {"mean": math.nan}}}}  # fmt: skip
    drawn = []
    original = plt.Axes.legend
    monkeypatch.setattr(plt.Axes, "legend", lambda ax: drawn.append(ax.get_legend_handles_labels()[1]) or original(ax))
    plot_metric(results, "speaker_similarity", str(tmp_path / "s.png"))
    # a NaN floor (one test speaker) is left out
    assert drawn == [["meta", "baseline", "ceiling (real clips)", "Griffin-Lim ceiling"]]
    assert (tmp_path / "s.png").read_bytes().startswith(PNG) and plt.get_fignums() == []
