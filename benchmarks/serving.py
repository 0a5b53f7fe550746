"""Serving many voices: `tts-maml serve` (one base, voices switched in) vs one Coqui `tts-server` per voice.

    .venv/bin/python benchmarks/serving.py [--size tiny|default] [--voices 1,10,100] [--requests 40]
        [--clients 4] [--rounds 3]

Three questions, each measured side by side in one run, on one base VITS (tiny by default; Coqui's
default size with --size default) and voices with the default `conditioning` adapter (what
`tts-maml adapt` writes):

1. Memory: resident memory (VmRSS) of a `tts-maml serve` process holding 1, 10, 100 voices, after
   one request to each of (up to 10 of) them, against one Coqui `tts-server` process per voice
   (one measured, after one request, and multiplied). Both apps are driven through Flask's test
   client in a fresh process, so the numbers compare the same Python, torch and Flask.
2. Voice switch (median of repeated calls): switching voices in the model, against synthesising a
   short sentence, against loading an adapted.pth from disk (torch.load + load_state_dict into the
   loaded model, and Coqui's whole TTS(model_path=adapted.pth) load).
3. Throughput: requests per second for a short sentence from --clients parallel HTTP clients to a
   `tts-maml serve` process on 127.0.0.1: all in one voice, then 10 voices, grouped by voice (few
   switches) and alternating (a switch per request). Voices speak at their own rates, so grouped vs
   alternating (the same requests) is what switching costs.

torch uses the threads OMP_NUM_THREADS allows (the table says how many).
"""

import argparse
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import torch
from _common import free_port, table  # noqa: E402  (puts the repository on sys.path)

from tts_maml.adapt.voice_delta import Voice, apply_voice  # noqa: E402
from tts_maml.backbones import VitsBackbone  # noqa: E402
from tts_maml.demo.commands import console_script  # noqa: E402
from tts_maml.files import atomic_save, atomic_write_text, sha256_file

SENTENCE = "Hello there, how are you today?"
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))

RSS = "{k: int(v.split()[0]) / 1024 for k, v in (l.split(':') for l in open('/proc/self/status')) if k in ('VmRSS', 'VmHWM')}"
SERVE_PROCESS = f"""
import json, sys
from tts_maml.serve import MultiVoiceSynthesizer, create_app
synth = MultiVoiceSynthesizer(sys.argv[1], sys.argv[2], sys.argv[3])
client = create_app(synth).test_client()
for name in synth.library.names()[:10]:
    assert client.get("/api/tts", query_string={{"text": {SENTENCE!r}, "speaker_id": name}}).status_code == 200
print(json.dumps({RSS}))
"""
COQUI_PROCESS = f"""
import json, sys
sys.argv = ["tts-server", "--model_path", sys.argv[1], "--config_path", sys.argv[2]]
from TTS.server.server import app  # loads the model as `tts-server` does; no socket is opened
assert app.test_client().get("/api/tts", query_string={{"text": {SENTENCE!r}}}).status_code == 200
print(json.dumps({RSS}))
"""


def make_voices(size, folder, count):
    """base.pth + config.json, voices/vNNN.pth (count voices) and one voice's adapted.pth."""
    config = VitsBackbone.tiny_config() if size == "tiny" else VitsBackbone.vctk_config()
    config.phoneme_cache_path = os.path.join(folder, "phonemes")
    torch.manual_seed(0)
    backbone = VitsBackbone(config)
    model = backbone.build_model()
    state = model.state_dict()
    checkpoint = {"model": state, "config": config.to_dict(), "step": 0, "epoch": 0}
    paths = {"base": os.path.join(folder, "base.pth"), "config": os.path.join(folder, "config.json")}
    atomic_save(checkpoint, paths["base"])
    atomic_write_text(json.dumps(config.to_dict()), paths["config"])
    digest, names = sha256_file(paths["base"]), backbone.adapter_names(model)
    os.makedirs(os.path.join(folder, "voices"))
    voices = []
    for i in range(count):
        tensors = {n: state[n] + 0.1 * torch.randn_like(state[n]) for n in names}
        voice = Voice(f"v{i:03d}", tensors, digest, "vits")
        atomic_save(voice.to_state(), os.path.join(folder, "voices", f"{voice.name}.pth"))
        voices.append(voice)
    paths["adapted"] = os.path.join(folder, "adapted.pth")
    atomic_save(apply_voice(checkpoint, voices[0]), paths["adapted"])
    paths["voice_kb"] = os.path.getsize(os.path.join(folder, "voices", "v000.pth")) / 1024
    paths["weights"] = sum(t.numel() for t in state.values())
    return paths


def voices_folder(folder, n):
    """A folder with the first n voices (hard links)."""
    out = os.path.join(folder, f"voices_{n}")
    if os.path.isdir(out):
        return out
    os.makedirs(out)
    for name in sorted(os.listdir(os.path.join(folder, "voices")))[:n]:
        os.link(os.path.join(folder, "voices", name), os.path.join(out, name))
    return out


def process_rss(code, *args):
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=1200)
    if done.returncode:
        raise RuntimeError(done.stderr[-3000:])
    return json.loads(done.stdout.strip().splitlines()[-1])["VmRSS"]


def memory(paths, folder, counts):
    coqui = process_rss(COQUI_PROCESS, paths["adapted"], paths["config"])
    rows = []
    for n in counts:
        serve = process_rss(SERVE_PROCESS, paths["base"], paths["config"], voices_folder(folder, n))
        rows.append([n, f"{serve:.0f}", f"{n * coqui:.0f}", f"{n * coqui / serve:.1f}x"])
    print(f"\n**Memory**: resident MB; one Coqui tts-server process: {coqui:.0f} MB\n")
    table(["voices", "tts-maml serve (one process)", "one tts-server per voice", "ratio"], rows)


def median_seconds(fn, repeat):
    """The median time of ``repeat`` calls (the median: a busy machine's outliers do not move it)."""
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def switch_cost(paths, folder):
    from TTS.api import TTS

    from tts_maml.serve import MultiVoiceSynthesizer

    synth = MultiVoiceSynthesizer(paths["base"], paths["config"], voices_folder(folder, 2))
    voices = itertools.cycle(["v000", "v001"])
    rows = {
        "switch voices (copy the adapted tensors in)": median_seconds(lambda: synth.use(next(voices)), 200),
        "synthesise the sentence (one voice)": median_seconds(lambda: synth.speak("v000", SENTENCE), 7),
        "load adapted.pth into the loaded model": median_seconds(
            lambda: synth.model.load_state_dict(torch.load(paths["adapted"], weights_only=False)["model"]), 7
        ),
        "load adapted.pth with Coqui (TTS(model_path=...))": median_seconds(
            lambda: TTS(model_path=paths["adapted"], config_path=paths["config"]), 5
        ),
    }
    switch = rows["switch voices (copy the adapted tensors in)"]
    print(f'\n**Voice switch** vs synthesis of "{SENTENCE}" vs loading from disk (median)\n')
    table(["operation", "ms", "ratio to a switch"], [[k, f"{v * 1e3:.2f}", f"{v / switch:.0f}x"] for k, v in rows.items()])


def throughput(paths, folder, voices, requests, clients, rounds):
    port = free_port()
    server = subprocess.Popen([console_script("tts-maml"), "serve", "--base", paths["base"], "--config_path", paths["config"],
                               "--voices", voices_folder(folder, voices), "--host", "127.0.0.1", "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):  # up to 60 s for start-up
            try:
                names = json.load(NO_PROXY.open(f"{url}/api/voices", timeout=5))["voices"]
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise RuntimeError("tts-maml serve did not start within 60 s")

        def ask(name):
            query = urllib.parse.urlencode({"text": SENTENCE, "speaker_id": name})
            with NO_PROXY.open(f"{url}/api/tts?{query}", timeout=120) as answer:
                assert answer.status == 200 and answer.read(4) == b"RIFF"

        # Voices speak at their own rates (their durations differ), so the same requests grouped by
        # voice is the fair reference for what alternating costs.
        alternating = [names[i % len(names)] for i in range(requests)]
        orders = {"one voice": [names[0]] * requests, f"{len(names)} voices, grouped by voice": sorted(alternating),
                  f"{len(names)} voices, alternating": alternating}  # fmt: skip
        rates = {label: [] for label in orders}
        with ThreadPoolExecutor(clients) as pool:
            list(pool.map(ask, names))  # warm-up
            for _ in range(rounds):  # interleaved rounds: a busy machine's slow spells hit both
                for label, order in orders.items():
                    start = time.perf_counter()
                    list(pool.map(ask, order))
                    rates[label].append(requests / (time.perf_counter() - start))
        median = {label: statistics.median(r) for label, r in rates.items()}
        one, grouped = median["one voice"], median[f"{len(names)} voices, grouped by voice"]
        rows = [[label, f"{m:.2f}", f"{m / one:.2f}", f"{m / grouped:.2f}"] for label, m in median.items()]
        print(f'\n**Throughput**: {requests} requests for "{SENTENCE}", {clients} parallel clients, HTTP on '
              f"127.0.0.1; median of {rounds} interleaved rounds\n")  # fmt: skip
        table(["requests", "requests/s", "ratio to one voice", "ratio to grouped"], rows)
    finally:
        server.terminate()
        server.wait(timeout=30)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", choices=["tiny", "default"], default="tiny")
    parser.add_argument("--voices", default="1,10,100", help="voice counts for the memory table")
    parser.add_argument("--requests", type=int, default=40, help="requests per throughput measurement")
    parser.add_argument("--clients", type=int, default=4, help="parallel HTTP clients")
    parser.add_argument("--rounds", type=int, default=3, help="throughput rounds (the median is shown)")
    args = parser.parse_args()
    counts = [int(n) for n in args.voices.split(",")]
    folder = tempfile.mkdtemp(prefix="tts_maml_serving_")
    try:
        paths = make_voices(args.size, folder, max(counts + [10]))
        print(f"{args.size} VITS ({paths['weights'] / 1e6:.1f} M weights), voice.pth {paths['voice_kb']:.0f} KB "
              f"(conditioning adapter), torch threads {torch.get_num_threads()}, {os.cpu_count()} CPU cores")  # fmt: skip
        memory(paths, folder, counts)
        switch_cost(paths, folder)
        throughput(paths, folder, 10, args.requests, args.clients, args.rounds)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
