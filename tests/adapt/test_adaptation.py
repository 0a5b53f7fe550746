import io
import json
import os
import shutil
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile as sf
import torch

from tts_maml import judges
from tts_maml.adapt.adaptation import (
    adapt,
    adapt_steps,
    adapt_with_early_stopping,
    load_for_adaptation,
    lr_label,
    prepare_batches,
    split_clips,
)
from tts_maml.adapt.clips import read_clips
from tts_maml.adapt.voice_delta import load_voice, merge
from tts_maml.backbones import VitsBackbone
from tts_maml.checkpoint import check_state_dict
from tts_maml.config import MamlConfig
from tts_maml.meta.learner import MetaLearner

from conftest import save_untrained


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
    assert sorted(os.listdir(out)) == ["adapted.pth", "config.json", "curve.json", "curve.png", "held_out.json",
                                       "voice.pth"]  # fmt: skip
    # the judges on the held-out sentences: the model before and after, the real clips, the wrong-sentence floor
    held = json.load(open(os.path.join(out, "held_out.json")))
    assert held == result.held_out and held["clips"] == 2
    for key in ("base", "adapted", "ceiling"):
        assert set(held[key]) == set(judges.METRICS) and all(np.isfinite(v) for v in held[key].values())
    assert set(held["floor"]) == set(judges.TEXT_METRICS)
    assert held["ceiling"]["cer"] < held["floor"]["cer"]
    # a tiny model trained for seconds speaks no words the recogniser makes out
    assert held["adapted"]["cer"] > held["ceiling"]["cer"]
    # 5 support clips, 2 held out; learned Meta-SGD rates used
    voice = load_voice(os.path.join(out, "voice.pth"))
    roles = [c["role"] for c in voice.provenance["clips"]]
    assert roles.count("support") == 5 and roles.count("validation") == 2 and result.lr is None
    # early stopping: the exported step is the held-out minimum, and adaptation helped
    assert result.best_step == int(np.argmin(result.val_losses))
    assert min(result.val_losses) < result.val_losses[0]
    curve = json.load(open(os.path.join(out, "curve.json")))
    assert curve["best_step"] == result.best_step and curve["lr"] == "learned" == voice.provenance["lr"]
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


def _linear(lr=None):
    """A 1 x 1 linear model whose support loss is minimal at weight 2, wrapped like a LoadedModel."""
    model = torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.zero_()

    def loss(params, batch):
        x = batch["x"]
        return ((torch.func.functional_call(model, params, (x,)) - batch["slope"] * x) ** 2).mean()

    config = MamlConfig(algorithm="maml", inner_lr=0.1)
    learner = MetaLearner(model, config, ["weight"], loss)
    return SimpleNamespace(model=model, learner=learner, lr=lr, optimizer="sgd", config=SimpleNamespace(grad_clip=0),
                           backbone=SimpleNamespace(evaluation_loss=lambda m: loss, task_loss=lambda m: loss))  # fmt: skip


SUPPORT = {"x": torch.linspace(-1, 1, 8)[:, None], "slope": 2.0}


def test_adapt_steps_reports_every_step_from_the_start_weights_and_leaves_the_model_alone():
    loaded = _linear()
    seen = []
    last = adapt_steps(loaded, SUPPORT, 4, lambda step, fast: seen.append((step, float(fast["weight"].detach()))))
    assert [s for s, _ in seen] == [0, 1, 2, 3, 4] and seen[0][1] == 0.0
    # gradient descent towards 2: every step closer, the last one returned
    assert all(0.0 <= a < b < 2.0 for (_, a), (_, b) in zip(seen, seen[1:])) and float(last["weight"]) == seen[-1][1]
    assert float(loaded.model.weight.detach()) == 0.0
    # None: the config's (or the learned) rate; a given rate is used instead
    fast_lr = adapt_steps(_linear(lr=0.4), SUPPORT, 4, lambda step, fast: None)
    assert float(fast_lr["weight"]) > float(last["weight"])


def test_adam_adaptation_steps_with_adam_from_the_same_start():
    loaded = _linear(lr=0.05)
    loaded.optimizer = "adam"
    seen = []
    last = adapt_steps(loaded, SUPPORT, 300, lambda step, fast: seen.append((step, float(fast["weight"].detach()))))
    assert [s for s, _ in seen] == list(range(301)) and seen[0][1] == 0.0
    # Adam's first step moves every tensor by about its rate, whatever the gradient's size
    assert seen[1][1] == pytest.approx(0.05, rel=1e-3)
    assert float(last["weight"]) == pytest.approx(2.0, abs=1e-2) and float(loaded.model.weight.detach()) == 0.0


def test_adam_adaptation_needs_a_rate_and_a_known_optimizer(tiny_run):
    model_path, config_path, _ = tiny_run
    with pytest.raises(ValueError, match="--optimizer adam needs --lr"):
        load_for_adaptation(model_path, config_path, optimizer="adam")
    with pytest.raises(ValueError, match="--optimizer must be one of sgd, adam, got 'rmsprop'"):
        load_for_adaptation(model_path, config_path, lr=1e-3, optimizer="rmsprop")


def test_early_stopping_keeps_the_step_with_the_lowest_held_out_loss():
    loaded = _linear(lr=0.3)
    held_out = {"x": SUPPORT["x"], "slope": 1.0}  # the support clips pull past the held-out optimum
    weights = adapt_with_early_stopping(loaded, SUPPORT, 10, held_out, progress=False)
    assert len(weights.support_losses) == len(weights.val_losses) == 11 and weights.steps == 10
    assert 0 < weights.best_step < 10 and weights.best_step == int(np.argmin(weights.val_losses))
    trajectory = {}
    adapt_steps(loaded, SUPPORT, 10, lambda step, fast: trajectory.update({step: fast["weight"].clone()}))
    assert torch.equal(weights.fast["weight"], trajectory[weights.best_step])
    assert weights.support_losses == sorted(weights.support_losses, reverse=True)
    # without held-out clips: the last step
    last = adapt_with_early_stopping(loaded, SUPPORT, 10, progress=False)
    assert last.best_step == 10 and last.val_losses == [] and torch.equal(last.fast["weight"], trajectory[10])


def test_split_clips_holds_out_a_seeded_draw_and_names_the_folder():
    roles = split_clips(list(range(6)), val_clips=2, seed=3)
    assert roles.count("validation") == 2 and roles == split_clips(list(range(6)), val_clips=2, seed=3)
    assert split_clips(list(range(6)), val_clips=0) == ["support"] * 6
    with pytest.raises(ValueError, match="my_clips: 2 usable clip.*--val-clips 2 needs at least 3"):
        split_clips([0, 1], val_clips=2, source="my_clips")


def test_lr_label_names_the_learned_rates():
    assert lr_label(None) == "learned" and lr_label(0.02) == 0.02


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """An untrained tiny VITS saved as a checkpoint + config.json, and a folder of 4 clips."""
    folder = tmp_path_factory.mktemp("tiny_run")
    model_path, config_path = save_untrained(folder, VitsBackbone)
    clips = folder / "clips"
    clips.mkdir()
    t = np.arange(22050) / 22050
    for i, text in enumerate(["A first sentence.", "The second one.", "And a third.", "The last one here."]):
        sf.write(clips / f"c{i}.wav", (0.3 * np.sin(2 * np.pi * (150 + 20 * i) * t)).astype(np.float32), 22050)
        (clips / f"c{i}.txt").write_text(text, encoding="utf-8")
    return model_path, config_path, str(clips)


def test_adapt_is_its_steps(tiny_run, tmp_path):
    """load -> prepare batches -> adapt with early stopping gives what adapt() exports."""
    model_path, config_path, clips = tiny_run
    loaded = load_for_adaptation(model_path, config_path).to("cpu")
    clip_list = read_clips(clips, loaded.config, loaded.model.tokenizer, loaded.model.ap)
    roles = split_clips(clip_list, val_clips=1, seed=0)
    batches = prepare_batches(loaded, clip_list, roles, name="v")
    assert batches.validation is not None and batches.support["rng_seed"] != batches.validation["rng_seed"]
    assert loaded.config.phoneme_cache_path.endswith("phonemes")  # the run's cache is put back
    weights = adapt_with_early_stopping(loaded, batches.support, 2, batches.validation, progress=False)

    result = adapt(model_path, config_path, clips, str(tmp_path / "out"), steps=2, val_clips=1, name="v",
                   progress=False)  # fmt: skip
    assert result.lr == loaded.lr == loaded.config.maml.inner_lr  # no learned rates in this checkpoint
    assert (result.best_step, result.support_losses, result.val_losses) == (
        weights.best_step, weights.support_losses, weights.val_losses)  # fmt: skip
    voice = load_voice(result.files["voice.pth"])
    assert set(voice.tensors) == set(weights.fast)
    assert all(torch.equal(voice.tensors[n], weights.fast[n]) for n in weights.fast)
    assert [c["role"] for c in voice.provenance["clips"]] == roles
    assert json.load(open(result.files["curve.json"]))["lr"] == loaded.config.maml.inner_lr
    # one held-out clip: judged, with no wrong-sentence floor to draw
    assert result.held_out["clips"] == 1 and result.held_out["floor"] == {}
    assert json.load(open(result.files["held_out.json"])) == result.held_out

    # --optimizer adam: the same steps with Adam, over the preset asked for, recorded in the files
    loaded = load_for_adaptation(model_path, config_path, adapter_preset="generator", lr=1e-4, optimizer="adam")
    weights = adapt_with_early_stopping(loaded.to("cpu"), batches.support, 2, batches.validation, progress=False)
    result = adapt(model_path, config_path, clips, str(tmp_path / "adam"), steps=2, val_clips=1, name="v",
                   lr=1e-4, adapter_preset="generator", optimizer="adam", progress=False)  # fmt: skip
    assert result.support_losses == weights.support_losses and len(result.adapted) == len(loaded.adapted) > 1
    curve = json.load(open(result.files["curve.json"]))
    assert (curve["optimizer"], curve["lr"]) == ("adam", 1e-4)
    assert load_voice(result.files["voice.pth"]).provenance["optimizer"] == "adam"


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


@pytest.mark.slow
def test_coquis_tts_server_serves_the_adapted_voice(adapted_voice, tmp_path, free_port):
    port = free_port
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
