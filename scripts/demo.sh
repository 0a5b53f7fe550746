#!/usr/bin/env bash
# The main job on the built-in corpus (the README's first command runs this through `make demo`):
# adapts the shipped meta-initialisation to two voices it never saw from 5 clips each, synthesises
# with Coqui's `tts`, and writes demo_out/ (per voice real/base/adapted wavs and spectrograms,
# report.md). Extra arguments go to `tts-maml demo`, e.g. `--train` for the from-scratch path
# (meta-train tiny VITS first); it runs from the repository root, where --train finds its recipe.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-demo_out}"
shift || true
.venv/bin/tts-maml demo --out "$out" "$@"
