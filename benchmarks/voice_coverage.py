"""How far is each new voice from the speakers the model was trained on, and does it predict how far
adaptation takes the voice?

A new voice starts from the d-vector of its clips and a few gradient steps refine it, so the voices
the model can reach are, roughly, the ones its training speakers span. *Coverage* measures that:
the Resemblyzer similarity between a voice's clip-mean embedding and that of its **nearest training
speaker** (each speaker's first ``--clips`` clips, in file order, as pre-training embeds them). The
held-out speakers of the corpus and any ``--voice`` folder are measured; with evaluate's
``results.json`` files (``--results``), each voice's adapted similarity at ``--step`` (mean over
seeds) stands beside its coverage, with the Pearson correlation over the voices.

``--more-recipes N`` asks whether more speakers of the corpus's own kind would come nearer: it
renders the recipes that follow the corpus's speakers in its seed's recipe list, up to the N-th
(4 neutral sentences each, :func:`tts_maml.corpus.synthetic_voices.speaker_recipes`; the same
recipes a corpus of N speakers would have), and reports each voice's nearest among them.

The embeddings are cached in ``--out`` (``training_speakers.npz``, about 3 min on 2 cores for 240
speakers the first time; ``more_recipes_N.npz``, about 1 s per recipe).

    python benchmarks/voice_coverage.py --corpus ~/.cache/tts_maml/corpus-240x20-h16-s0 \
        --voice demo_out/sources/outside --results eval/results.json --results eval_outside/results.json \
        --more-recipes 856 --out voice_coverage
"""

import argparse
import json
import os
import statistics
import sys
from collections import defaultdict
from typing import Dict, Sequence

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tts_maml.corpus.build import HELD_OUT_DIR, MANIFEST_FILE, read_clips_metadata, trim_and_normalise  # noqa: E402
from tts_maml.corpus.sentences import generate_sentences  # noqa: E402
from tts_maml.corpus.synthetic_voices import speaker_recipes, synthesize  # noqa: E402
from tts_maml.speakers.d_vectors import CLIPS_PER_SPEAKER, embed_files  # noqa: E402
from tts_maml.speakers.similarity import corpus_clips, embed  # noqa: E402

RECIPE_SENTENCES = 4
SENTENCE_SEED = 77  # sentences no corpus speaker of seed 0 reads in this order


def centroid(paths: Sequence[str], clips: int) -> np.ndarray:
    """The unit-length mean embedding of the first ``clips`` files."""
    if not paths:
        raise ValueError("no clips to embed")
    mean = embed_files(list(paths)[:clips]).mean(axis=0)
    return mean / np.linalg.norm(mean)


def training_centroids(corpus: str, clips: int, cache: str):
    """(names, ``(S, 256)`` unit centroids) of the corpus's training speakers, cached in ``cache``."""
    if os.path.isfile(cache):
        data = np.load(cache)
        if int(data["clips"]) == clips and str(data["corpus"]) == os.path.abspath(corpus):
            return [str(n) for n in data["names"]], data["centroids"]
    folders = corpus_clips(corpus, max_clips=clips)
    names = list(folders)
    centroids = np.stack([centroid(folders[n], clips) for n in names])
    np.savez(cache, names=names, centroids=centroids, clips=clips, corpus=os.path.abspath(corpus))
    return names, centroids


def more_recipe_centroids(corpus: str, count: int, cache: str) -> np.ndarray:
    """``(R, 256)`` unit centroids of the recipes after the corpus's speakers, up to the ``count``-th."""
    with open(os.path.join(corpus, MANIFEST_FILE), encoding="utf-8") as f:
        manifest = json.load(f)
    first = len(manifest["speakers"]) + len(manifest.get("held_out_speakers", []))
    if count <= first:
        raise SystemExit(f"--more-recipes {count}: the corpus already has {first} speakers")
    if os.path.isfile(cache):
        data = np.load(cache)
        if "corpus" in data.files and str(data["corpus"]) == os.path.abspath(corpus):
            return data["centroids"]
    texts = generate_sentences(RECIPE_SENTENCES, seed=SENTENCE_SEED)
    rate = int(manifest["sample_rate"])
    centroids = []
    for recipe in speaker_recipes(count, seed=int(manifest["seed"]))[first:]:
        mean = np.mean([embed(trim_and_normalise(synthesize(recipe, t, rate), rate), rate) for t in texts], axis=0)
        centroids.append(mean / np.linalg.norm(mean))
    np.savez(cache, centroids=np.stack(centroids), corpus=os.path.abspath(corpus))
    return np.stack(centroids)


def adapted_similarity(paths: Sequence[str], step: int) -> Dict[str, float]:
    """``{voice: mean over seeds of the meta model's similarity at step}`` from evaluate results files
    (a ``--voice`` folder is named after the folder; corpus speakers are ``VCTK_<speaker>``)."""
    values = defaultdict(list)
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for run in json.load(f)["runs"]:
                if run["model"] == "meta" and run["step"] == step:
                    values[run["speaker"].removeprefix("VCTK_")].append(float(run["speaker_similarity"]))
    return {name: statistics.mean(v) for name, v in values.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", required=True, help="the pre-training corpus (VCTK layout, with held_out/)")
    parser.add_argument("--voice", action="append", default=[], help="a clips folder (metadata.csv); repeatable")
    parser.add_argument("--results", action="append", default=[], help="an evaluate results.json; repeatable")
    parser.add_argument("--step", type=int, default=20, help="the adaptation step of --results to show (default 20)")
    parser.add_argument("--clips", type=int, default=CLIPS_PER_SPEAKER, help="clips per centroid (default 8)")
    parser.add_argument("--more-recipes", type=int, default=None,
                        help="also render the corpus seed's recipes up to this count and report each voice's nearest")  # fmt: skip
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)

    names, train = training_centroids(args.corpus, args.clips, os.path.join(args.out, "training_speakers.npz"))
    voices = corpus_clips(os.path.join(args.corpus, HELD_OUT_DIR), max_clips=args.clips)
    for folder in args.voice:
        voices[os.path.basename(os.path.normpath(folder))] = [c["path"] for c in read_clips_metadata(folder)]
    adapted = adapted_similarity(args.results, args.step)
    more = None
    if args.more_recipes:
        more = more_recipe_centroids(args.corpus, args.more_recipes,
                                     os.path.join(args.out, f"more_recipes_{args.more_recipes}.npz"))  # fmt: skip

    rows = []
    for voice, paths in voices.items():
        voice_centroid = centroid(paths, args.clips)
        scores = train @ voice_centroid
        order = np.argsort(-scores)
        rows.append({"voice": voice, "nearest": names[order[0]], "coverage": float(scores[order[0]]),
                     "second": float(scores[order[1]]), "adapted": adapted.get(voice),
                     "more_recipes": None if more is None else float((more @ voice_centroid).max())})  # fmt: skip

    print(f"{len(names)} training speakers, {args.clips} clips per centroid\n")
    extra = "" if more is None else f" nearest of {len(more)} more recipes |"
    print(f"| voice | nearest training speaker | coverage | second nearest | adapted similarity, step {args.step} |{extra}")
    print("|---|---|---|---|---|" + ("---|" if extra else ""))
    for r in rows:
        shown = "" if r["adapted"] is None else f"{r['adapted']:.3f}"
        last = "" if more is None else f" {r['more_recipes']:.3f} |"
        print(f"| {r['voice']} | {r['nearest']} | {r['coverage']:.3f} | {r['second']:.3f} | {shown} |{last}")
    paired = [(r["coverage"], r["adapted"]) for r in rows if r["adapted"] is not None]
    correlation = None
    if len(paired) >= 3:
        correlation = float(np.corrcoef(np.array(paired).T)[0, 1])
        print(f"\nPearson correlation of coverage and adapted similarity over {len(paired)} voices: {correlation:.2f}")
    with open(os.path.join(args.out, "voice_coverage.json"), "w", encoding="utf-8") as f:
        json.dump({"corpus": os.path.abspath(args.corpus), "clips": args.clips, "step": args.step,
                   "training_speakers": len(names), "more_recipes": args.more_recipes, "voices": rows,
                   "correlation": correlation}, f, indent=2)  # fmt: skip


if __name__ == "__main__":
    main()
