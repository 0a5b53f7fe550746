"""Clips as people have them: handled with a log line, or refused with the file named; nothing lost.

Two tables of generated clips folders (audio made with numpy, other formats made from it with
`ffmpeg`). ACCEPTED: what the reader handles (other formats, rates and channel counts, typographic
text, metadata.csv as people write it, loudness): every clip comes back, with the log line that says
what was done. REFUSED: what cannot be used: one problem naming the file, with `tts-maml adapt` (the
CLI: exit status 2, one line on stderr) and with the reader directly; nothing is written."""

import os
import subprocess

import numpy as np
import pytest
import soundfile as sf

from tts_maml.adapt.clips import PEAK_CEILING, TARGET_LEVEL_DB, ClipError, read_clips, speech_level_db
from tts_maml.backbones import VitsBackbone
from tts_maml.cli import main

RATE = 22050


def speech(seconds=1.0, rate=RATE, channels=1):
    t = np.arange(int(seconds * rate)) / rate
    wav = (0.3 * np.sin(2 * np.pi * 180 * t) * (1 + np.sin(2 * np.pi * 4 * t))).astype(np.float32)
    return np.stack([wav] * channels, axis=1) if channels > 1 else wav


def ffmpeg(src, dst, *args):
    """Convert ``src`` to ``dst`` (format from the extension) with the ffmpeg command."""
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", str(src), *args, str(dst)], check=True)


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


def metadata_line_without_separator(folder):
    for i in range(3):
        sf.write(folder / f"m{i}.wav", speech(), RATE)
    (folder / "metadata.csv").write_text("m0|Fine.\nm1 no separator\nm2|Fine too.\n")


def unspeakable_after_normalising(folder):
    sf.write(folder / "bad.wav", speech(), RATE)
    (folder / "bad.txt").write_text("Prices fell 50\u00a0% \u2014 again\u2026", encoding="utf-8")


def two_clips_one_name(folder):
    sf.write(folder / "bad.wav", speech(), RATE)
    (folder / "bad.txt").write_text("Hello.")
    ffmpeg(folder / "bad.wav", folder / "bad.mp3")


def metadata_id_listed_twice(folder):
    for i in range(3):
        sf.write(folder / f"m{i}.wav", speech(), RATE)
    (folder / "metadata.csv").write_text("m0|Fine.\nm1|One.\nm1|Another.\nm2|Fine too.\n")


def metadata_comma_separated_without_header(folder):
    for i in range(2):
        sf.write(folder / f"m{i}.wav", speech(), RATE)
    (folder / "metadata.csv").write_text("m0.wav,Fine, and more.\nm1.wav,Fine too.\n")


def channels_that_cancel(folder):
    wav = speech()
    sf.write(folder / "bad.wav", np.stack([wav, -wav], axis=1), RATE)
    (folder / "bad.txt").write_text("Hello.")


def video_without_sound(folder):
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                    "testsrc=duration=1:size=64x64:rate=10", "-c:v", "libvpx", str(folder / "bad.webm")],
                   check=True)  # fmt: skip
    (folder / "bad.txt").write_text("Hello.")


CASES = [
    (empty_file, "bad.wav", "empty (0 bytes)"),
    (zero_length, "bad.wav", "zero length"),
    (corrupt, "bad.wav", "not a readable audio file"),
    (silent, "bad.wav", "silent"),
    (low_rate, "bad.wav", "4000 Hz is too low"),
    (too_short, "bad.wav", "at least 0.5 s"),
    (too_long, "bad.wav", "at most 20 s"),
    (missing_transcript, "bad.wav", "no transcript"),
    (empty_transcript, "bad.wav", "transcript in bad.txt is empty"),
    (unknown_characters, "bad.wav", "characters the model cannot speak"),
    (non_utf8, "bad.txt", "not UTF-8"),
    (nan_audio, "bad.wav", "NaN or infinite"),
    (metadata_line_without_separator, "metadata.csv:2", "expected `id|text`"),
    (unspeakable_after_normalising, "bad.wav", "cannot speak: % (PERCENT SIGN)"),
    (two_clips_one_name, "bad.wav", "same name as"),
    (metadata_id_listed_twice, "metadata.csv:3", "listed again with another text"),
    (metadata_comma_separated_without_header, "metadata.csv:1", "header line naming the columns"),
    (channels_that_cancel, "bad.wav", "silent once its channels are mixed"),
    (video_without_sound, "bad.webm", "no audio stream"),
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
    if "metadata" not in make.__name__:
        good(folder)
    make(folder)
    with pytest.raises(ClipError) as err:
        read_clips(str(folder), config, model.tokenizer, model.ap)
    problems = err.value.problems
    if "metadata" in make.__name__:  # the clips of unreadable lines have no transcript: all are named
        assert all(w == "no transcript (expected in metadata.csv)" for _, w in problems[1:]), problems
        problems = problems[:1]
    assert len(problems) == 1, problems
    assert problems[0][0].endswith(where) and message in problems[0][1], problems


# ACCEPTED: each maker adds its clips to a folder of good ones and returns {file name: the text the
# clip must come back with}; the log line that says what was done (None: nothing to say).


def stereo(folder):
    sf.write(folder / "case.wav", speech(channels=2), RATE)
    (folder / "case.txt").write_text("Two channels.")
    return {"case.wav": "Two channels."}


def stereo_44k_with_leading_silence(folder):
    wav = np.concatenate([np.zeros((44100, 2), np.float32), speech(rate=44100, channels=2)])
    sf.write(folder / "case.wav", wav, 44100)
    (folder / "case.txt").write_text("A second of silence first.")
    return {"case.wav": "A second of silence first."}


def rate_8k(folder):
    sf.write(folder / "case.wav", speech(rate=8000), 8000)
    (folder / "case.txt").write_text("Telephone quality.")
    return {"case.wav": "Telephone quality."}


def typographic_text(folder):
    sf.write(folder / "case.wav", speech(), RATE)
    (folder / "case.txt").write_text("It\u2019s 1999 \u2014 isn\u2019t it\u2026 \u201cyes\u201d", encoding="utf-8")
    return {"case.wav": "It's 1999, isn't it... \"yes\""}


def unicode_spaces_and_compatibility_forms(folder):
    sf.write(folder / "case.wav", speech(), RATE)
    (folder / "case.txt").write_text("Good\u00a0morning,\u2009\ufb01ne\u200b day\u3000\uff21.\n", encoding="utf-8")
    return {"case.wav": "Good morning, fine day A."}


def utf16_transcript(folder):
    sf.write(folder / "case.wav", speech(), RATE)
    (folder / "case.txt").write_bytes("Saved by Notepad.".encode("utf-16"))
    return {"case.wav": "Saved by Notepad."}


def lab_transcript(folder):
    sf.write(folder / "case.wav", speech(), RATE)
    (folder / "case.lab").write_text("An aligner's label file.")
    return {"case.wav": "An aligner's label file."}


def quiet(folder):
    sf.write(folder / "case.wav", speech() * 0.005, RATE)
    (folder / "case.txt").write_text("Far from the microphone.")
    return {"case.wav": "Far from the microphone."}


def clipped(folder):
    sf.write(folder / "case.wav", np.clip(speech() * 6, -1, 1), RATE)
    (folder / "case.txt").write_text("Too close to the microphone.")
    return {"case.wav": "Too close to the microphone."}


def other_file_in_folder(folder):
    (folder / "notes.docx").write_bytes(b"PK\x03\x04")
    return {}


def _metadata_clips(folder, names):
    (folder / "wavs").mkdir()
    for name in names:
        sf.write(folder / "wavs" / name, speech(), RATE)


def metadata_header_bom_crlf(folder):
    _metadata_clips(folder, ["m0.wav", "m1.wav"])
    (folder / "metadata.csv").write_bytes("\ufeffid|text\r\nm0|First one.\r\nm1|Second one.\r\n".encode("utf-8"))
    return {"m0.wav": "First one.", "m1.wav": "Second one."}


def metadata_ids_with_extension_and_folder(folder):
    _metadata_clips(folder, ["m0.wav", "m1.wav"])
    (folder / "metadata.csv").write_text("m0.wav|First one.\nwavs/m1.wav|Second one.\n")
    return {"m0.wav": "First one.", "m1.wav": "Second one."}


def metadata_extra_columns(folder):
    _metadata_clips(folder, ["LJ001-0001.wav"])
    (folder / "metadata.csv").write_text("LJ001-0001|Printing, in 1469.|Printing, in fourteen sixty-nine.|spk1|2.3\n")
    return {"LJ001-0001.wav": "Printing, in 1469."}


def metadata_comma_separated_with_header(folder):
    _metadata_clips(folder, ["a.wav"])
    ffmpeg(folder / "wavs" / "a.wav", folder / "wavs" / "b.mp3")
    (folder / "metadata.csv").write_text('file_name,speaker,transcription\na.wav,me,"Hello, world."\nb.mp3,me,Fine.\n')
    return {"a.wav": "Hello, world.", "b.mp3": "Fine."}


def metadata_lists_more_clips_than_the_folder_has(folder):
    _metadata_clips(folder, ["m0.wav"])
    (folder / "metadata.csv").write_text("m0|Here.\nm1|Not here.\n")
    return {"m0.wav": "Here."}


ACCEPTED = [
    (stereo, "mixed 2 channels down to mono"),
    (stereo_44k_with_leading_silence, "from 44100 Hz"),
    (stereo_44k_with_leading_silence, "trimmed 1.0 s of leading/trailing silence"),
    (rate_8k, "from 8000 Hz"),
    (typographic_text, "transcript normalised"),
    (unicode_spaces_and_compatibility_forms, "transcript normalised"),
    (utf16_transcript, "read as UTF-16"),
    (lab_transcript, None),
    (quiet, "very quiet"),
    (clipped, "is clipped"),
    (other_file_in_folder, "ignoring"),
    (metadata_header_bom_crlf, "line 1 is a header"),
    (metadata_ids_with_extension_and_folder, None),
    (metadata_extra_columns, None),
    (metadata_comma_separated_with_header, "column 'transcription'"),
    (metadata_lists_more_clips_than_the_folder_has, "1 clip(s) that are not in the folder"),
]


@pytest.mark.parametrize("make, log", ACCEPTED, ids=[f"{c[0].__name__}-{i}" for i, c in enumerate(ACCEPTED)])
def test_what_can_be_handled_is_handled_with_a_log_line_and_nothing_lost(make, log, tmp_path, tiny, caplog):
    config, model = tiny
    folder = tmp_path / "clips"
    folder.mkdir()
    expected = make(folder)
    if "metadata" not in make.__name__:
        good(folder)
        expected.update({f"good{i}.wav": "A good sentence." for i in range(3)})
    with caplog.at_level("DEBUG", logger="tts_maml"):
        clips = read_clips(str(folder), config, model.tokenizer, model.ap)
    assert {os.path.basename(c.path): c.text for c in clips} == expected
    if log is not None:
        assert log in caplog.text
    assert "brought %d clip(s) to a speech level of -20 dBFS" % len(expected) in caplog.text
    for clip in clips:
        assert clip.wav.dtype == np.float32 and clip.wav.ndim == 1 and clip.wav.size >= 0.5 * RATE
        level, peak = speech_level_db(clip.wav, RATE), float(np.max(np.abs(clip.wav)))
        assert abs(level - TARGET_LEVEL_DB) < 0.1 or (level < TARGET_LEVEL_DB and abs(peak - PEAK_CEILING) < 1e-3)


FORMATS = [
    ("u8.wav", ["-c:a", "pcm_u8"]), ("s16.wav", ["-c:a", "pcm_s16le"]), ("s24.wav", ["-c:a", "pcm_s24le"]), ("s32.wav", ["-c:a", "pcm_s32le"]),
    ("f32.wav", ["-c:a", "pcm_f32le"]), ("f64.wav", ["-c:a", "pcm_f64le"]), ("clip.flac", []),
    ("clip.mp3", []), ("clip.m4a", []), ("clip.ogg", []), ("clip.opus", []), ("clip.webm", ["-vn"]),
    ("clip.aiff", []),
]  # fmt: skip


@pytest.mark.parametrize("name, args", FORMATS, ids=[f[0] for f in FORMATS])
def test_every_format_ffmpeg_reads_is_decoded(name, args, tmp_path, tiny, caplog):
    config, model = tiny
    folder = tmp_path / "clips"
    folder.mkdir()
    sf.write(tmp_path / "source.wav", speech(seconds=1.5, rate=44100, channels=2), 44100, subtype="FLOAT")
    ffmpeg(tmp_path / "source.wav", folder / name, *args)
    (folder / (os.path.splitext(name)[0] + ".txt")).write_text("A clip in another format.")
    with caplog.at_level("INFO", logger="tts_maml"):
        (clip,) = read_clips(str(folder), config, model.tokenizer, model.ap)
    assert clip.channels == 2 and clip.source_rate in (44100, 48000) and f"from {clip.source_rate} Hz" in caplog.text
    # the tone fills the clip: nothing is trimmed, 1.5 s come back (codec padding aside)
    assert abs(clip.wav.size / RATE - 1.5) < 0.05


def test_a_phone_video_gives_its_sound(tmp_path, tiny):
    config, model = tiny
    folder = tmp_path / "clips"
    folder.mkdir()
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                    "testsrc=duration=1.5:size=64x64:rate=10", "-f", "lavfi", "-i",
                    "sine=frequency=200:duration=1.5:sample_rate=48000", "-shortest", str(folder / "video.mp4")],
                   check=True)  # fmt: skip
    (folder / "video.txt").write_text("Recorded with a phone camera.")
    (clip,) = read_clips(str(folder), config, model.tokenizer, model.ap)
    assert clip.source_rate == 48000 and abs(clip.wav.size / RATE - 1.5) < 0.1


def test_the_folder_of_issue_13_adapts(tmp_path, checkpoint, capsys):
    """7 clips as a phone records them (44.1 kHz stereo WAV, a second of silence first) and an
    LJSpeech metadata.csv with digits and a typographic apostrophe: refused twice before, adapted now."""
    folder = tmp_path / "clips"
    (folder / "wavs").mkdir(parents=True)
    lines = []
    for i in range(7):
        wav = np.concatenate([np.zeros((44100, 2), np.float32), speech(rate=44100, channels=2)])
        sf.write(folder / "wavs" / f"me_{i:03d}.wav", wav, 44100)
        lines.append(f"me_{i:03d}|It\u2019s {i + 1} o\u2019clock, {1990 + i}.|It's {i + 1} o'clock.")
    (folder / "metadata.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    rc = main(["adapt", "--model_path", checkpoint[0], "--config_path", checkpoint[1], "--clips", str(folder),
               "--out", str(out), "--steps", "1", "--val-clips", "2", "--no-progress"])  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    assert sorted(os.listdir(out)) == ["adapted.pth", "config.json", "curve.json", "curve.png", "held_out.json",
                                       "voice.pth"]  # fmt: skip
    # the held-out sentences' judges are printed as a table (and written to held_out.json)
    assert "the judges on the 2 held-out clip(s)' sentences" in capsys.readouterr().out


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, tiny):
    """A (not meta-trained) tiny VITS checkpoint + config.json, enough for the CLI's checks."""
    import torch

    config, model = tiny
    folder = tmp_path_factory.mktemp("ckpt")
    torch.save({"model": model.state_dict(), "config": config.to_dict()}, folder / "model.pth")
    config.save_json(str(folder / "config.json"))
    return str(folder / "model.pth"), str(folder / "config.json")


CLI_CASES = [c for c in CASES if c[0] in (empty_file, zero_length, corrupt, silent, missing_transcript,
                                          unknown_characters, non_utf8, two_clips_one_name, video_without_sound)]  # fmt: skip


@pytest.mark.parametrize("make, where, message", CLI_CASES, ids=[c[0].__name__ for c in CLI_CASES])
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
    from tts_maml.adapt.clips import screen_samples

    config, model = tiny
    folder = tmp_path / "corpus"
    folder.mkdir()
    samples = []
    def two_channels(folder):  # meta-training reads corpus clips as they are: they must be mono
        sf.write(folder / "bad.wav", speech(channels=2), RATE)

    for make in (empty_file, corrupt, silent, two_channels, low_rate, too_short, nan_audio):
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
