import os
import subprocess
import sys

from tts_maml.cli import build_parser, main


def test_make_corpus_command(tmp_path, capsys):
    out = tmp_path / "c"
    rc = main(["make-corpus", "--out", str(out), "--speakers", "2", "--utterances", "2", "--held-out", "1",
               "--workers", "1", "--no-progress"])  # fmt: skip
    assert rc == 0
    assert "formatter='vctk'" in capsys.readouterr().out
    assert sorted(os.listdir(out / "txt")) == ["sp000", "sp001"]
    assert os.listdir(out / "held_out" / "txt") == ["sp002"]


def test_make_corpus_of_installed_voices(tmp_path, capsys, monkeypatch):
    from tts_maml.corpus import build
    from tts_maml.corpus.synthetic_voices import VoiceRecipe

    # An English voice stands in for the installed voices of other languages (CI installs none).
    monkeypatch.setattr(build, "installed_voice_recipes",
                        lambda shifts, seed: [VoiceRecipe("festival", "kal_diphone", formant_cents=c) for c in shifts])  # fmt: skip
    out = tmp_path / "iv"
    rc = main(["make-corpus", "--installed-voices", "--shifts=-300,300", "--out", str(out), "--utterances", "1",
               "--workers", "1", "--no-progress"])  # fmt: skip
    assert rc == 0 and sorted(os.listdir(out / "txt")) == ["iv000", "iv001"]
    assert "formant_cents=-300" in (out / "speaker-info.txt").read_text()
    rc = main(["make-corpus", "--installed-voices", "--held-out", "2", "--out", str(tmp_path / "x")])
    assert rc == 2 and "--held-out applies to the recipe corpus" in capsys.readouterr().err


def test_make_corpus_of_a_family_role(tmp_path, capsys):
    out = tmp_path / "fam"
    rc = main(["make-corpus", "--families", "pretrain", "--out", str(out), "--utterances", "1", "--workers", "1",
               "--no-progress"])  # fmt: skip
    assert rc == 0 and sorted(os.listdir(out / "txt")) == [f"fp{i:03d}" for i in range(15)]
    assert "engine=flite voice=kal16" in (out / "speaker-info.txt").read_text()
    rc = main(["make-corpus", "--families", "meta_train", "--held-out-roles", "dev,tests", "--out", str(tmp_path / "x")])
    assert rc == 2 and "'tests' is not one of pretrain, meta_train, dev, test" in capsys.readouterr().err
    rc = main(["make-corpus", "--families", "dev", "--held-out", "2", "--out", str(tmp_path / "x")])
    assert rc == 2 and "--families takes its held-out speakers from --held-out-roles" in capsys.readouterr().err


def test_non_empty_out_gives_one_clear_error(tmp_path, capsys):
    (tmp_path / "x").write_text("keep")
    rc = main(["make-corpus", "--out", str(tmp_path), "--speakers", "1", "--utterances", "1"])
    assert rc == 2
    err = capsys.readouterr().err
    assert str(tmp_path) in err and "--overwrite" in err and "Traceback" not in err


def test_console_script_help():
    exe = os.path.join(os.path.dirname(sys.executable), "tts-maml")
    out = subprocess.run([exe, "--help"], capture_output=True, text=True, check=True).stdout
    assert "make-corpus" in out and "check-corpus" in out


def test_every_subcommand_has_help():
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.dest == "command")
    for name, sub in subparsers.choices.items():
        assert sub.description, name
