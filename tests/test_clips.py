import numpy as np
import pytest
import soundfile as sf

from tts_maml.backbones import VitsBackbone
from tts_maml.clips import ClipError, read_clips, read_transcripts, unknown_characters


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
    with pytest.raises(ClipError) as err:
        read_clips(str(tmp_path), config, m.tokenizer, m.ap)
    message = str(err.value)
    assert "3 problems" in message and "ok.wav" not in message
    assert "stereo.wav: 2 channels" in message and "quiet.wav: the clip is silent" in message
    assert "notext.wav: no transcript (expected in notext.txt)" in message


def test_empty_and_missing_folders(tmp_path, model):
    config, m = model
    with pytest.raises(ClipError, match="has no audio clips"):
        read_clips(str(tmp_path), config, m.tokenizer, m.ap)
    with pytest.raises(ClipError, match="is not a folder"):
        read_clips(str(tmp_path / "nope"), config, m.tokenizer, m.ap)
