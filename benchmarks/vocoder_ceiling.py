"""How much of each voice survives the model's own vocoder, at several Griffin-Lim exponents, by each judge?

Every clip of each voice (the corpus's test speakers and any ``--voice`` clips folder) is turned
into the model's mel spectrogram and back with its Griffin-Lim
(:func:`tts_maml.evaluate.vocoder_ceiling.round_trip`, the config's audio settings with
``audio.power`` set to each of ``--powers``), and scored by every judge of :mod:`tts_maml.judges`:
``speaker_similarity`` (Resemblyzer) and ``campplus_similarity`` (CAM++), each against that
encoder's centroid of the voice's other clips (leave one out), and ``cer`` / ``wer`` (Whisper
tiny.en, lower is better) against the clip's own sentence. Beside them, the *ceiling*: the real clip
itself, scored the same way. What a voice keeps through the round trip is the most a perfect
acoustic model could score for it through this vocoder: no adaptation can pass it. ``tts-maml
evaluate`` reports the same measure at the model's own exponent on its query clips (its
``vocoder_ceiling`` bounds).

Writes ``vocoder_ceiling.json`` (``voices[name][metric]["ceiling" | power]``, the mean over the
voice's clips) and ``vocoder_ceiling.md``: one table per judge's metric, a row per voice, a column
per exponent (and, with ``--corpus``, the mean over the test speakers with a 95% t-interval).

    python benchmarks/vocoder_ceiling.py --config_path tts_maml/models/glow_tts_dvector_meta/config.json \
        --corpus ~/.cache/tts_maml/corpus-240x20-h16-s0 --voice demo_out/sources/outside --out vocoder_ceiling
"""

import argparse
import json
import os
import sys
import zlib
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tts_maml import judges  # noqa: E402
from tts_maml.adapt.clips import read_clips  # noqa: E402
from tts_maml.corpus.speaker_split import held_out_samples, split_dev_test  # noqa: E402
from tts_maml.evaluate.evaluation import mean_interval  # noqa: E402
from tts_maml.evaluate.vocoder_ceiling import round_trip  # noqa: E402

Spoken = Tuple[np.ndarray, int, str]  # (mono audio, its rate, the sentence it says)


def leave_one_out(embeddings: Sequence[Dict[str, np.ndarray]]) -> List[Dict[str, np.ndarray]]:
    """For each clip's ``{encoder metric: embedding}`` (:func:`tts_maml.judges.clip_embeddings`),
    the centroid of the other clips' embeddings, per encoder."""
    if len(embeddings) < 2:
        raise ValueError(f"a leave-one-out centroid needs at least 2 clips, not {len(embeddings)}")
    total = {m: np.sum([e[m] for e in embeddings], axis=0) for m in judges.SIMILARITY_METRICS}
    return [{m: (total[m] - e[m]) / (len(embeddings) - 1) for m in judges.SIMILARITY_METRICS} for e in embeddings]


def voice_scores(clips: Sequence[Spoken], ap: Any, powers: Sequence[float]) -> Dict[str, Dict[str, float]]:
    """``{metric: {"ceiling": ..., str(power): ...}}`` for every judge's metric: the mean over clips
    of each real clip (and of its round trip at each exponent) as the judges score it, against the
    centroids of the voice's other clips and the clip's own sentence."""
    real = [judges.clip_embeddings(w, r) for w, r, _ in clips]
    others = leave_one_out(real)
    ceiling = [{**{m: judges.cosine(e[m], o[m]) for m in judges.SIMILARITY_METRICS},
                **judges.error_rates(text, judges.transcribe(w, r))}
               for (w, r, text), e, o in zip(clips, real, others)]  # fmt: skip
    columns = {"ceiling": ceiling}
    for power in powers:
        ap.power = power
        trips = []
        for i, ((w, r, text), o) in enumerate(zip(clips, others)):
            np.random.seed(zlib.crc32(f"{power}\n{i}".encode()))  # Griffin-Lim's random start phases
            trips.append(judges.judge(round_trip(ap, w, r), ap.sample_rate, text, o))
        columns[str(power)] = trips
    return {m: {k: float(np.mean([s[m] for s in scores])) for k, scores in columns.items()} for m in judges.METRICS}


def read_voices(corpus: Optional[str], folders: Sequence[str], config: Any, ap: Any) -> Dict[str, List[Spoken]]:
    """``{voice: clips}``: the test speakers of ``corpus`` (their files as they are) and each clips
    folder (as ``tts-maml adapt`` reads it, at the model's rate); a voice needs 2 clips or more."""
    import soundfile as sf
    from TTS.tts.utils.text.tokenizer import TTSTokenizer

    voices: Dict[str, List[Spoken]] = {}
    if corpus:
        samples = held_out_samples(corpus)
        _, test = split_dev_test(s["speaker_name"] for s in samples)
        for speaker in test:
            voices[speaker] = [(*sf.read(s["audio_file"], dtype="float32"), s["text"])
                               for s in samples if s["speaker_name"] == speaker]  # fmt: skip
    tokenizer, config = TTSTokenizer.init_from_config(config)
    for folder in folders:
        clips = read_clips(folder, config, tokenizer, ap)
        voices[voice_name(folder)] = [(c.wav, int(config.audio.sample_rate), c.text) for c in clips]
    for name, clips in voices.items():
        if len(clips) < 2:
            raise ValueError(f"voice {name}: {len(clips)} clip, and the leave-one-out centroid needs 2 or more")
    return voices


def voice_name(folder: str) -> str:
    """A clips folder's voice name: the folder's own name."""
    return os.path.basename(os.path.normpath(folder))


def _title(metric: str) -> str:
    better = "lower" if metric in judges.LOWER_IS_BETTER else "higher"
    return f"{metric} ({judges.JUDGE_OF[metric]}; {better} is better)"


def markdown(rows: Dict[str, Dict[str, Dict[str, float]]], powers: Sequence[float], own: float,
             test: Sequence[str]) -> List[str]:  # fmt: skip
    """One table per judge's metric: a row per voice, the ceiling and a column per exponent; with
    ``test`` speakers, their mean [95% interval]."""
    header = ["voice", "ceiling (real clips)"] + [f"Griffin-Lim, power {p:g}" + (" (the model's)" if p == own else "")
                                                  for p in powers]  # fmt: skip
    keys = ["ceiling"] + [str(p) for p in powers]
    md: List[str] = []
    for metric in judges.METRICS:
        lines = [[name, *(f"{r[metric][k]:.3f}" for k in keys)] for name, r in rows.items()]
        if test:
            means = [mean_interval([rows[name][metric][k] for name in test]) for k in keys]
            lines.append([f"**test speakers ({len(test)}), mean [95% interval]**"]
                         + [f"{m['mean']:.3f} [{m['low']:.3f}, {m['high']:.3f}]" for m in means])  # fmt: skip
        md += [f"### {_title(metric)}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        md += ["| " + " | ".join(r) + " |" for r in lines] + [""]
    return md


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config_path", required=True, help="the model's config.json (its audio settings)")
    parser.add_argument("--corpus", default=None, help="an offline corpus: its test speakers are measured")
    parser.add_argument("--voice", action="append", default=[], help="a clips folder (repeatable)")
    parser.add_argument("--powers", default="1.0,1.1,1.25,1.5", help="Griffin-Lim exponents (audio.power)")
    parser.add_argument("--out", required=True, help="output folder (vocoder_ceiling.json, vocoder_ceiling.md)")
    args = parser.parse_args()

    from TTS.config import load_config
    from TTS.utils.audio import AudioProcessor

    config = load_config(args.config_path)
    ap = AudioProcessor(config.audio)
    own = float(config.audio.power)
    powers = sorted({float(p) for p in args.powers.split(",")} | {own})
    voices = read_voices(args.corpus, args.voice, config, ap)
    rows = {name: voice_scores(clips, ap, powers) for name, clips in voices.items()}
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "vocoder_ceiling.json"), "w", encoding="utf-8") as f:
        json.dump({"config_path": os.path.abspath(args.config_path), "own_power": own, "voices": rows}, f, indent=2)
    folders = {voice_name(v) for v in args.voice}
    md = markdown(rows, powers, own, [name for name in rows if name not in folders] if args.corpus else [])
    with open(os.path.join(args.out, "vocoder_ceiling.md"), "w", encoding="utf-8") as f:
        f.write("\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    main()
