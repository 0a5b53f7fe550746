"""tts_maml.corpus.outside_voice: a clips folder made by another synthesiser."""

import os

import soundfile as sf

from tts_maml.corpus.outside_voice import outside_voice_clips


def test_outside_voice_clips_are_a_clips_folder(tmp_path):
    clips = outside_voice_clips(str(tmp_path), count=2)
    assert [c["id"] for c in clips] == ["outside_001", "outside_002"]
    with open(tmp_path / "metadata.csv", encoding="utf-8") as f:
        assert [line.split("|")[0] for line in f] == ["outside_001", "outside_002"]
    for c in clips:
        wav, rate = sf.read(c["path"])
        assert rate == 22050 and wav.ndim == 1 and abs(wav).max() > 0.5 and os.path.getsize(c["path"]) > 1000
