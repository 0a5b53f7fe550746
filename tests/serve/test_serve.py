import io
import json
import os
import shutil
import subprocess
import sys
import urllib.request
from concurrent.futures import ThreadPoolExecutor, wait

import numpy as np
import pytest
import soundfile as sf
import torch

from tts_maml.adapt.voice_delta import Voice, apply_voice, load_voice
from tts_maml.backbones import GlowTTSBackbone, VitsBackbone
from tts_maml.cli import main
from tts_maml.files import atomic_save, atomic_write_text, sha256_file
from tts_maml.serve import MultiVoiceSynthesizer, create_app, start_server

NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback only, whatever the environment says
TEXT = "Hello there, this is my voice."
# alice, bob and carol adapt the conditioning layers; dave only the voice-slot embedding, so a switch
# from one of the others to dave must put the base values back into the layers dave leaves alone.
VOICES = {"alice": ("conditioning", 1), "bob": ("conditioning", 2), "carol": ("conditioning", 3),
          "dave": ("speaker_embedding", 4)}  # fmt: skip


def perturbed(state, names, seed):
    generator = torch.Generator().manual_seed(seed)
    return {n: state[n] + 0.3 * torch.randn(state[n].shape, generator=generator) for n in names}


def make_base(root, backbone_class, voices):
    """A tiny base checkpoint + config.json, voices/NAME.pth for each voice and NAME/adapted.pth +
    config.json, as `tts-maml adapt` writes them. Returns the base state."""
    config = backbone_class.tiny_config(phoneme_cache_path=str(root / "phonemes"))
    torch.manual_seed(0)
    backbone = backbone_class(config)
    model = backbone.build_model()
    state = model.state_dict()
    checkpoint = {"model": state, "config": config.to_dict(), "step": 0, "epoch": 0}
    atomic_save(checkpoint, str(root / "base.pth"))
    atomic_write_text(json.dumps(config.to_dict()), str(root / "config.json"))
    digest = sha256_file(str(root / "base.pth"))
    (root / "voices").mkdir()
    for name, (preset, seed) in voices.items():
        names = backbone.adapter_names(model) if preset == "conditioning" else ["emb_g.weight"]
        voice = Voice(name, perturbed(state, names, seed), digest, backbone.name)
        atomic_save(voice.to_state(), str(root / "voices" / f"{name}.pth"))
        (root / name).mkdir()
        atomic_save(apply_voice(checkpoint, voice), str(root / name / "adapted.pth"))
        config.speakers = [name]
        atomic_write_text(json.dumps(config.to_dict()), str(root / name / "config.json"))
    return state


def coqui_speaker(root, voices):
    """Coqui's own TTS API on each voice's adapted.pth (what `tts` runs): wav(voice, text, seed)."""
    from TTS.api import TTS

    apis = {name: TTS(model_path=str(root / name / "adapted.pth"), config_path=str(root / name / "config.json"))
            for name in voices}  # fmt: skip

    def wav(name, text, seed):
        torch.manual_seed(seed)
        np.random.seed(seed)
        out = io.BytesIO()
        apis[name].synthesizer.save_wav(apis[name].tts(text), out)
        return out.getvalue()

    return wav


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A tiny VITS base, its voices folder (4 voices + 3 files that do not fit) and each voice's
    adapted.pth + config.json."""
    root = tmp_path_factory.mktemp("serve")
    state = make_base(root, VitsBackbone, VOICES)
    digest = sha256_file(str(root / "base.pth"))
    emb = {"emb_g.weight": state["emb_g.weight"]}
    atomic_save(Voice("x", emb, "0" * 64, "vits").to_state(), str(root / "voices" / "stranger.pth"))
    wide = {"emb_g.weight": torch.zeros(2, state["emb_g.weight"].shape[1])}
    atomic_save(Voice("x", wide, digest, "vits").to_state(), str(root / "voices" / "wrongshape.pth"))
    (root / "voices" / "junk.pth").write_bytes(b"junk")
    return root


@pytest.fixture(scope="module")
def synth(base):
    return MultiVoiceSynthesizer(str(base / "base.pth"), str(base / "config.json"), str(base / "voices"), max_chars=200)


@pytest.fixture(scope="module")
def client(synth):
    return create_app(synth).test_client()


@pytest.fixture(scope="module")
def coqui(base):
    return coqui_speaker(base, VOICES)


def test_voices_load_and_misfits_are_refused_by_name(synth):
    assert synth.library.names() == sorted(VOICES)
    refused = synth.library.refused
    assert sorted(refused) == ["junk", "stranger", "wrongshape"]
    assert "sha256" in refused["stranger"] and "not a readable voice" in refused["junk"]
    assert "'emb_g.weight' has shape (2, 32)" in refused["wrongshape"]


def test_a_switch_writes_only_the_adapted_tensors_in_place(synth, base):
    model_tensors = dict(synth.model.state_dict(keep_vars=True))
    pointers = {k: v.data_ptr() for k, v in model_tensors.items()}
    base_state = torch.load(base / "base.pth", weights_only=False)["model"]
    alice, dave = synth.voice("alice"), synth.voice("dave")
    assert all(t.device == synth.device for t in alice.tensors.values())
    synth.use("alice")
    synth.use("dave")
    for name, tensor in synth.model.state_dict().items():
        expected = dave.tensors.get(name, base_state[name])
        assert torch.equal(tensor, expected), name
    assert len(alice.tensors) > len(dave.tensors) == 1
    assert {k: v.data_ptr() for k, v in synth.model.state_dict(keep_vars=True).items()} == pointers


def test_every_voice_matches_coqui_on_its_adapted_checkpoint(client, coqui):
    for name in VOICES:
        for seed in (0, 5):
            answer = client.get("/api/tts", query_string={"text": TEXT, "speaker_id": name, "seed": seed})
            assert answer.status_code == 200 and answer.mimetype == "audio/wav"
            assert answer.data == coqui(name, TEXT, seed), (name, seed)


@pytest.mark.slow
def test_bit_identical_to_the_tts_command_with_the_same_seed(client, base, tmp_path):
    """Coqui's own `tts` command (TTS.bin.synthesize.main), seeded just before it synthesises."""
    script = (
        "import sys, numpy, torch; import TTS.api as api; f = api.TTS.tts_to_file\n"
        "api.TTS.tts_to_file = lambda self, *a, **k: (torch.manual_seed(7), numpy.random.seed(7), f(self, *a, **k))[2]\n"
        "from TTS.bin.synthesize import main; main(sys.argv[1:])"
    )
    out = tmp_path / "tts.wav"
    subprocess.run([sys.executable, "-c", script, "--model_path", str(base / "bob" / "adapted.pth"), "--config_path",
                    str(base / "bob" / "config.json"), "--text", TEXT, "--out_path", str(out)],
                   check=True, capture_output=True, timeout=300)  # fmt: skip
    client.get("/api/tts", query_string={"text": TEXT, "speaker_id": "alice"})  # another voice in the model first
    answer = client.get("/api/tts", query_string={"text": TEXT, "speaker_id": "bob", "seed": 7})
    assert answer.data == out.read_bytes()


def test_coqui_request_shapes(client, synth):
    reference = client.get("/api/tts", query_string={"text": TEXT, "speaker_id": "carol"}).data
    assert client.post("/api/tts", data={"text": TEXT, "speaker_id": "carol"}).data == reference
    assert client.post("/api/tts", headers={"text": TEXT, "speaker-id": "carol"}).data == reference
    assert client.get("/process", query_string={"INPUT_TEXT": TEXT, "VOICE": "carol"}).data == reference
    assert client.post("/process", data={"INPUT_TEXT": TEXT, "VOICE": "carol"}).data == reference
    raw = client.post("/process", data=f"INPUT_TEXT={TEXT}&VOICE=carol", content_type="text/plain")
    assert raw.data == reference
    openai = lambda fmt: client.post("/v1/audio/speech", json={"input": TEXT, "voice": "carol", "response_format": fmt,
                                                               "model": "tts-1"})  # noqa: E731 fmt: skip
    assert openai("wav").data == reference
    samples, rate = sf.read(io.BytesIO(reference), dtype="int16")
    flac, flac_rate = sf.read(io.BytesIO(openai("flac").data), dtype="int16")
    assert flac_rate == rate and (flac == samples).all()
    assert openai("pcm").data == samples.astype("<i2").tobytes() and openai("pcm").mimetype == "audio/L16"
    assert openai("mp3").mimetype == "audio/mpeg" and len(openai("mp3").data) > 100
    assert client.get("/voices").text == "".join(f"{v} en u\n" for v in sorted(VOICES))
    assert client.get("/locales").text == "en\n"
    page = client.get("/").text
    assert all(f'<option value="{v}">' in page for v in VOICES) and "/api/tts?text=" in page
    assert client.get("/api/voices").json == {"voices": sorted(VOICES), "refused": synth.library.refused}


@pytest.mark.parametrize(
    "method, url, kwargs, status, message",
    [
        ("get", "/api/tts", {"query_string": {"text": "Hi.", "speaker_id": "zoe"}}, 404, "unknown voice 'zoe'"),
        ("post", "/v1/audio/speech", {"json": {"input": "Hi.", "voice": "zoe"}}, 404, "unknown voice"),
        ("get", "/process", {"query_string": {"INPUT_TEXT": "Hi.", "VOICE": "junk"}}, 404, "unknown voice 'junk'"),
        ("post", "/v1/audio/speech", {"json": {"input": "Hi.", "voice": 5}}, 404, "unknown voice '5'"),
        ("get", "/api/tts", {"query_string": {"text": "  ", "speaker_id": "bob"}}, 400, "text is empty"),
        ("get", "/api/tts", {"query_string": {"text": "a" * 201, "speaker_id": "bob"}}, 400, "201 characters"),
        ("post", "/v1/audio/speech", {"json": {"voice": "bob"}}, 400, "text is empty"),
        ("post", "/v1/audio/speech", {"json": {"input": {"a": 1}, "voice": "bob"}}, 400, "text is empty"),
        ("get", "/api/tts", {"query_string": {"text": "Hi."}}, 400, "name a voice (one of: alice, bob"),
        ("get", "/api/tts", {"query_string": {"text": "Hi.", "speaker_id": "bob", "seed": "x"}}, 400, "seed 'x'"),
        ("get", "/api/tts", {"query_string": {"text": "Hi.", "speaker_id": "bob", "seed": -1}}, 400, "seed -1"),
        ("post", "/v1/audio/speech", {"json": {"input": "Hi.", "voice": "bob", "seed": 1.5}}, 400, "seed 1.5"),
        ("post", "/v1/audio/speech", {"json": {"input": "Hi.", "voice": "bob", "seed": 2**40}}, 400, "0..4294967295"),
        ("post", "/v1/audio/speech", {"data": "not json"}, 400, "send a JSON object"),
        ("post", "/v1/audio/speech", {"json": [1, 2]}, 400, "send a JSON object"),
        ("post", "/v1/audio/speech", {"json": {"input": "Hi.", "voice": "bob", "response_format": "opus"}}, 400,
         "'opus' is not one of wav, flac, mp3, pcm"),
        ("get", "/v1/audio/speech", {}, 405, "Method Not Allowed"),
        ("get", "/nowhere", {}, 404, "Not Found"),
    ],
)  # fmt: skip
def test_bad_requests_are_answered_and_the_server_carries_on(client, method, url, kwargs, status, message):
    answer = getattr(client, method)(url, **kwargs)
    assert answer.status_code == status and message in answer.json["error"]
    if status == 404 and "unknown voice" in message:
        assert answer.json["voices"] == sorted(VOICES)
    assert client.get("/api/tts", query_string={"text": "Hi.", "speaker_id": "bob"}).status_code == 200


def test_a_failing_synthesis_is_a_500_and_the_next_request_works(client, synth, monkeypatch):
    monkeypatch.setattr(synth.api, "tts", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("boom")))
    answer = client.get("/api/tts", query_string={"text": "Hi.", "speaker_id": "bob"})
    assert answer.status_code == 500 and "boom" in answer.json["error"]
    monkeypatch.undo()
    assert client.get("/api/tts", query_string={"text": "Hi.", "speaker_id": "bob"}).status_code == 200
    for text in ("...!?", "日本語のテキスト", "Numbers 123 and symbols #@%."):
        assert client.get("/api/tts", query_string={"text": text, "speaker_id": "bob"}).status_code in (200, 500)
    assert client.get("/api/tts", query_string={"text": "Hi.", "speaker_id": "bob"}).status_code == 200


def test_voices_added_or_removed_later_are_picked_up(base, tmp_path, coqui):
    folder = tmp_path / "voices"
    folder.mkdir()
    shutil.copy(base / "voices" / "alice.pth", folder)
    synth = MultiVoiceSynthesizer(str(base / "base.pth"), str(base / "config.json"), str(folder))
    client = create_app(synth).test_client()
    assert synth.library.names() == ["alice"]
    shutil.copy(base / "voices" / "bob.pth", folder)  # found by its first request
    answer = client.get("/api/tts", query_string={"text": TEXT, "speaker_id": "bob"})
    assert answer.status_code == 200 and answer.data == coqui("bob", TEXT, 0)
    shutil.copy(base / "voices" / "carol.pth", folder)  # or by the reload endpoint
    shutil.copy(base / "voices" / "stranger.pth", folder)
    os.remove(folder / "alice.pth")
    report = client.post("/api/reload").json
    assert report["loaded"] == ["carol"] and report["removed"] == ["alice"] and list(report["refused"]) == ["stranger"]
    assert report["voices"] == ["bob", "carol"]
    assert client.get("/api/tts", query_string={"text": TEXT, "speaker_id": "alice"}).status_code == 404
    shutil.copy(base / "voices" / "dave.pth", folder / "bob.pth")  # a changed file is read again
    answer = client.get("/api/tts", query_string={"text": TEXT, "speaker_id": "bob"})
    assert client.post("/api/reload").json["loaded"] == ["bob"]
    answer = client.get("/api/tts", query_string={"text": TEXT, "speaker_id": "bob"})
    assert answer.data == coqui("dave", TEXT, 0)


def test_concurrent_requests_for_different_voices_never_mix(synth, coqui):
    requests = [(name, seed) for seed in range(4) for name in VOICES]  # 16 requests over 4 voices
    expected = {(name, seed): coqui(name, TEXT, seed) for name, seed in requests}
    server = start_server(create_app(synth), "127.0.0.1", 0)
    try:
        url = f"http://127.0.0.1:{server.port}/v1/audio/speech"

        def ask(name, seed):
            body = json.dumps({"input": TEXT, "voice": name, "seed": seed, "response_format": "wav"}).encode()
            request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
            with NO_PROXY.open(request, timeout=60) as answer:
                return answer.read()

        with ThreadPoolExecutor(max_workers=8) as pool:
            futures = {pool.submit(ask, *r): r for r in requests}
            done, pending = wait(futures, timeout=120)
        assert not pending
        for future in done:
            assert future.result() == expected[futures[future]], futures[future]
    finally:
        server.shutdown()
        server.server_close()


def test_cli_serve_reports_refused_voices_and_serves(base, monkeypatch, capsys):
    served = {}
    monkeypatch.setattr("tts_maml.serve.serve", lambda synth, host, port, seed: served.update(host=host, port=port))
    assert main(["serve", "--base", str(base / "base.pth"), "--config_path", str(base / "config.json"),
                 "--voices", str(base / "voices"), "--port", "5999"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "refused voice stranger:" in out and "refused voice junk:" in out and "4 voices: alice, bob, carol, dave" in out
    assert served == {"host": "127.0.0.1", "port": 5999}
    assert main(["serve", "--base", str(base / "base.pth"), "--config_path", str(base / "config.json"),
                 "--voices", str(base / "missing")]) == 2  # fmt: skip
    assert "missing: no such folder" in capsys.readouterr().err


def test_glow_tts_voices_are_brought_into_inference_form(tmp_path):
    """Coqui's Glow-TTS folds weight norm and stores inverses when it loads for inference, so its
    voices' tensors are not the served model's: each is converted once, at load."""
    voices = {"gina": ("conditioning", 5), "hugo": ("conditioning", 6)}
    make_base(tmp_path, GlowTTSBackbone, voices)
    synth = MultiVoiceSynthesizer(str(tmp_path / "base.pth"), str(tmp_path / "config.json"), str(tmp_path / "voices"))
    assert synth.library.names() == ["gina", "hugo"] and not synth.library.refused
    assert any(k.endswith("cond_layer.weight") for k in synth.voice("gina").tensors)
    coqui = coqui_speaker(tmp_path, voices)
    for name in ("gina", "hugo", "gina"):
        assert synth.speak(name, TEXT, seed=3) == coqui(name, TEXT, 3), name



def test_a_voice_with_a_fitted_griffin_lim_exponent_is_served_at_it(tmp_path):
    """`tts-maml adapt --fit-griffin-lim` writes the exponent into the voice's config.json (what `tts`
    reads) and its voice.pth: the server speaks each voice at its own, the others at the base's."""
    voices = {"gina": ("conditioning", 5), "hugo": ("conditioning", 6)}
    make_base(tmp_path, GlowTTSBackbone, voices)
    gina = load_voice(str(tmp_path / "voices" / "gina.pth"))
    gina.provenance["griffin_lim_power"] = 1.0
    atomic_save(gina.to_state(), str(tmp_path / "voices" / "gina.pth"))
    config = json.loads((tmp_path / "gina" / "config.json").read_text())
    config["audio"]["power"] = 1.0
    (tmp_path / "gina" / "config.json").write_text(json.dumps(config))
    synth = MultiVoiceSynthesizer(str(tmp_path / "base.pth"), str(tmp_path / "config.json"), str(tmp_path / "voices"))
    assert synth.voice("gina").griffin_lim_power == 1.0 and synth.voice("hugo").griffin_lim_power is None
    coqui = coqui_speaker(tmp_path, voices)
    for name in ("gina", "hugo", "gina"):
        assert synth.speak(name, TEXT, seed=3) == coqui(name, TEXT, 3), name
    assert synth.model.ap.power == 1.0
    at_base = synth.speak("gina", TEXT, seed=3)
    synth.model.ap.power = GlowTTSBackbone.tiny_config().audio.power  # what the server did before it read the exponent
    torch.manual_seed(3)
    np.random.seed(3)
    synth.api.synthesizer.save_wav(synth.api.tts(TEXT), out := io.BytesIO())
    assert out.getvalue() != at_base  # the exponent changes what is heard
    synth.use("hugo")
    assert synth.model.ap.power == GlowTTSBackbone.tiny_config().audio.power


@pytest.mark.slow
def test_voices_written_by_adapt_are_served_as_tts_speaks_them(meta_trained, adapt_corpus, tmp_path):
    from tts_maml.adapt.adaptation import adapt

    checkpoint, config = meta_trained
    (tmp_path / "voices").mkdir()
    for speaker in adapt_corpus.held_out_speakers:
        clips = os.path.join(adapt_corpus.out, "held_out", "wav48_silence_trimmed", speaker)
        adapt(checkpoint, config, clips, str(tmp_path / speaker), steps=2, name=speaker, progress=False)
        shutil.copy(tmp_path / speaker / "voice.pth", tmp_path / "voices" / f"{speaker}.pth")
    synth = MultiVoiceSynthesizer(checkpoint, config, str(tmp_path / "voices"))
    assert synth.library.names() == sorted(adapt_corpus.held_out_speakers) and not synth.library.refused
    coqui = coqui_speaker(tmp_path, adapt_corpus.held_out_speakers)
    for speaker in adapt_corpus.held_out_speakers * 2:
        assert synth.speak(speaker, TEXT, seed=1) == coqui(speaker, TEXT, 1), speaker
