import json
import math
import os
import shutil

import pytest
from browser import audio_durations

from tts_maml import judges
from tts_maml.cli import main
from tts_maml.evaluate.evaluation import METRICS, mean_interval, no_clips_summary, speaker_interval, steps_to_match


def test_mean_interval_is_the_student_t_interval():
    r = mean_interval([1.0, 2.0, 3.0, 4.0, 5.0])
    # sd 1.5811, se 0.7071, t(0.975, 4) = 2.7764: half-width 1.9632
    assert (r["mean"], r["n"]) == (3.0, 5)
    assert r["low"] == pytest.approx(1.0368, abs=1e-4) and r["high"] == pytest.approx(4.9632, abs=1e-4)
    one = mean_interval([0.5, float("nan")])
    assert one["mean"] == 0.5 and one["n"] == 1 and math.isnan(one["low"]) and math.isnan(one["high"])


def test_interval_is_over_speakers_of_their_seed_means():
    rows = [{"speaker": s, "v": v} for s, vs in (("a", (1, 3)), ("b", (5, 5)), ("c", (9, 7))) for v in vs]
    r = speaker_interval(rows, "v")
    # speaker means 2, 5, 8: sd 3, se sqrt(3), t(0.975, 2) = 4.3027
    assert r["n"] == 3 and r["mean"] == pytest.approx(5.0)
    assert r["high"] - r["mean"] == pytest.approx(4.3027 * math.sqrt(3), abs=1e-3)


def test_no_clips_summary_reads_only_the_rows_before_any_clip():
    def row(model, speaker, step, v):
        return {"model": model, "speaker": speaker, "seed": 0, "step": step, **{m: v for m in METRICS}}

    rows = [row("meta", "a", None, 0.5), row("meta", "b", None, 0.7), row("meta", "a", 0, 0.9),
            row("baseline", "a", None, 0.4), row("baseline", "b", 5, 0.9)]  # fmt: skip
    before = no_clips_summary(rows)
    assert before["meta"]["speaker_similarity"]["mean"] == pytest.approx(0.6)
    assert before["meta"]["mcd"]["n"] == 2 and before["baseline"]["speaker_similarity"]["n"] == 1


def test_steps_to_match_reads_the_baseline_curve():
    steps = [0, 5, 10, 20, 50, 100, 200]
    summary = {
        "meta": {"speaker_similarity": {"mean": [0.6, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8]},
                 "query_loss": {"mean": [2.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]}},
        "baseline": {"speaker_similarity": {"mean": [0.6, 0.62, 0.7, 0.75, 0.79, 0.81, 0.82]},
                     "query_loss": {"mean": [2.0, 1.9, 1.8, 1.5, 1.2, 1.1, 1.05]}},
    }  # fmt: skip
    match = steps_to_match(summary, steps, reference_step=5)
    assert match["speaker_similarity"]["baseline_steps"] == 100 and match["speaker_similarity"]["ratio"] == 20
    assert match["query_loss"]["baseline_steps"] is None and match["query_loss"]["ratio"] is None


def test_evaluate_refuses_bad_arguments(tmp_path, capsys):
    args = ["evaluate", "--config_path", str(tmp_path / "c.json"), "--corpus", str(tmp_path), "--out", str(tmp_path / "o")]
    assert main(args + ["--model_path", str(tmp_path / "x.pth")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(args + ["--model_path", "m.pth", "--steps", "0,five"]) == 2
    assert "comma-separated numbers" in capsys.readouterr().err
    assert main(args + ["--model_path", "m.pth", "--reference-step", "0"]) == 2
    assert "--reference-step must be >= 1, got 0" in capsys.readouterr().err
    alone = ["evaluate", "--model_path", "m.pth", "--config_path", "c.json", "--out", str(tmp_path / "o")]
    assert main(alone) == 2
    assert "--corpus or --voice is needed" in capsys.readouterr().err
    assert main(alone + ["--voice", str(tmp_path), "--baseline_model_path", "b.pth", "--baseline_config_path", "b.json"]) == 2
    assert "pass --baseline_lr" in capsys.readouterr().err


@pytest.fixture(scope="module")
def four_held_out(tmp_path_factory):
    """4 held-out speakers x 6 clips: 2 dev + 2 test (a floor needs two test speakers)."""
    from tts_maml.corpus.build import build_corpus

    out = tmp_path_factory.mktemp("eval_corpus") / "corpus"
    return build_corpus(str(out), speakers=1, utterances=6, seed=13, held_out=4, workers=2, progress=False)


def _guest_folder(corpus, tmp_path):
    """A test speaker's clips copied into a clips folder named ``guest``: one more voice for ``--voice``."""
    test_speaker = sorted(corpus.held_out_speakers)[-1]
    return shutil.copytree(os.path.join(corpus.out, "held_out", "wav48_silence_trimmed", test_speaker), tmp_path / "guest")


@pytest.mark.slow
def test_evaluate_runs_the_protocol_end_to_end(meta_trained, four_held_out, tmp_path):
    checkpoint, config = meta_trained
    out = tmp_path / "report"
    # One more voice from a clips folder: a test speaker's clips, copied under another name.
    guest = _guest_folder(four_held_out, tmp_path)
    # The tiny meta-trained model stands in for the pre-trained starting checkpoint of the baseline.
    assert main(["evaluate", "--model_path", checkpoint, "--config_path", config, "--corpus", four_held_out.out,
                 "--out", str(out), "--baseline_model_path", checkpoint, "--baseline_config_path", config,
                 "--baseline-lrs", "1e-3,1e-2", "--shots", "3", "--queries", "2", "--steps", "0,2",
                 "--reference-step", "2", "--seeds", "2", "--no-progress", "--voice", str(guest)]) == 0  # fmt: skip
    assert sorted(os.listdir(out)) == sorted(["results.json", "report.md", "index.html", "listen"]
                                             + [f"{m}.png" for m in METRICS])  # fmt: skip
    results = json.loads((out / "results.json").read_text())
    # The listening page: per voice (2 test speakers, the guest) seed 0's first query sentence, real and
    # each model with no clips, at step 0 and at the last step, each playable in headless Chromium.
    assert sorted(os.listdir(out / "listen")) == sorted(results["speakers"]["test"] + ["guest"])
    found = audio_durations(out / "index.html", tmp_path / "profile")
    assert len(found) == 3 * (1 + 2 * 3) and all(error is None and duration > 0 for _, duration, error in found), found
    assert [src for src, _, _ in found[:7]] == [f"listen/{results['speakers']['test'][0]}/{f}.wav" for f in
                                               ("real_clip", "meta_no_clips", "meta_step_0", "meta_step_2",
                                                "baseline_no_clips", "baseline_step_0", "baseline_step_2")]  # fmt: skip
    page = (out / "index.html").read_text()
    assert page.count("<th>floor (mean)</th>") == 3 and "cer (Whisper tiny.en)" in page
    dev, test = results["speakers"]["dev"], results["speakers"]["test"]
    assert len(dev) == 2 and len(test) == 2 and not set(dev) & set(test)
    assert results["speakers"]["voices"] == ["guest"]
    runs = [r for r in results["runs"] if r["speaker"] != "guest"]
    assert len(runs) == 2 * 2 * 2 * (2 + 1)  # models x test speakers x seeds x (steps + no clips)
    guest_runs = [r for r in results["runs"] if r["speaker"] == "guest"]
    assert len(guest_runs) == 2 * 2 * (2 + 1) and {r["seed"] for r in guest_runs} == {0, 1}
    voice = results["voices"]["guest"]
    # Its own numbers, seeds as the units of its interval; the test speakers' summary leaves it out.
    assert voice["summary"]["meta"]["speaker_similarity"]["n"] == [2, 2]
    bounds = voice["bounds"]
    assert set(bounds) == set(judges.METRICS)
    assert voice["no_clips"]["baseline"]["mcd"]["n"] == 2
    for metric in judges.METRICS:
        assert bounds[metric]["ceiling"]["n"] == 2 and bounds[metric]["floor"]["n"] == 2
    for metric in judges.SIMILARITY_METRICS:
        assert bounds[metric]["ceiling"]["mean"] > bounds[metric]["floor"]["mean"]
    # The guest's real clips are plain espeak-ng: Whisper makes them out, and a wrong sentence is far off.
    assert bounds["cer"]["ceiling"]["mean"] < 0.5 < bounds["cer"]["floor"]["mean"]
    before = [r for r in runs if r["step"] is None]
    assert len(before) == 2 * 2 * 2 and all(math.isfinite(r["speaker_similarity"]) for r in before)
    for name in ("meta", "baseline"):
        assert results["no_clips"][name]["speaker_similarity"]["n"] == 2
    assert {r["speaker"] for r in runs} == set(test) and {r["seed"] for r in runs} == {0, 1}
    for r in runs:
        assert all(isinstance(r[m], float) and math.isfinite(r[m]) for m in ("query_loss", "mcd") + judges.METRICS)
        assert len(r["heard"]) == 2 and all(isinstance(t, str) for t in r["heard"])  # what Whisper heard, per query
    real = results["real_clips"]
    assert len(real) == (2 + 1) * 2 and all(len(e["texts"]) == len(e["heard"]) == 2 for e in real)
    for metric in judges.METRICS:
        for key in ("floor", "ceiling", "vocoder_ceiling"):
            b = results["bounds"][metric][key]
            assert b["n"] == 2 and b["low"] <= b["mean"] <= b["high"]
    for metric in judges.SIMILARITY_METRICS:
        b = results["bounds"][metric]
        # The real query clips through the model's mel and Griffin-Lim lose some of the voice, not all.
        assert b["floor"]["mean"] < b["vocoder_ceiling"]["mean"] < b["ceiling"]["mean"]
        assert bounds[metric]["vocoder_ceiling"]["n"] == 2
        assert bounds[metric]["vocoder_ceiling"]["mean"] < bounds[metric]["ceiling"]["mean"]
    # An untrained tiny model speaks no words: Whisper's error rate is far above the real clips'.
    cer = results["summary"]["meta"]["cer"]["mean"]
    assert min(cer) > results["bounds"]["cer"]["ceiling"]["mean"] + 0.3
    sim = results["summary"]["baseline"]["speaker_similarity"]
    assert sim["n"] == [2, 2] and all(lo <= m <= hi for lo, m, hi in zip(sim["low"], sim["mean"], sim["high"]))
    choice = results["baseline_lr_choice"]
    assert choice["speakers"] == dev and choice["chosen"] in (1e-3, 1e-2) and set(choice["lrs"]) == {"0.001", "0.01"}
    assert results["models"]["baseline"]["lr"] == choice["chosen"]
    assert set(results["steps_to_match"]) == {"speaker_similarity", "campplus_similarity", "query_loss"}
    assert any("only 2 test speakers" in w for w in results["warnings"])
    report = (out / "report.md").read_text()
    assert "Test speakers (2)" in report and "floor" in report and "ceiling" in report and "(chosen)" in report
    assert report.count("| judge | floor") == 2  # the test speakers and the voice
    # each model at a glance, for the test speakers and for the voice: floor, no clips, steps, ceilings
    assert report.count("by every judge") == 4 and report.count("| Griffin-Lim ceiling | ") == 4
    for metric in judges.METRICS:
        assert report.count(f"\n| {metric} (") == 2  # its row in the two tables of bounds
    assert "### speaker_similarity (Resemblyzer; higher is better)" in report and "### cer (Whisper" in report
    assert "Fine-tuning steps the baseline needs" in report
    assert "| no clips | " in report and "## Voice `guest` (a clips folder)" in report


def test_evaluate_without_a_baseline_measures_only_the_steps_asked_for(meta_trained, four_held_out, tmp_path):
    # The reference step exists for the baseline to match; with no baseline it is not measured.
    # --adapter-preset adapts another preset than the meta-trained tensors, as adapt's flag does.
    checkpoint, config = meta_trained
    guest = _guest_folder(four_held_out, tmp_path)
    out = tmp_path / "report"
    assert main(["evaluate", "--model_path", checkpoint, "--config_path", config, "--voice", str(guest),
                 "--out", str(out), "--shots", "3", "--queries", "1", "--steps", "1", "--seeds", "1",
                 "--adapter-preset", "speaker_embedding", "--no-progress"]) == 0  # fmt: skip
    results = json.loads((out / "results.json").read_text())
    assert {r["step"] for r in results["runs"]} == {None, 0, 1}
    assert results["steps_to_match"] == {}
    assert results["models"]["meta"]["adapted_tensors"] == 1  # the voice slot alone


def test_evaluate_on_the_dev_speakers_measures_them_and_says_so(meta_trained, four_held_out, tmp_path):
    # Choices (an adapter, a rate) are measured on the dev speakers, never on the test speakers.
    checkpoint, config = meta_trained
    out = tmp_path / "report"
    assert main(["evaluate", "--model_path", checkpoint, "--config_path", config, "--corpus", four_held_out.out,
                 "--out", str(out), "--shots", "3", "--queries", "1", "--steps", "1", "--seeds", "1",
                 "--speakers", "dev", "--no-progress"]) == 0  # fmt: skip
    results = json.loads((out / "results.json").read_text())
    dev = results["speakers"]["dev"]
    assert dev and {r["speaker"] for r in results["runs"]} == set(dev)
    assert results["protocol"]["measured_on"] == "dev"
    assert results["summary"]["meta"]["speaker_similarity"]["n"] == [len(dev)] * 2
    report = (out / "report.md").read_text()
    assert "Measured on the dev speakers" in report and f"Dev speakers ({len(dev)})" in report


@pytest.mark.slow
def test_train_baseline_chooses_a_rate_on_the_dev_speakers_and_records_it(meta_trained, four_held_out, tmp_path, capsys):
    checkpoint, config = meta_trained
    out = tmp_path / "baseline"
    args = ["train-baseline", "--model_path", checkpoint, "--config_path", config, "--corpus", four_held_out.out,
            "--lrs", "1e-3,1e-2", "--steps", "2", "--shots", "3", "--queries", "1", "--no-progress"]  # fmt: skip
    assert main(args + ["--out", str(out)]) == 0
    record = json.loads((out / "baseline.json").read_text())
    assert record["chosen"] in (1e-3, 1e-2) and set(record["lrs"]) == {"0.001", "0.01"}
    assert len(record["speakers"]) == 2 and record["optimizer"] == "adam" and record["steps"] == 2
    assert record["sha256"] and "griffin_lim_power" in record and "inner_lr" not in record
    assert f"--baseline_lr {record['chosen']:g}" in capsys.readouterr().out
    # A waveform model has no Griffin-Lim exponent to fit: one clear error before any step.
    assert main(args + ["--out", str(tmp_path / "fit"), "--fit-griffin-lim"]) == 2
    assert "--fit-griffin-lim: a vits model speaks waveforms" in capsys.readouterr().err
