"""Adaptation latency: `tts_maml.adapt` (read + check clips, adapt, export) from 5 clips, for the
tiny VITS and Coqui's default VITS size, on this machine's CPU cores.

    .venv/bin/python benchmarks/adaptation_latency.py [--steps 20] [--sizes tiny,default]

The models are freshly initialised (latency does not depend on what the weights learnt) and saved
as Coqui checkpoints; the clips are a held-out speaker of a small offline corpus.
"""

import argparse
import os
import shutil
import tempfile
import time

import torch
from _common import small_corpus, table

from tts_maml.adapt.adaptation import adapt
from tts_maml.backbones import VitsBackbone
from tts_maml.corpus.build import read_clips_metadata, write_clips_metadata


def clips_folder(corpus, n=5):
    held = os.path.join(corpus, "held_out", "wav48_silence_trimmed")
    speaker = sorted(os.listdir(held))[0]
    src = os.path.join(held, speaker)
    dst = tempfile.mkdtemp(prefix="tts_maml_clips_")
    clips = read_clips_metadata(src)[:n]
    for clip in clips:
        shutil.copy(clip["path"], dst)
    write_clips_metadata(dst, clips)
    return dst


def checkpoint(size, folder):
    config = VitsBackbone.tiny_config() if size == "tiny" else VitsBackbone.vctk_config()
    config.phoneme_cache_path = os.path.join(folder, "phonemes")
    model = VitsBackbone(config).build_model()
    path = os.path.join(folder, f"{size}.pth")
    torch.save({"model": model.state_dict(), "config": config.to_dict()}, path)
    config.save_json(os.path.join(folder, f"{size}.json"))
    return path, os.path.join(folder, f"{size}.json"), sum(p.numel() for p in model.parameters())


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--sizes", default="tiny,default")
    args = parser.parse_args()
    corpus = small_corpus()
    clips = clips_folder(corpus)
    folder = tempfile.mkdtemp(prefix="tts_maml_latency_")
    rows, first = [], None
    for size in args.sizes.split(","):
        path, config, n = checkpoint(size, folder)
        out = os.path.join(folder, f"out_{size}")
        start = time.perf_counter()
        result = adapt(path, config, clips, out, steps=args.steps, progress=False)
        seconds = time.perf_counter() - start
        first = first or seconds
        rows.append([f"{size} VITS ({n / 1e6:.1f} M weights)", f"{seconds:.1f}", f"{seconds / args.steps:.2f}",
                     f"{result.voice_bytes / 1024:.0f} KB", f"{seconds / first:.1f}"])  # fmt: skip
    print(f"adapt + export from 5 clips, {args.steps} steps, conditioning adapter, {torch.get_num_threads()} CPU threads")
    table(["model", "seconds", "seconds per step", "voice.pth", "ratio to the first row"], rows)


if __name__ == "__main__":
    main()
