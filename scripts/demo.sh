#!/usr/bin/env bash
# The main job on the built-in corpus: builds the offline multi-speaker corpus and checks with a
# speaker encoder that its voices are distinct. (Meta-training and adaptation join it as they land.)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-demo_out}"
mkdir -p "$out"
.venv/bin/tts-maml make-corpus --out "$out/corpus" --speakers 20 --utterances 30 --held-out 4 --seed 0 --overwrite
.venv/bin/tts-maml check-corpus "$out/corpus" --json "$out/speaker_similarity.json"
.venv/bin/tts-maml check-corpus "$out/corpus/held_out" --json "$out/speaker_similarity_held_out.json"
echo "demo: corpus in $out/corpus (held-out speakers in $out/corpus/held_out)"
echo "demo: speaker-encoder report in $out/speaker_similarity.json"
