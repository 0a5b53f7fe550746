import json
import os

import pytest

from tts_maml.baseline import train_baseline
from tts_maml.cli import main
from tts_maml.evaluation import METRICS, evaluate


@pytest.mark.slow
def test_evaluate_writes_json_plots_and_report(meta_trained, adapt_corpus, tmp_path):
    checkpoint, config = meta_trained
    baseline = train_baseline(checkpoint, config, adapt_corpus.out, str(tmp_path / "baseline"), progress=False)
    with open(os.path.join(tmp_path / "baseline", "config.json")) as f:
        assert json.load(f)["model"] == "vits"
    out = tmp_path / "report"
    results = evaluate({"meta": checkpoint, "baseline": baseline}, os.path.join(adapt_corpus.out, "held_out"),
                       str(out), shots=3, steps=[0, 1, 3], queries=2, progress=False)  # fmt: skip
    assert sorted(os.listdir(out)) == sorted(["results.json", "report.md"] + [f"{m}.png" for m in METRICS])
    runs = results["runs"]
    assert len(runs) == 2 * 2 * 3  # models x held-out speakers x steps
    assert {r["speaker"] for r in runs} == {f"VCTK_{s}" for s in adapt_corpus.held_out_speakers}
    for r in runs:
        assert all(isinstance(r[m], float) for m in METRICS)
        assert r["mcd"] > 0 and -1 <= r["speaker_similarity"] <= 1
    saved = json.loads((out / "results.json").read_text())
    assert saved["summary"]["meta"]["query_loss"]["mean"][0] == pytest.approx(results["summary"]["meta"]["query_loss"]["mean"][0])
    report = (out / "report.md").read_text()
    assert "| step |" in report and "meta query_loss" in report and "baseline mcd" in report
    # the same adaptation steps as meta-training's count of gradient evaluations (4 meta-steps x (2 + 1))
    import torch

    assert torch.load(baseline, weights_only=False)["step"] == 4 * 3


def test_evaluate_refuses_bad_arguments(tmp_path, capsys):
    assert main(["evaluate", "--models", "meta", "--held-out", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "NAME=CHECKPOINT" in capsys.readouterr().err
    assert main(["evaluate", "--models", f"m={tmp_path}/x.pth", "--held-out", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "the checkpoint does not exist" in capsys.readouterr().err
