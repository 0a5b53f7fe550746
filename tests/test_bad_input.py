"""Bad input gets one clear error that names the file and what is wrong, and nothing is written.

A table of generated bad clips folders, each tried with `tts-maml adapt` (the CLI: exit status 2,
one line on stderr naming the file) and with the reader directly (the problem text)."""

import os

import numpy as np
import pytest
import soundfile as sf

from tts_maml.backbones import VitsBackbone
from tts_maml.cli import main
from tts_maml.clips import ClipError, read_clips

RATE = 22050


def speech(seconds=1.0, rate=RATE, channels=1):
    t = np.arange(int(seconds * rate)) / rate
    wav = (0.3 * np.sin(2 * np.pi * 180 * t) * (1 + np.sin(2 * np.pi * 4 * t))).astype(np.float32)
    return np.stack([wav] * channels, axis=1) if channels > 1 else wav


def good(folder, n=3):
    for i in range(n):
        sf.write(folder / f"good{i}.wav", speech(), RATE)
        (folder / f"good{i}.txt").write_text("A good sentence.", encoding="utf-8")


def empty_file(folder):
    (folder / "bad.wav").write_bytes(b"")
    (folder / "bad.txt").write_text("Hello.")


def zero_length(folder):
    sf.write(folder / "bad.wav", np.zeros(0, dtype=np.float32), RATE)
    (folder / "bad.txt").write_text("Hello.")


def corrupt(folder):
    (folder / "bad.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk" * 10)
    (folder / "bad.txt").write_text("Hello.")


def silent(folder):
    sf.write(folder / "bad.wav", np.zeros(RATE, dtype=np.float32), RATE)
    (folder / "bad.txt").write_text("Hello.")


def stereo(folder):
    sf.write(folder / "bad.wav", speech(channels=2), RATE)
    (folder / "bad.txt").write_text("Hello.")


def low_rate(folder):
    sf.write(folder / "bad.wav", speech(rate=4000), 4000)
    (folder / "bad.txt").write_text("Hello.")


def too_short(folder):
    sf.write(folder / "bad.wav", speech(seconds=0.2), RATE)
    (folder / "bad.txt").write_text("Hello.")


def too_long(folder):
    sf.write(folder / "bad.wav", speech(seconds=25), RATE)
    (folder / "bad.txt").write_text("Hello.")


def missing_transcript(folder):
    sf.write(folder / "bad.wav", speech(), RATE)


def empty_transcript(folder):
    sf.write(folder / "bad.wav", speech(), RATE)
    (folder / "bad.txt").write_text("   \n")


def unknown_characters(folder):
    sf.write(folder / "bad.wav", speech(), RATE)
    (folder / "bad.txt").write_text("Hello \u2603 \u2602 world", encoding="utf-8")


def non_utf8(folder):
    sf.write(folder / "bad.wav", speech(), RATE)
    (folder / "bad.txt").write_bytes("caf\xe9 au lait".encode("latin-1"))


def nan_audio(folder):
    wav = speech()
    wav[100] = np.nan
    sf.write(folder / "bad.wav", wav, RATE, subtype="FLOAT")
    (folder / "bad.txt").write_text("Hello.")


def bad_metadata_line(folder):
    for i in range(3):
        sf.write(folder / f"m{i}.wav", speech(), RATE)
    (folder / "metadata.csv").write_text("m0|Fine.\nm1 no separator\nm2|Fine too.\n")


CASES = [
    (empty_file, "bad.wav", "empty (0 bytes)"),
    (zero_length, "bad.wav", "zero length"),
    (corrupt, "bad.wav", "not a readable audio file"),
    (silent, "bad.wav", "silent"),
    (stereo, "bad.wav", "2 channels"),
    (low_rate, "bad.wav", "4000 Hz is too low"),
    (too_short, "bad.wav", "at least 0.5 s"),
    (too_long, "bad.wav", "at most 20 s"),
    (missing_transcript, "bad.wav", "no transcript"),
    (empty_transcript, "bad.wav", "transcript in bad.txt is empty"),
    (unknown_characters, "bad.wav", "characters the model cannot speak"),
    (non_utf8, "bad.txt", "not UTF-8"),
    (nan_audio, "bad.wav", "NaN or infinite"),
    (bad_metadata_line, "metadata.csv:2", "expected `id|text`"),
]


@pytest.fixture(scope="module")
def tiny():
    config = VitsBackbone.tiny_config()
    return config, VitsBackbone(config).build_model()


@pytest.mark.parametrize("make, where, message", CASES, ids=[c[0].__name__ for c in CASES])
def test_bad_clip_is_named(make, where, message, tmp_path, tiny):
    config, model = tiny
    folder = tmp_path / "clips"
    folder.mkdir()
    if make is not bad_metadata_line:
        good(folder)
    make(folder)
    with pytest.raises(ClipError) as err:
        read_clips(str(folder), config, model.tokenizer, model.ap)
    problems = err.value.problems
    assert len(problems) == 1, problems
    assert problems[0][0].endswith(where) and message in problems[0][1]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, tiny):
    """A (not meta-trained) tiny VITS checkpoint + config.json, enough for the CLI's checks."""
    import torch

    config, model = tiny
    folder = tmp_path_factory.mktemp("ckpt")
    torch.save({"model": model.state_dict(), "config": config.to_dict()}, folder / "model.pth")
    config.save_json(str(folder / "config.json"))
    return str(folder / "model.pth"), str(folder / "config.json")


@pytest.mark.parametrize("make, where, message", CASES[:4] + CASES[8:9] + CASES[10:12],
                         ids=[c[0].__name__ for c in CASES[:4] + CASES[8:9] + CASES[10:12]])  # fmt: skip
def test_adapt_cli_gives_one_error_and_writes_nothing(make, where, message, tmp_path, checkpoint, capsys):
    folder = tmp_path / "clips"
    folder.mkdir()
    good(folder)
    make(folder)
    out = tmp_path / "out"
    rc = main(["adapt", "--model_path", checkpoint[0], "--config_path", checkpoint[1], "--clips", str(folder),
               "--out", str(out), "--steps", "1", "--no-progress"])  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and where in err[0] and message in err[0], err
    assert not out.exists()


def test_empty_folder_and_too_few_clips(tmp_path, checkpoint, capsys):
    folder = tmp_path / "clips"
    folder.mkdir()
    out = tmp_path / "out"
    args = ["adapt", "--model_path", checkpoint[0], "--config_path", checkpoint[1], "--clips", str(folder),
            "--out", str(out), "--steps", "1", "--no-progress"]  # fmt: skip
    assert main(args) == 2 and "has no audio clips" in capsys.readouterr().err
    good(folder, n=2)
    assert main(args + ["--val-clips", "2"]) == 2
    assert "2 usable clip(s), but --val-clips 2 needs at least 3" in capsys.readouterr().err
    assert not out.exists()
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]


def test_bad_training_clips_are_skipped_with_one_line_each_and_a_total(tmp_path, tiny, caplog):
    from tts_maml.clips import screen_samples

    config, model = tiny
    folder = tmp_path / "corpus"
    folder.mkdir()
    samples = []
    for make in (empty_file, corrupt, silent, stereo, low_rate, too_short, nan_audio):
        sub = folder / make.__name__
        sub.mkdir()
        make(sub)
        samples.append({"audio_file": str(sub / "bad.wav"), "text": "Hello.", "speaker_name": "s"})
    sf.write(folder / "ok.wav", speech(), RATE)
    samples += [{"audio_file": str(folder / "ok.wav"), "text": "Fine.", "speaker_name": "s"},
                {"audio_file": str(folder / "ok.wav"), "text": "  ", "speaker_name": "s"},
                {"audio_file": str(folder / "ok.wav"), "text": "Snow \u2603", "speaker_name": "s"},
                {"audio_file": str(folder / "gone.wav"), "text": "Hi.", "speaker_name": "s"}]  # fmt: skip
    with caplog.at_level("WARNING"):
        kept = screen_samples(samples, config, model.tokenizer)
    assert [s["text"] for s in kept] == ["Fine."]
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("skipping training clip")]
    assert len(lines) == len(samples) - 1
    assert "skipped 10 of 11 training clips" in caplog.text
    for needle in ("empty (0 bytes)", "not a readable audio file", "silent", "2 channels", "4000 Hz, the model's is 22050",
                   "0.20 s long", "NaN", "transcript is empty", "cannot speak", "does not exist"):  # fmt: skip
        assert any(needle in line for line in lines), needle
    with pytest.raises(ValueError, match="no usable training clip"):
        screen_samples(samples[:2], config, model.tokenizer)
