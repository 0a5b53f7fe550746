import io
import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import numpy as np
import pytest
import soundfile as sf
import torch

from tts_maml.adapt.adaptation import adapt
from tts_maml.adapt.voice_delta import load_voice, merge
from tts_maml.backbones import VitsBackbone
from tts_maml.checkpoint import check_state_dict


def held_out_clips(corpus, tmp_path, n):
    """The held-out speaker's folder (flac + metadata.csv), cut to its first n clips."""
    spk = corpus.held_out_speakers[0]
    src = os.path.join(corpus.out, "held_out", "wav48_silence_trimmed", spk)
    dst = tmp_path / "clips"
    dst.mkdir()
    lines = open(os.path.join(src, "metadata.csv"), encoding="utf-8").read().splitlines()[:n]
    for line in lines:
        shutil.copy(os.path.join(src, line.split("|")[0] + ".flac"), dst)
    (dst / "metadata.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(dst)


@pytest.mark.slow
def test_adapt_end_to_end(meta_trained, adapt_corpus, tmp_path):
    checkpoint, config = meta_trained
    clips = held_out_clips(adapt_corpus, tmp_path, 7)
    out = str(tmp_path / "out")
    result = adapt(checkpoint, config, clips, out, steps=12, val_clips=2, name="newvoice", progress=False)
    assert sorted(os.listdir(out)) == ["adapted.pth", "config.json", "curve.json", "curve.png", "voice.pth"]
    # 5 support clips, 2 held out; learned Meta-SGD rates used
    voice = load_voice(os.path.join(out, "voice.pth"))
    roles = [c["role"] for c in voice.provenance["clips"]]
    assert roles.count("support") == 5 and roles.count("validation") == 2 and result.lr == "learned"
    # early stopping: the exported step is the held-out minimum, and adaptation helped
    assert result.best_step == int(np.argmin(result.val_losses))
    assert min(result.val_losses) < result.val_losses[0]
    assert json.load(open(os.path.join(out, "curve.json")))["best_step"] == result.best_step
    # only adapter tensors differ from the base
    base = torch.load(checkpoint, weights_only=False)["model"]
    adapted = torch.load(os.path.join(out, "adapted.pth"), weights_only=False)
    changed = {k for k in base if not torch.equal(base[k], adapted["model"][k])}
    assert changed and changed <= set(result.adapted)
    assert set(voice.tensors) == set(result.adapted) and result.voice_bytes < 1 << 20
    # merge(base, delta) == adapted.pth
    merged = merge(checkpoint, os.path.join(out, "voice.pth"), str(tmp_path / "merged.pth"))
    merged_model = torch.load(merged, weights_only=False)["model"]
    assert set(merged_model) == set(adapted["model"])
    assert all(torch.equal(merged_model[k], adapted["model"][k]) for k in merged_model)
    # the stock tts command speaks the new voice, no speaker flag
    wav = tmp_path / "out.wav"
    tts = os.path.join(os.path.dirname(sys.executable), "tts")
    subprocess.run([tts, "--model_path", os.path.join(out, "adapted.pth"), "--config_path",
                    os.path.join(out, "config.json"), "--text", "Hello, this is my new voice.", "--out_path", str(wav)],
                   check=True, capture_output=True)  # fmt: skip
    audio, rate = sf.read(wav)
    assert rate == 22050 and audio.size > 0.3 * rate and np.sqrt(np.mean(audio**2)) > 1e-3
    assert json.load(open(os.path.join(out, "config.json")))["speakers"] == ["newvoice"]


@pytest.mark.slow
def test_adapt_without_validation_exports_the_last_step_and_refuses_a_full_folder(meta_trained, adapt_corpus, tmp_path):
    checkpoint, config = meta_trained
    clips = held_out_clips(adapt_corpus, tmp_path, 5)
    out = tmp_path / "out"
    result = adapt(checkpoint, config, clips, str(out), steps=3, lr=0.01, progress=False)
    assert result.best_step == 3 and result.val_losses == [] and result.lr == 0.01
    before = (out / "voice.pth").read_bytes()
    with pytest.raises(FileExistsError, match="--overwrite"):
        adapt(checkpoint, config, clips, str(out), steps=1, progress=False)
    assert (out / "voice.pth").read_bytes() == before
    with pytest.raises(ValueError, match="needs at least 6"):
        adapt(checkpoint, config, clips, str(tmp_path / "o2"), steps=1, val_clips=5, progress=False)
    assert not (tmp_path / "o2").exists()


def test_a_config_that_does_not_match_its_weights_is_named():
    small = VitsBackbone(VitsBackbone.tiny_config()).build_model()
    config = VitsBackbone.tiny_config()
    config.model_args.hidden_channels = 48
    other = VitsBackbone(config).build_model()
    with pytest.raises(ValueError, match="ckpt.pth: tensor 'text_encoder.emb.weight' has shape"):
        check_state_dict(other, small.state_dict(), "ckpt.pth")
    state = dict(small.state_dict())
    state["extra.weight"] = torch.zeros(1)
    with pytest.raises(ValueError, match="'extra.weight' is not part"):
        check_state_dict(small, state, "ckpt.pth")
    del state["extra.weight"], state["emb_g.weight"]
    with pytest.raises(ValueError, match="'emb_g.weight' of the model the config describes is missing"):
        check_state_dict(small, state, "ckpt.pth")


@pytest.fixture(scope="module")
def adapted_voice(meta_trained, adapt_corpus, tmp_path_factory):
    """An adapted voice exported by `adapt` under umask 022: the OUT folder."""
    checkpoint, config = meta_trained
    folder = tmp_path_factory.mktemp("voice")
    clips = held_out_clips(adapt_corpus, folder, 5)
    old = os.umask(0o022)
    try:
        adapt(checkpoint, config, clips, str(folder / "out"), steps=3, name="newvoice", progress=False)
    finally:
        os.umask(old)
    return folder / "out"


def _audible(wav, rate):
    wav = np.asarray(wav, dtype=np.float64)
    return rate == 22050 and wav.size > 0.3 * rate and np.sqrt(np.mean(wav**2)) > 1e-3


@pytest.mark.slow
def test_exported_files_get_the_mode_of_any_new_file(adapted_voice):
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in adapted_voice.iterdir()}
    assert modes == {name: 0o644 for name in ("adapted.pth", "config.json", "voice.pth", "curve.json", "curve.png")}


@pytest.mark.slow
def test_voice_provenance_says_what_was_done_to_each_clip(adapted_voice):
    clips = load_voice(str(adapted_voice / "voice.pth")).provenance["clips"]
    assert len(clips) == 5 and {(c["source_rate"], c["channels"]) for c in clips} == {(22050, 1)}
    assert all(isinstance(c["gain_db"], float) and abs(c["gain_db"]) < 20 for c in clips)


@pytest.mark.slow
def test_coquis_python_api_speaks_the_adapted_voice(adapted_voice):
    from TTS.api import TTS

    api = TTS(model_path=str(adapted_voice / "adapted.pth"), config_path=str(adapted_voice / "config.json"))
    wav = api.tts("Hello, this is my new voice.")
    assert _audible(wav, api.synthesizer.output_sample_rate)


# tts-server as its console script runs it (the same module, arguments and model loading), but
# listening on the loopback address only (coqui-tts 0.28's main() listens on "::", every address),
# and stopping by itself: at a deadline, or as soon as the test that started it goes away.
SERVER = """
import os, sys, threading
port, deadline = int(sys.argv[1]), float(sys.argv[2])
timer = threading.Timer(deadline, os._exit, (3,))
timer.daemon = True
timer.start()
threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()
sys.argv = ["tts-server", *sys.argv[3:]]
from TTS.server import server
server.app.run(host="127.0.0.1", port=port)
"""


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_coquis_tts_server_serves_the_adapted_voice(adapted_voice, tmp_path):
    port = _free_port()
    log = open(tmp_path / "server.log", "w")
    args = ["--model_path", str(adapted_voice / "adapted.pth"), "--config_path", str(adapted_voice / "config.json"),
            "--port", str(port)]  # fmt: skip
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(port), "180", *args],
                              stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    url = f"http://127.0.0.1:{port}/api/tts?" + urllib.parse.urlencode({"text": "Hello from the server."})
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, (tmp_path / "server.log").read_text()
            try:
                with urllib.request.urlopen(url, timeout=30) as response:
                    status, kind, body = response.status, response.headers["Content-Type"], response.read()
                break
            except (urllib.error.URLError, ConnectionError):
                assert time.monotonic() < deadline, (tmp_path / "server.log").read_text()
                time.sleep(0.5)
        assert status == 200 and kind == "audio/wav"
        wav, rate = sf.read(io.BytesIO(body))
        assert _audible(wav, rate)
    finally:
        server.stdin.close()  # the server exits when its stdin closes
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
    assert server.returncode == 0
