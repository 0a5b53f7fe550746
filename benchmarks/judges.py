"""How well do the judges do their job on this project's voices?

For every voice (the held-out speakers of an offline corpus, and any ``--voice`` clips folder), its
real clips are scored by the three judges of :mod:`tts_maml.judges`:

- each speaker encoder (Resemblyzer, CAM++): every clip against the centroid of its own voice's
  other clips (*same*, leave one out) and against each other voice's centroid (*other*); the
  equal error rate of telling the two apart (the threshold where as many same-voice pairs fall
  below it as other-voice pairs above it), and nearest-centroid identification accuracy;
- Whisper tiny.en: CER and WER of every clip against its own sentence, per voice.

A judge that cannot tell this corpus's voices apart, or cannot make out its real clips, cannot
judge a model of them: these numbers say what a judge's differences are worth.

    python benchmarks/judges.py --corpus ~/.cache/tts_maml/corpus-240x20-h16-s0 \
        --voice demo_out/sources/outside --clips 10 --out judges_check
"""

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tts_maml import judges  # noqa: E402
from tts_maml.corpus.build import HELD_OUT_DIR, WAV_DIR, read_clips_metadata  # noqa: E402
from tts_maml.evaluate.evaluation import mean_interval  # noqa: E402


def voice_clips(corpus, voices, clips):
    """``{voice: [{"id", "text", "path"}]}``: up to ``clips`` clips of each held-out speaker of
    ``corpus`` and of each ``voices`` folder (``metadata.csv``), in metadata order."""
    folders = {}
    if corpus:
        root = os.path.join(os.path.expanduser(corpus), HELD_OUT_DIR, WAV_DIR)
        folders.update({spk: os.path.join(root, spk) for spk in sorted(os.listdir(root))})
    folders.update({os.path.basename(os.path.normpath(v)): v for v in voices})
    return {name: read_clips_metadata(folder)[:clips] for name, folder in folders.items()}


def equal_error_rate(same, other):
    """The equal error rate of a threshold on cosine telling ``same``-voice scores from ``other``."""
    same, other = np.asarray(same), np.asarray(other)
    best = (1.0, 0.0)
    for t in np.unique(np.concatenate([same, other])):
        miss, false = float(np.mean(same < t)), float(np.mean(other >= t))
        if abs(miss - false) < best[0]:
            best = (abs(miss - false), (miss + false) / 2)
    return best[1]


def encoder_scores(embeddings, metric):
    """Per voice, its clips' cosine to their own (leave-one-out) centroid and to the other voices'
    centroids, and the share of clips nearest their own centroid; then the EER over all clips."""
    totals = {v: np.sum([e[metric] for e in es], axis=0) for v, es in embeddings.items()}
    rows, same_all, other_all = {}, [], []
    for voice, es in embeddings.items():
        same, other, right = [], [], 0
        for e in es:
            x = e[metric]
            own = judges.cosine(x, (totals[voice] - x) / (len(es) - 1))
            others = [judges.cosine(x, totals[o] / len(embeddings[o])) for o in embeddings if o != voice]
            same.append(own)
            other.extend(others)
            right += own > max(others)
        rows[voice] = {"same": float(np.mean(same)), "other": float(np.mean(other)), "accuracy": right / len(es)}
        same_all += same
        other_all += other
    return rows, {"same": mean_interval(same_all), "other": mean_interval(other_all),
                  "eer": equal_error_rate(same_all, other_all),
                  "accuracy": float(np.mean([r["accuracy"] for r in rows.values()]))}  # fmt: skip


def whisper_scores(clips):
    """Per voice, the mean CER and WER of its clips against their sentences (and the transcripts)."""
    import soundfile as sf

    rows = {}
    for voice, cs in clips.items():
        rates, heard = [], []
        for c in cs:
            wav, rate = sf.read(c["path"], dtype="float32", always_2d=True)
            heard.append(judges.transcribe(wav.mean(axis=1), rate))
            rates.append(judges.error_rates(c["text"], heard[-1]))
        rows[voice] = {"cer": float(np.mean([r["cer"] for r in rates])),
                       "wer": float(np.mean([r["wer"] for r in rates])), "heard": heard}  # fmt: skip
    return rows


def markdown(encoders, summary, whisper):
    """The report: one row per voice (both encoders' same / other / accuracy, Whisper's CER / WER),
    then the totals."""
    lines = ["| voice | Resemblyzer same | other | id | CAM++ same | other | id | CER | WER |",
             "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for voice in whisper:
        r, c, w = encoders["speaker_similarity"][voice], encoders["campplus_similarity"][voice], whisper[voice]
        lines.append(f"| {voice} | {r['same']:.3f} | {r['other']:.3f} | {r['accuracy']:.2f} | {c['same']:.3f} | "
                     f"{c['other']:.3f} | {c['accuracy']:.2f} | {w['cer']:.3f} | {w['wer']:.3f} |")  # fmt: skip
    lines += ["", "| judge | same voice | other voices | EER | id accuracy |", "|---|---|---|---|---|"]
    for metric, s in summary.items():
        lines.append(f"| {judges.JUDGE_OF[metric]} | {s['same']['mean']:.3f} | {s['other']['mean']:.3f} | "
                     f"{100 * s['eer']:.1f} % | {s['accuracy']:.3f} |")  # fmt: skip
    cer = mean_interval([w["cer"] for w in whisper.values()])
    lines += ["", f"Whisper tiny.en over the voices: CER {cer['mean']:.3f} [{cer['low']:.3f}, {cer['high']:.3f}] "
              f"(per voice {min(w['cer'] for w in whisper.values()):.3f} to {max(w['cer'] for w in whisper.values()):.3f})"]
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=None, help="an offline corpus: its held-out speakers are the voices")
    parser.add_argument("--voice", action="append", default=[], help="a clips folder with metadata.csv (repeatable)")
    parser.add_argument("--clips", type=int, default=10, help="clips per voice (default 10)")
    parser.add_argument("--out", required=True, help="output folder (judges.json, judges.md)")
    args = parser.parse_args()
    judges.check_installed()
    clips = voice_clips(args.corpus, args.voice, args.clips)
    if len(clips) < 2 or min(len(c) for c in clips.values()) < 2:
        raise SystemExit("need two or more voices of two or more clips each (--corpus and/or --voice)")
    embeddings = {v: [judges.file_embeddings(c["path"]) for c in cs] for v, cs in clips.items()}
    encoders, summary = {}, {}
    for metric in judges.SIMILARITY_METRICS:
        encoders[metric], summary[metric] = encoder_scores(embeddings, metric)
    whisper = whisper_scores(clips)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "judges.json"), "w", encoding="utf-8") as f:
        json.dump({"encoders": encoders, "summary": summary, "whisper": whisper}, f, indent=2)
    text = markdown(encoders, summary, whisper)
    with open(os.path.join(args.out, "judges.md"), "w", encoding="utf-8") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
