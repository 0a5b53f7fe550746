import numpy as np
import pytest

from tts_maml.corpus import synthetic_voices as voices
from tts_maml.corpus.synthetic_voices import (
    STYLES,
    VoiceRecipe,
    check_tools,
    installed_festival_voices,
    installed_voice_recipes,
    speaker_recipes,
    synthesize,
)


def test_recipes_are_deterministic_and_distinct():
    a = speaker_recipes(40, seed=0)
    assert a == speaker_recipes(40, seed=0)
    assert a != speaker_recipes(40, seed=1)
    assert len({r.describe() for r in a}) == 40


def test_recipes_mix_engines_accents_and_formant_shifts():
    recipes = speaker_recipes(20, seed=0)
    assert {r.engine for r in recipes} == {"espeak-ng", "festival"}
    assert {r.voice for r in recipes if r.engine == "festival"} == set(voices.FESTIVAL_VOICES)
    assert len({r.accent for r in recipes if r.engine == "espeak-ng"}) == len(voices.ESPEAK_ACCENTS)
    # Neighbouring speakers never share a vocal-tract (formant) shift.
    for a, b in zip(recipes, recipes[1:]):
        assert abs(a.formant_cents - b.formant_cents) >= 300


def test_styles_change_prosody_only():
    r = VoiceRecipe("espeak-ng", "en-gb+m3", pitch=50, pitch_range=100, rate=1.0, formant_cents=200)
    fast, high = r.styled(STYLES["fast"]), r.styled(STYLES["high"])
    assert fast.rate > r.rate and fast.pitch == r.pitch
    assert high.pitch > r.pitch and high.pitch_range > r.pitch_range
    assert (fast.formant_cents, fast.voice) == (r.formant_cents, r.voice)
    assert r.styled(STYLES["neutral"]) == r
    assert VoiceRecipe("espeak-ng", "en-gb", pitch=95).styled(STYLES["high"]).pitch == 99


@pytest.mark.parametrize("missing, package", [("espeak-ng", "espeak-ng"), ("text2wave", "festival"), ("sox", "sox")])
def test_missing_program_names_the_debian_package(monkeypatch, missing, package):
    real_which = voices.shutil.which
    monkeypatch.setattr(voices.shutil, "which", lambda p: None if p == missing else real_which(p))
    with pytest.raises(RuntimeError, match=f"Debian package `{package}`"):
        check_tools()


def test_missing_festival_voice_names_the_debian_package(monkeypatch, tmp_path):
    monkeypatch.setattr(voices, "FESTIVAL_VOICE_DIRS", (str(tmp_path),))
    with pytest.raises(RuntimeError, match="festvox-kallpc16k"):
        check_tools()


@pytest.mark.parametrize("recipe", speaker_recipes(5, seed=0), ids=lambda r: r.voice)
def test_synthesize_speaks(recipe):
    wav = synthesize(recipe, "The quiet judge measured the yellow chair.", sample_rate=16000)
    assert wav.dtype == np.float32 and wav.ndim == 1
    assert 0.5 < wav.size / 16000 < 10
    assert np.sqrt(np.mean(wav**2)) > 1e-3


def test_unknown_engine_is_refused():
    with pytest.raises(ValueError, match="unknown engine"):
        synthesize(VoiceRecipe("coqui", "vits"), "hello")


def test_installed_festival_voices_lists_every_language(tmp_path):
    for voice in ("english/kal_diphone", "italian/lp_diphone", "czech/czech_dita"):
        (tmp_path / voice / "festvox").mkdir(parents=True)
    (tmp_path / "finnish" / "suopuhe.common").mkdir(parents=True)  # shared files, not a voice
    (tmp_path / "README").write_text("not a language folder")
    assert installed_festival_voices(str(tmp_path)) == ["czech_dita", "kal_diphone", "lp_diphone"]
    assert installed_festival_voices(str(tmp_path / "missing")) == []


def test_festival_writing_no_audio_is_an_error(monkeypatch):
    # festival's front ends can fail inside a voice and still exit 0, leaving the output file empty.
    def run(cmd, input, capture_output):
        return voices.subprocess.CompletedProcess(cmd, 0, b"", b"SIOD ERROR: wrong type of argument")

    monkeypatch.setattr(voices.subprocess, "run", run)
    with pytest.raises(voices.NoAudioError, match="text2wave wrote no audio with festival voice kal_diphone.*SIOD ERROR"):
        synthesize(VoiceRecipe("festival", "kal_diphone"), "Hello.")


def test_installed_voice_recipes_cover_other_languages_times_shifts(tmp_path):
    for voice in ("english/kal_diphone", "italian/lp_diphone", "czech/czech_dita", "english/cmu_us_slt_arctic_hts"):
        (tmp_path / voice / "festvox").mkdir(parents=True)
    recipes = installed_voice_recipes(shifts=(-200, 0, 300), seed=3, root=str(tmp_path))
    # The corpus's own English voices, and the outside voice's speaker (slt), are not training speakers.
    assert [(r.voice, r.formant_cents) for r in recipes] == [
        ("czech_dita", -200), ("czech_dita", 0), ("czech_dita", 300),
        ("lp_diphone", -200), ("lp_diphone", 0), ("lp_diphone", 300),
    ]  # fmt: skip
    assert {r.engine for r in recipes} == {"festival"} and {r.gender for r in recipes} == {"-"}
    assert len({(r.pitch, r.rate, r.eq_db) for r in recipes}) == 6  # prosody drawn per speaker
    assert recipes == installed_voice_recipes(shifts=(-200, 0, 300), seed=3, root=str(tmp_path))
    assert recipes != installed_voice_recipes(shifts=(-200, 0, 300), seed=4, root=str(tmp_path))


def test_installed_voice_recipes_name_the_packages_when_none_is_installed(tmp_path):
    (tmp_path / "english" / "kal_diphone" / "festvox").mkdir(parents=True)
    with pytest.raises(RuntimeError, match="no festival voice of another language.*festvox-italp16k"):
        installed_voice_recipes(root=str(tmp_path))
    (tmp_path / "italian" / "lp_diphone" / "festvox").mkdir(parents=True)
    with pytest.raises(ValueError, match="at least one formant shift"):
        installed_voice_recipes(shifts=(), root=str(tmp_path))


def test_family_roles_split_by_source_speaker_never_by_voice():
    by_role = {role: voices.family_recipes(role) for role in voices.ROLES}
    sources = {role: {r.source for r in recipes} for role, recipes in by_role.items()}
    for a in voices.ROLES:  # one person, one role: whatever the engine (awb: flite and RHVoice's alan)
        for b in voices.ROLES:
            assert a == b or not sources[a] & sources[b], (a, b)
    assert {"alan", "awb"} <= {r.voice for r in by_role["test"]} and sources["test"] >= {"awb", "us1", "en1", "evgeniy"}
    assert sources["pretrain"] == {"kal", "bdl", "rms"}  # flite's kal16 is festival's kal_diphone: pre-training's
    assert VoiceRecipe("festival", "kal_diphone").source == VoiceRecipe("flite", "kal16").source == "kal"
    assert voices.source_role(VoiceRecipe("espeak-ng", "en-gb+m3")) == "pretrain"
    # Every voice x its family's shifts, within the intelligible range; prosody drawn, deterministic.
    assert len(by_role["meta_train"]) == 3 * 5 and {r.formant_cents for r in by_role["meta_train"] if r.engine == "mbrola"} \
        == {-200, -100, 0, 100, 200}
    assert voices.family_recipes("dev") == by_role["dev"] and all(0.85 <= r.rate <= 1.15 for r in by_role["dev"])
    with pytest.raises(ValueError, match="role 'train'"):
        voices.family_recipes("train")
    with pytest.raises(ValueError, match="source speaker 'czech_dita'"):
        voices.source_role(VoiceRecipe("festival", "czech_dita"))


@pytest.mark.parametrize("engine, voice", [("rhvoice", "clb"), ("mbrola", "mb-us2"), ("flite", "rms"), ("piper", "joe")])
def test_the_families_speak(engine, voice):
    wav = synthesize(VoiceRecipe(engine, voice, formant_cents=150, rate=1.1, pitch=60), "Did George carry the garage?")
    assert wav.dtype == np.float32 and len(wav) > 22050 * 0.8 and np.abs(wav).max() > 0.05


def test_a_missing_family_voice_names_its_debian_package(monkeypatch, tmp_path):
    monkeypatch.setattr(voices, "MBROLA_VOICES_ROOT", str(tmp_path))
    with pytest.raises(RuntimeError, match="mbrola voice `mb-us1` is not installed: install the Debian package `mbrola-us1`"):
        voices.check_family_tools(["mbrola"])
    monkeypatch.setattr(voices.shutil, "which", lambda program: None)
    with pytest.raises(RuntimeError, match="`RHVoice-test` was not found on PATH: install the Debian package `rhvoice`"):
        voices.check_family_tools(["rhvoice"])


def test_clear_recipes_keep_to_the_accents_and_shifts_a_listener_understands():
    clear = speaker_recipes(60, seed=0, clear=True)
    assert len({r.describe() for r in clear}) == 60
    espeak = [r for r in clear if r.engine == "espeak-ng"]
    assert {r.accent for r in espeak} == set(voices.CLEAR_ACCENTS) and len(espeak) == 40  # a festival voice every third
    assert all(abs(r.formant_cents) <= 300 for r in clear)
    # The default recipes (the shipped model's corpus) are untouched: accents and shifts up to 500 cents.
    default = speaker_recipes(60, seed=0)
    assert max(abs(r.formant_cents) for r in default) == 500 and len({r.accent for r in default}) == 10
