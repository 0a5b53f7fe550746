"""Does adaptation fall short on new speakers because they are new? Seen against unseen speakers.

Runs ``tts-maml evaluate``'s protocol (5 support clips, 3 unseen sentences, ``--seeds`` seeds, the
listed steps) on two sets of voices given as clips folders (``--voice``), so that both go through
the same clip intake:

- *seen*: ``--speakers`` training speakers of the corpus (drawn with ``--seed`` by
  ``_common.training_speakers``, as ``benchmarks/base_speaks.py`` draws them), which pre-training and meta-training both saw;
- *unseen*: the corpus's test speakers (``tts_maml.corpus.speaker_split.split_dev_test``).

If the seen speakers score well above the unseen ones, more (or more varied) training speakers are
the lever; if they score alike, the limit is the acoustic model and vocoder themselves.

    python benchmarks/seen_unseen.py --model_path tts_maml/models/glow_tts_dvector_meta/model.pth \\
        --config_path tts_maml/models/glow_tts_dvector_meta/config.json \\
        --corpus ~/.cache/tts_maml/corpus-240x20-h16-s0 --out seen_unseen     # about 15 min on 2 cores

Writes ``OUT/voices/{seen,unseen}/<speaker>/`` (links to the corpus clips and transcripts), the two
``evaluate`` reports ``OUT/{seen,unseen}/`` and ``OUT/seen_unseen.md``: for each judge's metric
(:mod:`tts_maml.judges`: ``speaker_similarity`` by Resemblyzer, ``campplus_similarity`` by CAM++,
``cer`` and ``wer`` by Whisper tiny.en, lower is better) and for ``mcd``, the seen and unseen
speakers side by side at no clips and at each step; then each judge's bounds on the real clips,
seen beside unseen: the floor, the Griffin-Lim ceiling and the ceiling of ``evaluate``'s
``results["voices"][name]["bounds"]``. Every number is the mean over speakers of each speaker's
mean over seeds, with a 95% Student t-interval over speakers. ``evaluate`` runs these clips folders
without a corpus, so there are no test speakers to draw a similarity's floor from: it shows as
n/a (the error rates' floor, a real clip against another sentence, is there).
"""

import argparse
import json
import os

from _common import training_speakers

from tts_maml import judges
from tts_maml.corpus.build import HELD_OUT_DIR, TXT_DIR, WAV_DIR
from tts_maml.corpus.speaker_split import split_dev_test
from tts_maml.demo.commands import console_script, run_logged
from tts_maml.evaluate.evaluation import mean_interval

METRICS = judges.METRICS + ("mcd",)
# evaluate's bounds of each judge's metric, in the order the table shows them.
BOUNDS = {"floor": "floor", "vocoder_ceiling": "Griffin-Lim ceiling", "ceiling": "ceiling (real clips)"}


def voice_folder(corpus: str, speaker: str, out: str) -> str:
    """``out/<speaker>/``: a link per clip (``sp000_001.flac``) and per transcript (``sp000_001.txt``)."""
    folder = os.path.join(out, speaker)
    os.makedirs(folder, exist_ok=True)
    for name in sorted(os.listdir(os.path.join(corpus, WAV_DIR, speaker))):
        if not name.endswith("_mic1.flac"):
            continue
        stem = name[: -len("_mic1.flac")]
        for source, target in ((os.path.join(corpus, WAV_DIR, speaker, name), stem + ".flac"),
                               (os.path.join(corpus, TXT_DIR, speaker, stem + ".txt"), stem + ".txt")):  # fmt: skip
            link = os.path.join(folder, target)
            if not os.path.lexists(link):
                os.symlink(os.path.abspath(source), link)
    return folder


def interval(values):
    """``mean [low, high]`` of :func:`tts_maml.evaluate.evaluation.mean_interval` (95%)."""
    i = mean_interval(values)
    if i["n"] == 0:
        return "n/a"
    return f"{i['mean']:.3f} [{i['low']:.3f}, {i['high']:.3f}]"


def rows(results_path: str):
    """``{metric: {"no clips" | step: interval over the voices}, "bounds": {judge metric: {"floor" |
    "vocoder_ceiling" | "ceiling": interval over the voices}}}`` of one ``evaluate`` run (its
    ``results.json``); an interval is :func:`interval`'s text, n/a where no voice has the number."""
    with open(results_path, encoding="utf-8") as f:
        results = json.load(f)
    voices = list(results["voices"].values())
    table = {"bounds": {m: {b: interval([v["bounds"][m][b]["mean"] for v in voices]) for b in BOUNDS}
                        for m in judges.METRICS}}  # fmt: skip
    for metric in METRICS:
        table[metric] = {"no clips": interval([v["no_clips"]["meta"][metric]["mean"] for v in voices])}
        for i, step in enumerate(results["protocol"]["steps"]):
            table[metric][step] = interval([v["summary"]["meta"][metric]["mean"][i] for v in voices])
    return table


def title(metric: str) -> str:
    """``metric`` with its judge and which way is better (``cer (Whisper tiny.en; lower is better)``)."""
    if metric not in judges.JUDGE_OF:
        return f"{metric} (lower is better)" if metric == "mcd" else metric
    better = "lower" if metric in judges.LOWER_IS_BETTER else "higher"
    return f"{metric} ({judges.JUDGE_OF[metric]}; {better} is better)"


def bounds_lines(seen, unseen):
    """The markdown table of each judge's bounds on the real clips (:func:`rows`' ``"bounds"``),
    seen beside unseen."""
    lines = ["The judges on the real clips (floor: a similarity against another speaker, an error rate "
             "against another sentence; Griffin-Lim ceiling: the real clips through the model's mel "
             "spectrogram and Griffin-Lim):", "", "| judge | bound | seen | unseen |", "|---|---|---|---|"]  # fmt: skip
    for metric in judges.METRICS:
        lines += [f"| {title(metric)} | {name} | {seen[metric][b]} | {unseen[metric][b]} |"
                  for b, name in BOUNDS.items()]  # fmt: skip
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model_path", required=True)
    parser.add_argument("--config_path", required=True)
    parser.add_argument("--corpus", required=True, help="a built-in offline corpus (with a held_out/ folder)")
    parser.add_argument("--out", required=True)
    parser.add_argument("--speakers", type=int, default=8, help="training speakers drawn (default 8)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the training-speaker draw")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", default="0,5,20")
    args = parser.parse_args()

    corpus = os.path.expanduser(args.corpus)
    held_out = os.path.join(corpus, HELD_OUT_DIR)
    seen = training_speakers(corpus, args.speakers, args.seed)
    unseen = split_dev_test(sorted(os.listdir(os.path.join(held_out, WAV_DIR))))[1]
    os.makedirs(args.out, exist_ok=True)
    log = os.path.join(args.out, "evaluate.log")
    tables = {}
    for name, source, speakers in (("seen", corpus, seen), ("unseen", held_out, unseen)):
        folders = [voice_folder(source, s, os.path.join(args.out, "voices", name)) for s in speakers]
        report = os.path.join(args.out, name)
        cmd = [console_script("tts-maml"), "evaluate", "--model_path", args.model_path, "--config_path",
               args.config_path, "--seeds", str(args.seeds), "--steps", args.steps, "--out", report]  # fmt: skip
        for folder in folders:
            cmd += ["--voice", folder]
        seconds = run_logged(cmd, log)
        print(f"{name}: {', '.join(speakers)} ({seconds / 60:.1f} min)", flush=True)
        tables[name] = rows(os.path.join(report, "results.json"))

    lines = [f"# Seen against unseen speakers: {args.model_path}", "",
             f"seen: {', '.join(seen)}; unseen: {', '.join(unseen)}; {args.seeds} seeds; "
             "mean over speakers [95% interval]", ""]  # fmt: skip
    for metric in METRICS:
        lines += [f"{title(metric)}:", "", "| step | seen | unseen |", "|---:|---|---|"]
        lines += [f"| {step} | {tables['seen'][metric][step]} | {tables['unseen'][metric][step]} |"
                  for step in tables["seen"][metric]]  # fmt: skip
        lines.append("")
    lines += bounds_lines(tables["seen"]["bounds"], tables["unseen"]["bounds"])
    text = "\n".join(lines) + "\n"
    with open(os.path.join(args.out, "seen_unseen.md"), "w", encoding="utf-8") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
