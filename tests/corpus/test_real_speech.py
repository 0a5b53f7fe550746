import os

import pytest
import soundfile as sf

from tts_maml.adapt.clips import read_transcripts
from tts_maml.corpus import real_speech


def test_librivox_is_a_clips_folder_with_its_transcripts(tmp_path):
    clips = real_speech.librivox_voice(str(tmp_path / "librivox"))
    assert len(clips) == 5 and clips[1]["text"] == "he was not an ill disposed young man"
    assert sf.info(clips[0]["path"]).samplerate == 16000
    assert open(tmp_path / "librivox" / "metadata.csv").readline().startswith(clips[0]["id"] + "|and mister john")
    # as `tts-maml adapt` takes a user's folder
    assert len(read_transcripts(str(tmp_path / "librivox"))) == 5


def test_hedgewars_keeps_the_clips_whose_words_whisper_confirms(tmp_path):
    # A stand-in recogniser: it hears two of Classic's file names, and something else in the rest.
    heard = {"Thisoneismine": "This one is mine.", "Takecover": "Take a look."}
    seen = []

    def transcribe(wav, rate):
        seen.append((wav.ndim, rate))
        return heard.get(str(len(seen)), "")

    names = sorted(n[:-4] for n in os.listdir(os.path.join(real_speech.HEDGEWARS_VOICES_DIR, "Classic")) if n.endswith(".ogg"))
    order = {n: str(i + 1) for i, n in enumerate(names)}
    heard = {order[k]: v for k, v in heard.items()}
    clips = real_speech.hedgewars_voice("Classic", str(tmp_path / "classic"), transcribe)
    assert [c["text"] for c in clips] == ["This one is mine."]  # "Take a look." is not Takecover
    assert clips[0]["id"] == "classic_thisoneismine" and sf.info(clips[0]["path"]).channels == 1
    assert {s for s in seen} == {(1, 44100)}  # mono, at the pack's rate


def test_a_missing_package_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="install the Debian package `hedgewars-data`"):
        real_speech.hedgewars_voice("Classic", str(tmp_path), lambda w, r: "", root=str(tmp_path / "none"))
