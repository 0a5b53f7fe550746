#!/usr/bin/env bash
# The main job on the built-in corpus (the README's first command runs this through `make demo`):
# builds the offline corpus once, meta-trains tiny VITS, adapts to a held-out voice from 5 clips,
# synthesises with Coqui's `tts`, and writes demo_out/ (wavs, adaptation curve, report.md).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-demo_out}"
shift || true
.venv/bin/tts-maml demo --out "$out" "$@"
