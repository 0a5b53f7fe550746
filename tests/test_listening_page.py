import numpy as np
import pytest
import soundfile as sf
from browser import audio_durations, screenshot

from tts_maml.listening_page import Clip, Voice, listening_page, write_listening_page


def _voice(folder, name="sp<1>"):
    (folder / "v").mkdir(exist_ok=True)
    tone = 0.1 * np.sin(2 * np.pi * 220 * np.arange(int(1.5 * 22050)) / 22050).astype(np.float32)
    sf.write(folder / "v" / "real.flac", tone, 22050)
    sf.write(folder / "v" / "adapted.wav", tone[: 22050 // 2], 22050)
    return Voice(name, 'Say "this" & that.', [Clip("real clip", "v/real.flac"), Clip("adapted", "v/adapted.wav")],
                 columns=["floor", "adapted", "ceiling"],
                 rows={"cer (Whisper tiny.en)": [0.7, 0.25, float("nan")], "steps": [None, 20, None]},
                 note="lower is better")  # fmt: skip


def test_the_page_escapes_its_text_and_links_relative_files(tmp_path):
    text = listening_page("a <demo>", "<p>intro</p>", [_voice(tmp_path)])
    assert "<title>a &lt;demo&gt;</title>" in text and "<h2>sp&lt;1&gt;</h2>" in text
    assert "Say &quot;this&quot; &amp; that." in text
    assert '<audio controls preload="metadata" src="v/real.flac"></audio>' in text
    assert "<td>0.250</td>" in text and "<td>20</td>" in text and text.count("<td>–</td>") == 3
    assert "<script" not in text and "http" not in text  # self-contained: nothing runs, nothing fetched


def test_a_missing_clip_is_refused_with_its_name(tmp_path):
    voice = _voice(tmp_path)
    voice.clips.append(Clip("base", "v/base.wav"))
    with pytest.raises(FileNotFoundError, match=r"sp<1>: v/base.wav is not a file"):
        write_listening_page(str(tmp_path), "demo", "", [voice])
    assert not (tmp_path / "index.html").exists()


def test_chromium_plays_every_clip_of_the_page(tmp_path):
    """The check of the issue: headless Chromium loads the page from disk, every player has a duration."""
    page = write_listening_page(str(tmp_path), "demo", "<p>intro</p>", [_voice(tmp_path, "one"), _voice(tmp_path, "two")])
    found = audio_durations(page, tmp_path / "profile")
    assert [src for src, _, _ in found] == ["v/real.flac", "v/adapted.wav"] * 2
    for src, duration, error in found:
        assert error is None and duration == pytest.approx(1.5 if "real" in src else 0.5, abs=0.01), src
    screenshot(page, tmp_path / "index.png", tmp_path / "profile")
