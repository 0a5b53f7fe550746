import json
import os

import pytest
from browser import audio_durations, screenshot

from tts_maml.cli import main
from tts_maml.demo.shipped_demo import DEMO_SPEAKER, listening_intro, listening_voices, shipped_report
from tts_maml.judges import JUDGE_OF, METRICS


def voice_numbers(name):
    scores = {k: {m: v for m in METRICS} for k, v in (("floor", 0.5), ("base", 0.6), ("adapted", 0.8), ("ceiling", 0.9))}
    return {"voice": name, "sentence": "Hi.", "adapt_seconds": 9.5, "judges": scores, "mcd_base": 7.0,
            "mcd_adapted": 6.0, "folder": name, "floor_clip": f"sources/other/{name}.flac"}  # fmt: skip


def test_report_has_a_row_and_spectrograms_per_voice():
    numbers = {"model": "m", "model_sha256": "0123456789abcdef", "steps": 20, "seconds": 61.2,
               "voices": [voice_numbers(DEMO_SPEAKER), voice_numbers("outside")]}  # fmt: skip
    text = shipped_report(numbers)
    for metric in METRICS:
        assert f"| `{DEMO_SPEAKER}` | {metric} ({JUDGE_OF[metric]}) | 0.5 | 0.6 | 0.8 | 0.9 |" in text
    assert f"| `{DEMO_SPEAKER}` | 7.0 | 6.0 | 9.5 |" in text
    assert "![outside](outside/spectrograms.png)" in text and "sha256 `0123456789ab…`" in text
    assert "(flite `slt`, -250 cents, tempo 0.92)" in text and "Total demo time 61 s." in text


def test_listening_page_plays_real_base_adapted_and_floor_of_each_voice():
    numbers = {"model": "m", "steps": 20, "voices": [voice_numbers(DEMO_SPEAKER), voice_numbers("outside")]}
    voices = listening_voices(numbers)
    assert [c.path for c in voices[1].clips] == ["outside/real.wav", "outside/base.wav", "outside/adapted.wav",
                                                 "sources/other/outside.flac"]  # fmt: skip
    assert voices[0].columns == ("floor", "base", "adapted", "ceiling")
    assert voices[0].rows["cer (Whisper tiny.en)"] == [0.5, 0.6, 0.8, 0.9]
    assert voices[0].rows["MCD to the real clip (dB)"] == [None, 7.0, 6.0, None]
    assert voices[0].image == f"{DEMO_SPEAKER}/spectrograms.png" and "report.md" in listening_intro(numbers)


@pytest.mark.slow
def test_demo_command_adapts_the_shipped_model(tmp_path, capsys):
    out = tmp_path / "demo_out"
    assert main(["demo", "--out", str(out)]) == 0
    numbers = json.load(open(out / "report.json"))
    assert [v["voice"] for v in numbers["voices"]] == [DEMO_SPEAKER, "outside"]
    for v in numbers["voices"]:
        for f in ("real.wav", "base.wav", "adapted.wav", "spectrograms.png", "voice/adapted.pth", "clips/metadata.csv"):
            assert os.path.isfile(out / v["voice"] / f), f
        # adapting moves the voice towards the speaker, by both speaker encoders
        scores = v["judges"]
        assert set(scores) == {"floor", "base", "adapted", "ceiling"} and set(scores["base"]) == set(METRICS)
        assert scores["adapted"]["speaker_similarity"] > scores["base"]["speaker_similarity"]
        assert scores["adapted"]["campplus_similarity"] > scores["base"]["campplus_similarity"]
    # Whisper makes out the outside voice's real clip (flite); the corpus speaker's may be unintelligible
    outside = numbers["voices"][1]["judges"]
    assert outside["ceiling"]["cer"] < 0.3 < outside["floor"]["cer"]
    assert "## Measured" in (out / "report.md").read_text()
    # the listening page: headless Chromium plays all four clips of each voice from disk
    found = audio_durations(out / "index.html", tmp_path / "profile")
    assert len(found) == 8 and all(error is None and duration > 0.5 for _, duration, error in found), found
    screenshot(out / "index.html", out / "index.png", tmp_path / "profile")
    # adaptation's progress reached the console
    assert "adapt" in capsys.readouterr().out
