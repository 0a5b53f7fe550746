"""Which of the corpus's voice recipes can a listener understand?

Whisper tiny.en (:mod:`tts_maml.judges`) transcribes ``--clips`` real clips of every speaker of an
offline corpus (training and held-out), and each speaker's CER is set beside its recipe (the
corpus manifest's ``recipes``: engine, voice, sox formant shift, tempo, pitch): the mean CER by
engine, by size of the formant shift, by tempo and by espeak-ng accent, and the worst and best
recipes. A model trained on a speaker learns to speak like it: recipes nobody can understand make a
base nobody can understand (the say-the-words issue).

    python benchmarks/recipe_intelligibility.py --corpus ~/.cache/tts_maml/corpus-240x20-h16-s0 \
        --clips 4 --out recipe_cer
"""

import argparse
import json
import os
import sys
from collections import defaultdict

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tts_maml import judges  # noqa: E402
from tts_maml.corpus.build import HELD_OUT_DIR, MANIFEST_FILE, WAV_DIR, read_clips_metadata  # noqa: E402


def parse_recipe(text):
    """``{"engine", "voice", "formant_cents", "rate", ...}`` of a manifest recipe string
    (``engine=espeak-ng voice=en-gb+m4 pitch=53 ...``); numbers as floats."""
    fields = dict(part.split("=", 1) for part in text.split())
    for key, value in fields.items():
        try:
            fields[key] = float(value)
        except ValueError:
            pass
    return fields


def speaker_folders(corpus):
    """``{speaker: folder}`` of every training and held-out speaker of an offline corpus."""
    folders = {}
    for root in (os.path.join(corpus, WAV_DIR), os.path.join(corpus, HELD_OUT_DIR, WAV_DIR)):
        if os.path.isdir(root):
            folders.update({spk: os.path.join(root, spk) for spk in sorted(os.listdir(root))})
    return folders


def speaker_cer(folder, clips):
    """The mean CER and WER of the first ``clips`` clips of a corpus speaker's folder."""
    import soundfile as sf

    rates = []
    for c in read_clips_metadata(folder)[:clips]:
        wav, rate = sf.read(c["path"], dtype="float32", always_2d=True)
        rates.append(judges.error_rates(c["text"], judges.transcribe(wav.mean(axis=1), rate)))
    return {m: float(np.mean([r[m] for r in rates])) for m in judges.TEXT_METRICS}


def group_key(recipe, by):
    """The group of a recipe for one table: its engine, its formant shift's size, its tempo band or
    its espeak-ng accent."""
    if by == "engine":
        return recipe["engine"]
    if by == "formant shift":
        cents = abs(recipe.get("formant_cents", 0.0))
        return "0" if cents == 0 else f"{int(cents // 200) * 200 + 1}-{int(cents // 200) * 200 + 200} cents"
    if by == "tempo":
        return "below 0.95" if recipe.get("rate", 1.0) < 0.95 else ("above 1.05" if recipe.get("rate", 1.0) > 1.05 else "0.95-1.05")
    return str(recipe["voice"]).split("+")[0] if recipe["engine"] == "espeak-ng" else f"{recipe['engine']} {recipe['voice']}"


def markdown(rows):
    """Tables of the mean CER [95% interval over speakers] by engine, formant shift, tempo and
    accent, then the five worst and five best recipes."""
    from tts_maml.evaluate.evaluation import mean_interval

    def cell(values):
        i = mean_interval(values)
        bounds = f" [{i['low']:.3f}, {i['high']:.3f}]" if np.isfinite(i["low"]) else ""
        return f"{i['mean']:.3f}{bounds}"

    every = [r["cer"] for r in rows.values()]
    lines = [f"All {len(rows)} speakers: CER {cell(every)}; {sum(v < 0.2 for v in every)} below 0.2, "
             f"{sum(v > 0.5 for v in every)} above 0.5.", ""]  # fmt: skip
    for by in ("engine", "formant shift", "tempo", "accent"):
        groups = defaultdict(list)
        for r in rows.values():
            groups[group_key(r["recipe"], by)].append(r["cer"])
        lines += [f"| {by} | speakers | CER |", "|---|---:|---|"]
        lines += [f"| {g} | {len(v)} | {cell(v)} |" for g, v in sorted(groups.items())]
        lines.append("")
    ranked = sorted(rows.items(), key=lambda kv: kv[1]["cer"])
    for title, chosen in (("worst", ranked[::-1][:5]), ("best", ranked[:5])):
        lines += [f"The five {title}:", ""] + [f"- {spk} CER {r['cer']:.3f}: {r['recipe_text']}" for spk, r in chosen]
        lines.append("")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", required=True, help="an offline corpus built by tts-maml make-corpus")
    parser.add_argument("--clips", type=int, default=4, help="clips per speaker (default 4)")
    parser.add_argument("--out", required=True, help="output folder (recipe_cer.json, recipe_cer.md)")
    args = parser.parse_args()
    corpus = os.path.expanduser(args.corpus)
    with open(os.path.join(corpus, MANIFEST_FILE), encoding="utf-8") as f:
        recipes = json.load(f)["recipes"]
    judges.check_installed()
    rows = {}
    for spk, folder in speaker_folders(corpus).items():
        if spk not in recipes:
            raise SystemExit(f"{folder}: speaker {spk} has no recipe in {MANIFEST_FILE}")
        rows[spk] = {**speaker_cer(folder, args.clips), "recipe": parse_recipe(recipes[spk]), "recipe_text": recipes[spk]}
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "recipe_cer.json"), "w", encoding="utf-8") as f:
        json.dump(rows, f, indent=2)
    text = markdown(rows)
    with open(os.path.join(args.out, "recipe_cer.md"), "w", encoding="utf-8") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
