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

``--installed-voices`` asks the same of every festival voice installed on the machine, in any
language (:func:`tts_maml.corpus.synthetic_voices.installed_festival_voices`; the corpus uses the
two English ones): each is rendered at the sox shifts ``INSTALLED_CENTS`` (4 neutral sentences,
the corpus's default prosody), and each voice's nearest rendering is reported, with that
rendering's own coverage by the training speakers (how far outside the corpus it lies). A
sentence a voice's front end fails on is skipped with a line saying so. Debian's other-language
voices (festvox-italp16k, festvox-itapc16k, festvox-czech-dita, festvox-czech-krb,
festvox-czech-machac, festvox-suopuhe-lj, festvox-suopuhe-mv, festvox-ca-ona-hts, festvox-ru) are
not part of ``make setup``: install them first to ask about them.

The embeddings are cached in ``--out`` (``training_speakers.npz``, about 3 min on 2 cores for 240
speakers the first time; ``more_recipes_N.npz``, about 1 s per recipe; ``installed_voices.npz``,
about 2 min for 10 voices).

    python benchmarks/voice_coverage.py --corpus ~/.cache/tts_maml/corpus-240x20-h16-s0 \
        --voice demo_out/sources/outside --results eval/results.json --results eval_outside/results.json \
        --more-recipes 856 --out voice_coverage
    python benchmarks/voice_coverage.py --corpus ~/.cache/tts_maml/corpus-240x20-h16-s0 \
        --voice demo_out/sources/outside --installed-voices --out voice_coverage
"""

import argparse
import json
import os
import statistics
import sys
from collections import defaultdict
from typing import Any, Dict, List, Sequence, Tuple

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tts_maml.corpus.build import HELD_OUT_DIR, MANIFEST_FILE, read_clips_metadata, trim_and_normalise  # noqa: E402
from tts_maml.corpus.sentences import generate_sentences  # noqa: E402
from tts_maml.corpus.synthetic_voices import (  # noqa: E402
    VoiceRecipe,
    installed_festival_voices,
    speaker_recipes,
    synthesize,
)
from tts_maml.speakers.d_vectors import CLIPS_PER_SPEAKER, embed_files  # noqa: E402
from tts_maml.speakers.similarity import corpus_clips, embed  # noqa: E402

RECIPE_SENTENCES = 4
SENTENCE_SEED = 77  # sentences no corpus speaker of seed 0 reads in this order
# sox shifts (cents) at which --installed-voices renders each festival voice: the span of the
# corpus's own formant grid that its speakers use most, lower and higher vocal tracts alike.
INSTALLED_CENTS: Sequence[int] = (-400, -250, -100, 0, 150, 300)


def unit_mean(embeddings: Sequence[np.ndarray]) -> np.ndarray:
    """The unit-length mean of embeddings (a voice's centroid)."""
    mean = np.mean(embeddings, axis=0)
    return mean / np.linalg.norm(mean)


def centroid(paths: Sequence[str], clips: int) -> np.ndarray:
    """The unit-length mean embedding of the first ``clips`` files."""
    if not paths:
        raise ValueError("no clips to embed")
    return unit_mean(embed_files(list(paths)[:clips]))


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


def more_recipe_centroids(corpus: str, manifest: Dict[str, Any], count: int, cache: str) -> np.ndarray:
    """``(R, 256)`` unit centroids of the recipes after the corpus's speakers (its ``manifest``), up
    to the ``count``-th."""
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
        centroids.append(unit_mean([embed(trim_and_normalise(synthesize(recipe, t, rate), rate), rate) for t in texts]))
    np.savez(cache, centroids=np.stack(centroids), corpus=os.path.abspath(corpus))
    return np.stack(centroids)


def installed_voice_centroids(rate: int, cache: str) -> Tuple[List[str], np.ndarray]:
    """(labels ``<voice><cents>``, ``(C, 256)`` unit centroids) of every installed festival voice at
    each of ``INSTALLED_CENTS``, cached in ``cache`` for the same voices."""
    voices = installed_festival_voices()
    if not voices:
        raise SystemExit("--installed-voices: no festival voice is installed (apt-get install festvox-kallpc16k)")
    if os.path.isfile(cache):
        data = np.load(cache)
        if [str(v) for v in data["voices"]] == voices and [int(c) for c in data["cents"]] == list(INSTALLED_CENTS):
            return [str(n) for n in data["labels"]], data["centroids"]
    texts = generate_sentences(RECIPE_SENTENCES, seed=SENTENCE_SEED)
    labels, centroids = [], []
    for voice in voices:
        for cents in INSTALLED_CENTS:
            embeddings = []
            for text in texts:
                try:
                    wav = synthesize(VoiceRecipe("festival", voice, formant_cents=cents), text, rate)
                except RuntimeError as err:
                    print(f"installed voice {voice}: sentence skipped ({err})")
                    continue
                embeddings.append(embed(trim_and_normalise(wav, rate), rate))
            if len(embeddings) < 2:
                print(f"installed voice {voice} at {cents:+d} cents: left out, fewer than 2 sentences spoken")
                continue
            labels.append(f"{voice}{cents:+d}")
            centroids.append(unit_mean(embeddings))
    if not centroids:
        raise SystemExit(f"--installed-voices: none of the installed festival voices ({', '.join(voices)}) spoke")
    np.savez(cache, voices=voices, cents=list(INSTALLED_CENTS), labels=labels, centroids=np.stack(centroids))
    return labels, np.stack(centroids)


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
    parser.add_argument("--installed-voices", action="store_true",
                        help="also render every installed festival voice (any language) at INSTALLED_CENTS shifts and "
                        "report each voice's nearest")  # fmt: skip
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.corpus, MANIFEST_FILE), encoding="utf-8") as f:
        manifest = json.load(f)

    names, train = training_centroids(args.corpus, args.clips, os.path.join(args.out, "training_speakers.npz"))
    voices = corpus_clips(os.path.join(args.corpus, HELD_OUT_DIR), max_clips=args.clips)
    for folder in args.voice:
        voices[os.path.basename(os.path.normpath(folder))] = [c["path"] for c in read_clips_metadata(folder)]
    adapted = adapted_similarity(args.results, args.step)
    more = None
    if args.more_recipes:
        more = more_recipe_centroids(args.corpus, manifest, args.more_recipes,
                                     os.path.join(args.out, f"more_recipes_{args.more_recipes}.npz"))  # fmt: skip
    installed = installed_labels = None
    if args.installed_voices:
        installed_labels, installed = installed_voice_centroids(int(manifest["sample_rate"]),
                                                                os.path.join(args.out, "installed_voices.npz"))  # fmt: skip
        installed_coverage = (installed @ train.T).max(axis=1)

    rows = []
    for voice, paths in voices.items():
        voice_centroid = centroid(paths, args.clips)
        scores = train @ voice_centroid
        order = np.argsort(-scores)
        rows.append({"voice": voice, "nearest": names[order[0]], "coverage": float(scores[order[0]]),
                     "second": float(scores[order[1]]), "adapted": adapted.get(voice),
                     "more_recipes": None if more is None else float((more @ voice_centroid).max())})  # fmt: skip
        if installed is not None:
            k = int(np.argmax(installed @ voice_centroid))
            rows[-1]["installed"] = {"nearest": installed_labels[k], "similarity": float(installed[k] @ voice_centroid),
                                     "its_coverage": float(installed_coverage[k])}  # fmt: skip

    print(f"{len(names)} training speakers, {args.clips} clips per centroid\n")
    extra = "" if more is None else f" nearest of {len(more)} more recipes |"
    if installed is not None:
        extra += f" nearest of {len(installed)} installed-voice renderings (its coverage) |"
    print(f"| voice | nearest training speaker | coverage | second nearest | adapted similarity, step {args.step} |{extra}")
    print("|---|---|---|---|---|" + "---|" * extra.count("|"))
    for r in rows:
        shown = "" if r["adapted"] is None else f"{r['adapted']:.3f}"
        last = "" if more is None else f" {r['more_recipes']:.3f} |"
        if installed is not None:
            near = r["installed"]
            last += f" {near['nearest']} {near['similarity']:.3f} ({near['its_coverage']:.3f}) |"
        print(f"| {r['voice']} | {r['nearest']} | {r['coverage']:.3f} | {r['second']:.3f} | {shown} |{last}")
    paired = [(r["coverage"], r["adapted"]) for r in rows if r["adapted"] is not None]
    correlation = None
    if len(paired) >= 3:
        correlation = float(np.corrcoef(np.array(paired).T)[0, 1])
        print(f"\nPearson correlation of coverage and adapted similarity over {len(paired)} voices: {correlation:.2f}")
    with open(os.path.join(args.out, "voice_coverage.json"), "w", encoding="utf-8") as f:
        json.dump({"corpus": os.path.abspath(args.corpus), "clips": args.clips, "step": args.step,
                   "training_speakers": len(names), "more_recipes": args.more_recipes,
                   "installed_voices": installed_labels, "voices": rows,
                   "correlation": correlation}, f, indent=2)  # fmt: skip


if __name__ == "__main__":
    main()
