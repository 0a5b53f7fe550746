"""Does the pre-trained multi-speaker model speak its own training speakers, by each judge?

For each of ``--speakers`` training speakers (drawn with ``--seed``), synthesise ``--sentences``
unseen sentences (taken from the speaker's last clips, whose text the model trained on but whose
audio is the reference here) with Coqui's ``Synthesizer`` and the speaker's d-vector, and score each
clip by every judge of :mod:`tts_maml.judges`: ``speaker_similarity`` (Resemblyzer) and
``campplus_similarity`` (CAM++), the cosine to that encoder's mean embedding of the speaker's real
clips, and ``cer`` / ``wer`` (Whisper tiny.en; lower is better) against the sentence it should say:

- ceiling: a similarity of the speaker's own real clips (leave-one-out); an error rate of the real
  clip of the same sentence;
- floor: a similarity of a real clip of each other sampled speaker (their mean); an error rate of
  the real clip of the sentence against each other sentence scored for the speaker (a real clip
  saying the wrong words; NaN with ``--sentences 1``);
- model: the synthesised clips;
- Griffin-Lim ceiling: the real clips of those sentences turned into the model's mel spectrogram and
  back with its own Griffin-Lim (``AudioProcessor``), scored against each encoder's centroid of the
  speaker's other clips and against the sentence: the best a perfect acoustic model could score
  through this vocoder;
- MCD: mel-cepstral distortion (dB, after DTW) of the synthesised clip against the real clip of the
  same sentence, a measure independent of the judges.

In ``base_speaks.json`` a row keeps Resemblyzer's columns under their names from before the other
judges (``floor``, ``model``, ``griffin_lim_ceiling``, ``ceiling``), so that
``benchmarks/paired.py`` reads old and new files alike; each other judge's metric ``M`` has ``M``
(the model: ``paired.py --metric M`` compares it) and ``M_floor``, ``M_griffin_lim_ceiling``,
``M_ceiling``. The markdown has one table per judge's metric and one of MCD.

``--noise-scale`` overrides Glow-TTS's inference noise scale (the config's ``inference_noise_scale``),
``--power`` Griffin-Lim's magnitude exponent (the config's ``audio.power``; Coqui's default 1.5),
``--griffin-lim-iters`` its number of iterations (the config's ``audio.griffin_lim_iters``; Coqui's 60).

Over-smoothing, measured: the *global variance* ratio is the per-mel-bin standard deviation over
time of the real clips' mel spectrograms over that of the model's (mean over bins and clips; 1.0
= as varied as real speech). ``--global-variance A`` is a diagnostic, not a setting of the model:
it scales every synthesised mel's deviations from its own per-bin mean by ``A`` before Griffin-Lim
(the global-variance post-filter of statistical parametric synthesis), to measure how much of the
gap to the Griffin-Lim ceiling is over-smoothing. Coqui's ``tts`` applies no such filter.

Writes a JSON and a markdown table, and a spectrogram PNG of one synthesised clip beside the real one.

    python benchmarks/base_speaks.py --run RUN_FOLDER --checkpoint checkpoint_N.pth --out base_speaks/
"""

import argparse
import json
import math
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Sequence, Tuple

import numpy as np
import soundfile as sf
import torch
from _common import training_speakers

from tts_maml import judges

# The columns of each judge's metric, and their titles in the markdown.
COLUMNS = {"floor": "floor", "model": "pre-trained model", "griffin_lim_ceiling": "Griffin-Lim ceiling",
           "ceiling": "ceiling"}  # fmt: skip


def mean_ci(values):
    """(mean, half-width of the 95% t-interval) of ``values``, by ``tts_maml.evaluate.evaluation.mean_interval``."""
    from tts_maml.evaluate.evaluation import mean_interval

    interval = mean_interval(values)
    return interval["mean"], (interval["high"] - interval["low"]) / 2


def column(metric: str, name: str) -> str:
    """The key in a row of ``base_speaks.json`` of ``metric``'s column ``name`` (of :data:`COLUMNS`):
    Resemblyzer's keep their old names (``model``, ...), another metric ``M`` is ``M`` and ``M_<name>``."""
    if metric == "speaker_similarity":
        return name
    return metric if name == "model" else f"{metric}_{name}"


def judge_file(path: str, text: str, centroid: Dict[str, np.ndarray]) -> Dict[str, float]:
    """Every judge's score (:func:`tts_maml.judges.judge`) of an audio file as it was written."""
    wav, rate = sf.read(path, dtype="float32", always_2d=True)
    return judges.judge(wav.mean(axis=1), rate, text, centroid)


def transcribe_file(path: str) -> str:
    """What Whisper hears in an audio file (:func:`tts_maml.judges.transcribe`)."""
    wav, rate = sf.read(path, dtype="float32", always_2d=True)
    return judges.transcribe(wav.mean(axis=1), rate)


@dataclass
class Speaking:
    """What every speaker's measure shares: Coqui's ``Synthesizer`` and its ``AudioProcessor``, its
    Griffin-Lim without the diagnostic post-filter (``to_wav``), Coqui's speaker names by folder, and
    the mel spectrograms kept for the global variance ratio."""

    synth: Any
    ap: Any
    to_wav: Callable[[np.ndarray], np.ndarray]
    names: Dict[str, str]
    args: argparse.Namespace
    synthesised_mels: List[np.ndarray] = field(default_factory=list)
    real_mels: List[np.ndarray] = field(default_factory=list)


def load_speaking(args: argparse.Namespace) -> Speaking:
    """The synthesiser of ``--run`` / ``--checkpoint`` with the flags' overrides; every mel it
    synthesises is kept and passes the ``--global-variance`` post-filter."""
    from TTS.utils.synthesizer import Synthesizer

    config_path = os.path.join(args.run, "config.json")
    synth = Synthesizer(tts_checkpoint=os.path.join(args.run, args.checkpoint), tts_config_path=config_path)
    if args.noise_scale is not None:
        synth.tts_model.inference_noise_scale = args.noise_scale
    ap = synth.tts_model.ap
    if args.power is not None:
        ap.power = args.power
    if args.griffin_lim_iters is not None:
        ap.griffin_lim_iters = args.griffin_lim_iters
    # Coqui's vctk formatter names a speaker folder `spk` as `VCTK_spk`.
    names = {n.split("_", 1)[-1]: n for n in synth.tts_model.speaker_manager.speaker_names}
    # The real clips' Griffin-Lim ceiling calls Griffin-Lim directly, without the post-filter.
    speaking = Speaking(synth, ap, ap.inv_melspectrogram, names, args)

    def post_filtered(mel):  # every synthesised mel passes here (Coqui's synthesis calls it)
        speaking.synthesised_mels.append(np.asarray(mel))
        mean = speaking.synthesised_mels[-1].mean(axis=1, keepdims=True)
        return speaking.to_wav(mean + args.global_variance * (speaking.synthesised_mels[-1] - mean))

    ap.inv_melspectrogram = post_filtered
    return speaking


def speaker_row(speaking: Speaking, spk: str, folder: str, rivals: Sequence[Dict[str, np.ndarray]],
                plot: bool = False) -> Dict[str, Any]:  # fmt: skip
    """One training speaker's row: every judge's floor, model, Griffin-Lim ceiling and ceiling
    (:func:`column` names the keys) and the MCD; ``rivals`` are the other speakers' first clips'
    embeddings (:func:`tts_maml.judges.file_embeddings`), ``plot`` draws the first sentence."""
    from tts_maml.corpus.build import read_clips_metadata
    from tts_maml.plots import plot_spectrograms
    from tts_maml.evaluate.metrics import mel_cepstral_distortion

    ap, args = speaking.ap, speaking.args
    clips = read_clips_metadata(folder)
    embeddings = [judges.file_embeddings(c["path"]) for c in clips]
    centroid, n = judges.centroids(embeddings), len(clips)

    def without(e):  # each encoder's centroid of the speaker's other clips (leave one out)
        return {m: (centroid[m] * n - e[m]) / (n - 1) for m in judges.SIMILARITY_METRICS}

    scores = {m: {c: [] for c in COLUMNS} for m in judges.METRICS}
    for m in judges.SIMILARITY_METRICS:
        scores[m]["ceiling"] = [judges.cosine(e[m], without(e)[m]) for e in embeddings]
        # The floor: the first clip of every other sampled speaker against this speaker's centroid.
        scores[m]["floor"] = [judges.cosine(r[m], centroid[m]) for r in rivals]
    chosen = range(n - args.sentences, n)
    heard = {k: transcribe_file(clips[k]["path"]) for k in chosen}
    mcds = []
    for j, k in enumerate(chosen):
        text = clips[k]["text"]
        judged = {"ceiling": [judges.error_rates(text, heard[k])],
                  "floor": [judges.error_rates(clips[o]["text"], heard[k]) for o in chosen if o != k]}  # fmt: skip
        real = ap.load_wav(clips[k]["path"])
        speaking.real_mels.append(ap.melspectrogram(real))
        gl_path = os.path.join(args.out, f"{spk}_{j}_griffin_lim.wav")
        sf.write(gl_path, speaking.to_wav(speaking.real_mels[-1]).astype(np.float32), ap.sample_rate)
        judged["griffin_lim_ceiling"] = [judge_file(gl_path, text, without(embeddings[k]))]
        torch.manual_seed(args.seed + j)
        wav = np.asarray(speaking.synth.tts(text, speaker_name=speaking.names[spk]), dtype=np.float32)
        path = os.path.join(args.out, f"{spk}_{j}.wav")
        sf.write(path, wav, speaking.synth.output_sample_rate)
        judged["model"] = [judge_file(path, text, centroid)]
        mcds.append(mel_cepstral_distortion(real, wav, ap.sample_rate))
        for name, found in judged.items():  # the real clip's ceiling and floor here are the error rates'
            for metric, value in ((m, v) for s in found for m, v in s.items()):
                scores[metric][name].append(value)
        if plot and j == 0:
            plot_spectrograms({f"synthesised ({spk})": path, f"real ({spk})": clips[k]["path"]},
                              os.path.join(args.out, "spectrograms.png"), text)  # fmt: skip
    row: Dict[str, Any] = {"speaker": spk, "mcd": float(np.mean(mcds))}
    for metric, by_column in scores.items():
        row.update({column(metric, c): float(np.mean(v)) if v else math.nan for c, v in by_column.items()})
    return row


def _cell(value: Tuple[float, float], digits: int = 3) -> str:
    # "mean ± half-width", n/a for a column no speaker has (an error rate's floor of one sentence).
    if not math.isfinite(value[0]):
        return "n/a"
    return f"{value[0]:.{digits}f} ± {value[1]:.{digits}f}"


def _title(metric: str) -> str:
    better = "lower" if metric in judges.LOWER_IS_BETTER else "higher"
    return f"{metric} ({judges.JUDGE_OF[metric]}; {better} is better)"


def markdown(rows: Sequence[Dict[str, Any]], summary: Dict[str, Tuple[float, float]], gv_ratio: float,
             global_variance: float) -> str:  # fmt: skip
    """One table per judge's metric (a row per speaker, the mean ± half-width of the 95% interval),
    one of MCD, and the global variance ratio."""
    lines = ["Floor: a similarity of a real clip of each other sampled speaker; an error rate of the real clip "
             "against another of the speaker's sentences. Ceiling: a similarity of the speaker's real clips "
             "(leave one out); an error rate of the real clip of the sentence.", ""]  # fmt: skip
    for metric in judges.METRICS:
        keys = [column(metric, c) for c in COLUMNS]
        lines += [f"### {_title(metric)}", "", "| speaker | " + " | ".join(COLUMNS.values()) + " |",
                  "|---|---|---|---|---|"]  # fmt: skip
        lines += ["| " + " | ".join([r["speaker"]] + [f"{r[k]:.3f}" if math.isfinite(r[k]) else "n/a" for k in keys])
                  + " |" for r in rows]  # fmt: skip
        means = [f"**{_cell(summary[k])}**" if c == "model" else _cell(summary[k]) for c, k in zip(COLUMNS, keys)]
        lines += ["| **mean (95% interval)** | " + " | ".join(means) + " |", ""]
    lines += ["### MCD (dB, after DTW, against the real clip of the sentence; lower is better)", "",
              "| speaker | pre-trained model |", "|---|---|"]  # fmt: skip
    lines += [f"| {r['speaker']} | {r['mcd']:.2f} |" for r in rows]
    lines += [f"| **mean (95% interval)** | **{_cell(summary['mcd'], 2)}** |", ""]
    lines += [f"Global variance ratio (real / synthesised mel, std over time per bin): {gv_ratio:.2f}"
              + (f"; synthesised mels scaled by {global_variance:g} (diagnostic)" if global_variance != 1 else "")]
    return "\n".join(lines)


def first_clip(folder: str) -> str:
    """The first FLAC of a speaker's folder, in name order (the floor's clip of that speaker)."""
    return os.path.join(folder, sorted(f for f in os.listdir(folder) if f.endswith(".flac"))[0])


def parse_args() -> argparse.Namespace:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="the pre-training run folder (config.json, checkpoints)")
    parser.add_argument("--checkpoint", required=True, help="checkpoint file name in --run")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--speakers", type=int, default=8)
    parser.add_argument("--sentences", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--noise-scale", type=float, default=None,
                        help="inference noise scale (default: the config's inference_noise_scale)")  # fmt: skip
    parser.add_argument("--power", type=float, default=None,
                        help="Griffin-Lim magnitude exponent (default: the config's audio.power)")  # fmt: skip
    parser.add_argument("--griffin-lim-iters", type=int, default=None,
                        help="Griffin-Lim iterations (default: the config's audio.griffin_lim_iters; Coqui's 60)")  # fmt: skip
    parser.add_argument("--global-variance", type=float, default=1.0,
                        help="diagnostic: scale each synthesised mel's deviations from its per-bin mean by this")  # fmt: skip
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    from tts_maml.corpus.build import WAV_DIR

    judges.check_installed()  # a missing judge fails here, not after the synthesiser has loaded
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.run, "config.json"), encoding="utf-8") as f:
        config = json.load(f)
    speaking = load_speaking(args)
    wav_root = os.path.join(config["datasets"][0]["path"], WAV_DIR)
    speakers = training_speakers(config["datasets"][0]["path"], args.speakers, args.seed)
    first = {o: judges.file_embeddings(first_clip(os.path.join(wav_root, o))) for o in speakers}
    rows = [speaker_row(speaking, spk, os.path.join(wav_root, spk), [first[o] for o in speakers if o != spk], i == 0)
            for i, spk in enumerate(speakers)]  # fmt: skip
    summary = {k: mean_ci([r[k] for r in rows]) for k in rows[0] if k != "speaker"}
    gv_ratio = float(np.mean([m.std(axis=1) for m in speaking.real_mels])
                     / np.mean([m.std(axis=1) for m in speaking.synthesised_mels]))  # fmt: skip
    ap = speaking.ap
    result = {"run": args.run, "checkpoint": args.checkpoint,
              "noise_scale": speaking.synth.tts_model.inference_noise_scale, "power": ap.power,
              "griffin_lim_iters": ap.griffin_lim_iters, "global_variance": args.global_variance,
              "global_variance_ratio": gv_ratio, "speakers": rows, "summary": summary}  # fmt: skip
    with open(os.path.join(args.out, "base_speaks.json"), "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2)
    table = markdown(rows, summary, gv_ratio, args.global_variance)
    with open(os.path.join(args.out, "base_speaks.md"), "w", encoding="utf-8") as f:
        f.write(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
