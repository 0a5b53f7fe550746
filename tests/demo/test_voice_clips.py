import os

import numpy as np
import pytest
import soundfile as sf

from tts_maml.demo.voice_clips import (
    SUPPORT_CLIPS,
    VALIDATION_CLIPS,
    held_out_speaker_clips,
    split_voice_clips,
)


def fake_clips(folder, n):
    """n short FLAC clips ({"id", "text", "path"}), each a different constant level so a copy can be told apart."""
    os.makedirs(folder, exist_ok=True)
    clips = []
    for i in range(n):
        path = os.path.join(folder, f"c{i:02d}.flac")
        sf.write(path, np.full(1600, (i + 1) / 100, dtype=np.float32), 16000, subtype="PCM_16")
        clips.append({"id": f"c{i:02d}", "text": f"sentence {i}", "path": path})
    return clips


def test_one_rule_adapt_unseen_reference(tmp_path):
    clips = fake_clips(str(tmp_path / "src"), 12)
    n = SUPPORT_CLIPS + VALIDATION_CLIPS
    picked = split_voice_clips(clips, str(tmp_path / "clips"), str(tmp_path / "real.wav"))
    assert sorted(os.listdir(picked.clips)) == sorted([f"c{i:02d}.flac" for i in range(n)] + ["metadata.csv"])
    assert open(os.path.join(picked.clips, "metadata.csv")).read().splitlines()[0] == "c00|sentence 0"
    # the unseen sentence is the clip after the adaptation clips, written as a wav
    assert picked.sentence == f"sentence {n}"
    real, rate = sf.read(picked.real)
    assert rate == 16000 and np.allclose(real, (n + 1) / 100, atol=1e-4)
    # the reference is everything after it: neither adapted on nor the unseen sentence
    assert picked.reference == [c["path"] for c in clips[n + 1 :]]
    assert not set(picked.reference) & {c["path"] for c in clips[: n + 1]}


def test_too_few_clips_names_the_folder(tmp_path):
    clips = fake_clips(str(tmp_path / "src"), SUPPORT_CLIPS + VALIDATION_CLIPS + 1)
    with pytest.raises(ValueError, match="src: 8 clips"):
        split_voice_clips(clips, str(tmp_path / "clips"), str(tmp_path / "real.wav"))


def test_held_out_speaker_clips_reads_the_first_test_speaker(tmp_path):
    for speaker in ("sp023", "sp021", "sp022", "sp020"):  # sp020, sp021: dev speakers
        folder = tmp_path / "wav48_silence_trimmed" / speaker
        fake_clips(str(folder), 2)
        (folder / "metadata.csv").write_text("c01|one\nc00|zero\n", encoding="utf-8")
    speaker, clips = held_out_speaker_clips(str(tmp_path))
    assert speaker == "sp022"
    assert [(c["id"], c["text"]) for c in clips] == [("c01", "one"), ("c00", "zero")]
    assert all(os.path.isfile(c["path"]) for c in clips)
