import json
import os
import stat

import numpy as np
import pytest
import soundfile as sf
from TTS.tts.configs.shared_configs import BaseDatasetConfig, BaseTTSConfig
from TTS.tts.datasets import load_tts_samples

from tts_maml.corpus import build as corpus
from tts_maml.corpus.speaker_split import split_dev_test
from tts_maml.corpus.synthetic_voices import NoAudioError, VoiceRecipe
from tts_maml.corpus.build import (
    attach_styles,
    build_corpus,
    build_installed_voices_corpus,
    clip_file_id,
    load_styles,
    plan_corpus,
    read_clips_metadata,
    trim_and_normalise,
)


def _load(path):
    # coqui-tts 0.28 takes a config with `datasets` (not a BaseDatasetConfig) in load_tts_samples.
    config = BaseTTSConfig(datasets=[BaseDatasetConfig(formatter="vctk", path=str(path))])
    train, _ = load_tts_samples(config, eval_split=False)
    return train


def test_coqui_vctk_formatter_reads_the_corpus(small_corpus):
    samples = _load(small_corpus.out)
    assert len(samples) == 3 * 4
    assert sorted({s["speaker_name"] for s in samples}) == [f"VCTK_{s}" for s in small_corpus.speakers]
    for s in samples:
        assert os.path.isfile(s["audio_file"]) and s["text"].strip()


def test_held_out_speakers_are_apart(small_corpus):
    held = _load(os.path.join(small_corpus.out, "held_out"))
    assert len(held) == 4
    assert {s["speaker_name"] for s in held} == {f"VCTK_{s}" for s in small_corpus.held_out_speakers}
    assert not set(small_corpus.held_out_speakers) & set(small_corpus.speakers)


def test_layout_and_audio(small_corpus):
    root = small_corpus.out
    assert os.path.isfile(os.path.join(root, "speaker-info.txt"))
    assert os.path.isfile(os.path.join(root, "corpus.json"))
    for spk in small_corpus.speakers:
        for n in range(1, 5):
            flac = os.path.join(root, "wav48_silence_trimmed", spk, f"{spk}_{n:03d}_mic1.flac")
            txt = os.path.join(root, "txt", spk, f"{spk}_{n:03d}.txt")
            info = sf.info(flac)
            assert (info.samplerate, info.channels) == (22050, 1)
            wav, _ = sf.read(flac)
            assert 0.9 < np.max(np.abs(wav)) <= 0.96  # peak-normalised to 0.95
            # trimmed: the first and last 10 ms are not silence-only padding of a second or more
            assert wav.size / 22050 > 0.5
            with open(txt, encoding="utf-8") as f:
                assert len(f.read().splitlines()) == 1


def test_speaker_info_records_each_recipe(small_corpus):
    with open(os.path.join(small_corpus.out, "speaker-info.txt"), encoding="utf-8") as f:
        lines = f.read().splitlines()
    assert lines[0].split()[:3] == ["ID", "AGE", "GENDER"]
    assert [line.split()[0] for line in lines[1:]] == small_corpus.speakers
    for line in lines[1:]:
        assert "engine=" in line and "formant_cents=" in line


def test_styles_side_file(small_corpus):
    styles = load_styles(small_corpus.out)
    assert len(styles) == 12
    for spk in small_corpus.speakers:
        assert len({v for k, v in styles.items() if k.startswith(spk)}) >= 2
    samples = attach_styles(_load(small_corpus.out), small_corpus.out)
    assert all(s["style"] == styles[clip_file_id(s["audio_file"])] for s in samples)


def test_attach_styles_names_an_unknown_clip(small_corpus):
    with pytest.raises(KeyError, match="sp999_001"):
        attach_styles([{"audio_file": "/x/sp999_001_mic1.flac"}], small_corpus.out)


def test_plan_is_deterministic_and_every_style_is_spoken():
    a = plan_corpus(4, 8, seed=1)
    assert a == plan_corpus(4, 8, seed=1)
    assert [j.text for j in a] != [j.text for j in plan_corpus(4, 8, seed=2)]
    for spk in {j.speaker for j in a}:
        assert {j.style for j in a if j.speaker == spk} == {"neutral", "fast", "slow", "high", "low"}


def test_same_seed_same_audio(tmp_path):
    a = build_corpus(str(tmp_path / "a"), speakers=1, utterances=2, seed=5, workers=1, progress=False)
    b = build_corpus(str(tmp_path / "b"), speakers=1, utterances=2, seed=5, workers=1, progress=False)
    for name in ("sp000_001", "sp000_002"):
        rel = os.path.join("wav48_silence_trimmed", "sp000", f"{name}_mic1.flac")
        wa, _ = sf.read(os.path.join(a.out, rel))
        wb, _ = sf.read(os.path.join(b.out, rel))
        np.testing.assert_array_equal(wa, wb)


def test_non_empty_out_is_refused_unless_overwrite(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="--overwrite"):
        build_corpus(str(out), speakers=1, utterances=1, progress=False)
    assert (out / "keep.txt").read_text() == "mine"
    build_corpus(str(out), speakers=1, utterances=1, overwrite=True, workers=1, progress=False)
    assert not (out / "keep.txt").exists()
    assert os.path.isdir(out / "txt" / "sp000")
    assert [p for p in os.listdir(tmp_path) if p.startswith(".")] == []  # no temporary folder left


def test_an_interrupted_build_leaves_nothing(tmp_path, monkeypatch):
    calls = []

    def render(args):
        calls.append(args)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return 1.0, args[2].file_id, args[2].text

    monkeypatch.setattr(corpus, "_render", render)
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        build_corpus(str(out), speakers=2, utterances=3, workers=1, progress=False)
    assert os.listdir(tmp_path) == []


def test_empty_existing_out_is_used(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    build_corpus(str(out), speakers=1, utterances=1, workers=1, progress=False)
    assert os.path.isdir(out / "wav48_silence_trimmed")


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="speakers >= 1"):
        plan_corpus(0, 3)


def test_trim_and_normalise():
    sr = 16000
    tone = 0.3 * np.sin(2 * np.pi * 220 * np.arange(sr) / sr)
    wav = np.concatenate([np.zeros(sr), tone, np.zeros(sr // 2)]).astype(np.float32)
    out = trim_and_normalise(wav, sr, pad_ms=30)
    assert abs(out.size - (sr + 2 * 0.03 * sr)) <= 0.02 * sr
    assert np.max(np.abs(out)) == pytest.approx(0.95, abs=1e-6)
    with pytest.raises(ValueError, match="silent"):
        trim_and_normalise(np.zeros(sr, dtype=np.float32), sr)


def test_the_corpus_folder_gets_the_users_mode_not_a_temporary_folders(small_corpus):
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE(os.stat(small_corpus.out).st_mode) == 0o777 & ~umask


def test_speaker_clips_renders_one_speaker_exactly_as_the_corpus_does(small_corpus, tmp_path):
    import soundfile as sf

    from tts_maml.corpus.build import speaker_clips

    held = small_corpus.held_out_speakers[0]
    clips = speaker_clips(str(tmp_path), held, speakers=3, utterances=4, seed=7, held_out=1)
    assert len(clips) == 4
    corpus_wav, _ = sf.read(os.path.join(small_corpus.out, "held_out", "wav48_silence_trimmed", held, clips[0]["id"] + ".flac"))
    own_wav, _ = sf.read(clips[0]["path"])
    assert corpus_wav.shape == own_wav.shape and abs(corpus_wav - own_wav).max() == 0
    with open(tmp_path / "metadata.csv", encoding="utf-8") as f:
        assert f.readline().startswith(clips[0]["id"] + "|")
    assert read_clips_metadata(str(tmp_path)) == clips
    # The corpus' own speaker folder reads back the same ids and texts, its FLACs beside them.
    in_corpus = read_clips_metadata(os.path.join(small_corpus.out, "held_out", "wav48_silence_trimmed", held))
    assert [(c["id"], c["text"]) for c in in_corpus] == [(c["id"], c["text"]) for c in clips]
    assert all(os.path.isfile(c["path"]) for c in in_corpus)
    with pytest.raises(ValueError, match="not in a corpus"):
        speaker_clips(str(tmp_path / "x"), "sp999", speakers=3, utterances=4, seed=7, held_out=1)


def test_installed_voices_corpus_trains_beside_a_recipe_corpus(tmp_path, monkeypatch):
    # The English voices stand in for installed voices of other languages (CI installs none).
    # One sentence stands in for one a voice's front end cannot speak: a spare is said instead.
    recipes = [VoiceRecipe("festival", "kal_diphone", formant_cents=-200), VoiceRecipe("espeak-ng", "en-us+f2")]
    monkeypatch.setattr(corpus, "installed_voice_recipes", lambda shifts, seed: recipes)
    plan = corpus.plan_installed_corpus(recipes, 2)
    unspeakable = plan[1].text
    speak = corpus.synthesize

    def synthesize(recipe, text, sample_rate):
        if text == unspeakable:
            raise NoAudioError(f"text2wave wrote no audio with festival voice {recipe.voice} for {text!r}")
        return speak(recipe, text, sample_rate)

    monkeypatch.setattr(corpus, "synthesize", synthesize)
    summary = build_installed_voices_corpus(str(tmp_path / "iv"), utterances=2, workers=1, progress=False)
    assert summary.speakers == ["iv000", "iv001"] and summary.held_out_speakers == [] and summary.clips == 4
    samples = _load(summary.out)
    assert sorted({s["speaker_name"] for s in samples}) == ["VCTK_iv000", "VCTK_iv001"]
    said = {clip_file_id(s["audio_file"]): s["text"].strip() for s in samples}
    assert said["iv000_002"] == plan[1].spare_texts[0] != unspeakable
    assert read_clips_metadata(os.path.join(summary.out, "wav48_silence_trimmed", "iv000"))[1]["text"] == said["iv000_002"]
    # New text: none of a recipe corpus's sentences for the same seed.
    assert not set(said.values()) & {j.text for j in plan_corpus(2, 2, seed=0)}
    # A voice that can speak none of a clip's sentences is an error naming the clip.
    monkeypatch.setattr(corpus, "synthesize", lambda recipe, text, sample_rate: (_ for _ in ()).throw(NoAudioError("no audio")))
    with pytest.raises(RuntimeError, match="could not render iv000_001 .*voice=kal_diphone.*no audio"):
        build_installed_voices_corpus(str(tmp_path / "none"), utterances=1, workers=1, progress=False)
    assert not (tmp_path / "none").exists()


def test_family_corpus_keeps_roles_apart_and_says_them(tmp_path):
    """Meta-training voices train; dev and test voices are held out under ids that say their role,
    which the dev/test split reads; corpus.json records each speaker's source speaker and role."""
    summary = corpus.build_family_corpus(str(tmp_path / "fam"), "meta_train", ["dev", "test"], utterances=1,
                                         workers=2, progress=False)  # fmt: skip
    assert summary.speakers == [f"fm{i:03d}" for i in range(15)]
    assert summary.held_out_speakers == [f"dev{i:03d}" for i in range(10)] + [f"test{i:03d}" for i in range(25)]
    manifest = json.load(open(os.path.join(summary.out, "corpus.json")))
    assert manifest["roles"]["fm000"] == "meta_train" and manifest["roles"]["test024"] == "test"
    assert {manifest["sources"][s] for s in summary.speakers} == {"lyubov", "us2", "us3"}
    assert {manifest["sources"][s] for s in summary.held_out_speakers} == {"clb", "joe", "awb", "evgeniy", "us1", "en1"}
    dev, test = split_dev_test(s["speaker_name"] for s in _load(os.path.join(summary.out, "held_out")))
    assert dev == [f"VCTK_dev{i:03d}" for i in range(10)] and len(test) == 25
    assert "rhvoice-alan" in open(os.path.join(summary.out, "held_out", "speaker-info.txt")).read()
