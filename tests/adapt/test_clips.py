import numpy as np
import pytest
import soundfile as sf

from tts_maml.adapt.clips import (
    ClipError,
    normalise_text,
    read_clips,
    read_transcripts,
    speech_level_db,
    unknown_characters,
)
from tts_maml.backbones import VitsBackbone


@pytest.fixture(scope="module")
def model():
    config = VitsBackbone.tiny_config()
    return config, VitsBackbone(config).build_model()


def tone(seconds=1.0, rate=22050, channels=1):
    t = np.arange(int(seconds * rate)) / rate
    wav = (0.3 * np.sin(2 * np.pi * 220 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)
    return np.stack([wav] * channels, axis=1) if channels > 1 else wav


def test_txt_beside_each_clip_and_resampling(tmp_path, model, caplog):
    config, m = model
    sf.write(tmp_path / "a.wav", tone(rate=44100), 44100)
    (tmp_path / "a.txt").write_text("Hello there.\n", encoding="utf-8")
    sf.write(tmp_path / "b.flac", tone(), 22050)
    (tmp_path / "b.txt").write_text("Good morning.", encoding="utf-8")
    with caplog.at_level("INFO"):
        clips = read_clips(str(tmp_path), config, m.tokenizer, m.ap)
    assert [c.clip_id for c in clips] == ["a", "b"] and clips[0].text == "Hello there."
    assert clips[0].source_rate == 44100 and abs(clips[0].wav.size - 22050) < 2000
    assert "from 44100 Hz" in caplog.text


def test_ljspeech_metadata_csv(tmp_path, model):
    config, m = model
    (tmp_path / "wavs").mkdir()
    sf.write(tmp_path / "wavs" / "LJ001.wav", tone(), 22050)
    (tmp_path / "metadata.csv").write_text("LJ001|Printing, in the only sense.|Printing, in the only sense.\n")
    clips = read_clips(str(tmp_path), config, m.tokenizer, m.ap)
    assert clips[0].text == "Printing, in the only sense."
    assert read_transcripts(str(tmp_path))[str(tmp_path / "wavs" / "LJ001.wav")][1] == clips[0].text


def test_unknown_characters(model):
    _, m = model
    assert unknown_characters(m.tokenizer, "The kitten sat.") == []  # espeak's syllabic mark is dropped by Coqui
    assert m.tokenizer.not_found_characters == [] or "\u0329" not in m.tokenizer.not_found_characters


def test_all_problems_in_one_error(tmp_path, model):
    config, m = model
    sf.write(tmp_path / "ok.wav", tone(), 22050)
    (tmp_path / "ok.txt").write_text("Fine.")
    sf.write(tmp_path / "stereo.wav", tone(channels=2), 22050)
    (tmp_path / "stereo.txt").write_text("Two channels.")
    sf.write(tmp_path / "quiet.wav", np.zeros(22050, dtype=np.float32), 22050)
    (tmp_path / "quiet.txt").write_text("Nothing.")
    sf.write(tmp_path / "notext.wav", tone(), 22050)
    (tmp_path / "extra.wav").write_bytes(b"not audio")
    (tmp_path / "extra.txt").write_text("It\u2019s fine 100% \u2603", encoding="utf-8")
    with pytest.raises(ClipError) as err:
        read_clips(str(tmp_path), config, m.tokenizer, m.ap)
    message = str(err.value)
    assert "3 problems" in message and "ok.wav" not in message and "stereo.wav" not in message  # mixed to mono
    assert "quiet.wav: the clip is silent" in message and "extra.wav: not a readable audio file" in message
    assert "notext.wav: no transcript (expected in notext.txt)" in message


def test_empty_and_missing_folders(tmp_path, model):
    config, m = model
    with pytest.raises(ClipError, match="has no audio clips"):
        read_clips(str(tmp_path), config, m.tokenizer, m.ap)
    with pytest.raises(ClipError, match="is not a folder"):
        read_clips(str(tmp_path / "nope"), config, m.tokenizer, m.ap)


@pytest.mark.parametrize("raw, spoken", [
    ("It\u2019s \u2018quoted\u2019 and \u201cdouble\u201d, \u00abguillemets\u00bb.", "It's 'quoted' and \"double\", \"guillemets\"."),
    ("Wait\u2014what? \u2014 yes \u2015 no", "Wait, what? yes, no"),
    ("\u2014Leading and trailing\u2014", "Leading and trailing"),
    ("1990\u20131995, \u22125 degrees, well\u2011known", "1990-1995, -5 degrees, well-known"),
    ("Hmm\u2026 ok", "Hmm... ok"),
    ("a\u00a0b\u2009c\u202fd\u3000e\tf\r\ng", "a b c d e f g"),
    ("zero\u200bwidth\u00adsoft\ufeffbom\u200e", "zerowidthsoftbom"),
    ("\ufb01ne \uff21\uff22 x\u00b2", "fine AB x2"),
    ("e\u0301te\u0301", "\u00e9t\u00e9"),  # composed (NFKC)
    ("Plain text.", "Plain text."),
])  # fmt: skip
def test_normalise_text(raw, spoken):
    assert normalise_text(raw) == spoken


def test_normalised_text_has_nothing_the_model_cannot_speak(model):
    _, m = model
    raw = "\u201cIt\u2019s 9\u00a0o\u2019clock \u2014 already\u2026\u201d she said\u2013twice."
    assert unknown_characters(m.tokenizer, raw) != []
    assert unknown_characters(m.tokenizer, normalise_text(raw)) == []


def test_speech_level_ignores_pauses():
    rate = 22050
    loud = tone(rate=rate)
    with_pause = np.concatenate([loud, np.zeros(3 * rate, dtype=np.float32), loud])
    assert abs(speech_level_db(with_pause, rate) - speech_level_db(loud, rate)) < 0.5
    assert abs(speech_level_db(loud * 0.1, rate) - (speech_level_db(loud, rate) - 20)) < 1e-6
