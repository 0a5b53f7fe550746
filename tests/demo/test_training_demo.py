import json
import os
import shutil

import pytest

from tts_maml.corpus.build import build_corpus
from tts_maml.demo import training_demo
from tts_maml.demo.training_demo import find_run, run_training_demo, training_demo_artefacts, training_report
from tts_maml.demo.voice_clips import judge_wavs
from tts_maml.judges import METRICS

# A stand-in for recipes/vctk/meta_train_vits.py: "trains" by copying a tiny meta-trained run into --output-path.
FAKE_RECIPE = """import os, shutil, sys
out = sys.argv[sys.argv.index("--output-path") + 1]
run = os.path.join(out, "run-tiny")
os.makedirs(run)
shutil.copy({checkpoint!r}, os.path.join(run, "best_model.pth"))
shutil.copy({config!r}, os.path.join(run, "config.json"))
print("extra:", sys.argv[sys.argv.index("--output-path") + 2:])
"""


def test_find_run_wants_exactly_one(tmp_path):
    with pytest.raises(FileNotFoundError, match="found 0"):
        find_run(str(tmp_path))
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "config.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match=f"{tmp_path}: .* found 2"):
        find_run(str(tmp_path))


def test_a_missing_recipe_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.py"):
        run_training_demo(str(tmp_path / "out"), str(tmp_path / "nowhere.py"))


def test_report_says_what_the_similarity_is_scored_against():
    numbers = {"meta_train_seconds": 1, "adapt_seconds": 2, "speaker": "sp020", "sentence": "Hi.",
               "heldout_loss_before": 1.0, "heldout_loss_best": 0.5, "best_step": 3, "voice_kb": 1.0, "adapted_mb": 2.0,
               "judges": {k: {m: v for m in METRICS} for k, v in (("base", 0.5), ("adapted", 0.6), ("real", 0.9))}}  # fmt: skip
    maml = {"algorithm": "metasgd", "inner_steps": 2, "adapter_preset": "speaker", "meta_batch_size": 2}
    text = training_report("recipes/vctk/meta_train_vits.py", "run/x", numbers, maml)
    assert "`recipes/vctk/meta_train_vits.py`: 1 s. Run folder: `run/x`" in text
    assert "real clips that adaptation never saw" in text
    assert "| cer (Whisper tiny.en) of `sp020`, adapted model | 0.6 |" in text


@pytest.mark.slow
def test_training_demo_end_to_end_tiny(meta_trained, tmp_path, monkeypatch):
    checkpoint, config = meta_trained
    recipe = tmp_path / "fake_recipe.py"
    recipe.write_text(FAKE_RECIPE.format(checkpoint=checkpoint, config=config))
    # 9+ clips per speaker: 7 to adapt on, 1 unseen sentence, the rest to score against.
    corpus = build_corpus(str(tmp_path / "corpus"), speakers=2, utterances=10, seed=5, held_out=1, workers=2,
                          progress=False).out  # fmt: skip
    monkeypatch.setattr(training_demo, "ADAPT_STEPS", 3)
    scored_against = []

    def spy(wavs, reference, sentence):
        scored_against.extend(reference)
        return judge_wavs(wavs, reference, sentence)

    monkeypatch.setattr(training_demo, "judge_wavs", spy)
    out = str(tmp_path / "demo")
    numbers = run_training_demo(out, str(recipe), ["--x", "1"], corpus=corpus)

    assert json.load(open(os.path.join(out, "report.json"))) == numbers
    assert numbers["best_step"] <= 3 and "extra: ['--x', '1']" in open(os.path.join(out, "demo.log")).read()
    for path in training_demo_artefacts(out).values():
        assert os.path.exists(path), path
    assert "3 steps" in open(os.path.join(out, "report.md")).read()
    # The adapted voice is scored against the speaker's clips that adaptation never saw.
    adapted_on = set(os.listdir(os.path.join(out, "clips"))) - {"metadata.csv"}
    assert len(adapted_on) == 7 and len(scored_against) == 2
    assert not adapted_on & {os.path.basename(p) for p in scored_against}
    for key in ("base", "adapted", "real"):
        scores = numbers["judges"][key]
        assert set(scores) == set(METRICS) and all(-1 <= scores[m] <= 1 for m in ("speaker_similarity", "campplus_similarity"))
        assert 0 <= scores["cer"] <= 1 and 0 <= scores["wer"] <= 1
    assert "| cer (Whisper tiny.en) of" in open(os.path.join(out, "report.md")).read()
    page = open(os.path.join(out, "index.html")).read()  # the listening page: the three clips, the judges
    for src in (f"real_{numbers['speaker']}.wav", "base.wav", "adapted.wav", "adaptation_curve.png"):
        assert f'src="{src}"' in page, src
    assert "campplus_similarity (CAM++)" in page
    shutil.rmtree(out)
