"""How much of each voice survives the model's own vocoder, at several Griffin-Lim exponents?

Every clip of each voice (the corpus's test speakers and any ``--voice`` clips folder) is turned
into the model's mel spectrogram and back with its Griffin-Lim
(:func:`tts_maml.evaluate.vocoder_ceiling.round_trip`, the config's audio settings with
``audio.power`` set to each of ``--powers``), and scored by Resemblyzer against the centroid of the
voice's other clips (leave one out). Beside it, the *ceiling*: the real clip itself against the
same centroid. What a voice keeps through the round trip is the most a perfect acoustic model could
score for it through this vocoder: no adaptation can pass it. ``tts-maml evaluate`` reports the same
measure at the model's own exponent on its query clips.

    python benchmarks/vocoder_ceiling.py --config_path tts_maml/models/glow_tts_dvector_meta/config.json \
        --corpus ~/.cache/tts_maml/corpus-240x20-h16-s0 --voice demo_out/sources/outside --out vocoder_ceiling
"""

import argparse
import json
import os
import sys
import zlib

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tts_maml.adapt.clips import read_clips  # noqa: E402
from tts_maml.corpus.speaker_split import held_out_samples, split_dev_test  # noqa: E402
from tts_maml.evaluate.evaluation import mean_interval  # noqa: E402
from tts_maml.evaluate.vocoder_ceiling import round_trip  # noqa: E402
from tts_maml.speakers.similarity import cosine, embed  # noqa: E402


def voice_scores(wavs, ap, powers):
    """``{"ceiling": ..., power: ...}``: the mean over clips of each clip (and its round trip at each
    exponent) against the centroid of the voice's other clips."""
    real = [embed(w, r) for w, r in wavs]
    total = np.sum(real, axis=0)
    others = [(total - e) / (len(real) - 1) for e in real]
    scores = {"ceiling": float(np.mean([cosine(e, o) for e, o in zip(real, others)]))}
    for power in powers:
        ap.power = power
        trips = []
        for i, ((w, r), o) in enumerate(zip(wavs, others)):
            np.random.seed(zlib.crc32(f"{power}\n{i}".encode()))  # Griffin-Lim's random start phases
            trips.append(cosine(embed(round_trip(ap, w, r), ap.sample_rate), o))
        scores[str(power)] = float(np.mean(trips))
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config_path", required=True, help="the model's config.json (its audio settings)")
    parser.add_argument("--corpus", default=None, help="an offline corpus: its test speakers are measured")
    parser.add_argument("--voice", action="append", default=[], help="a clips folder (repeatable)")
    parser.add_argument("--powers", default="1.0,1.1,1.25,1.5", help="Griffin-Lim exponents (audio.power)")
    parser.add_argument("--out", required=True, help="output folder (vocoder_ceiling.json, vocoder_ceiling.md)")
    args = parser.parse_args()

    import soundfile as sf
    from TTS.config import load_config
    from TTS.tts.utils.text.tokenizer import TTSTokenizer
    from TTS.utils.audio import AudioProcessor

    config = load_config(args.config_path)
    ap = AudioProcessor(config.audio)
    own = float(config.audio.power)
    powers = sorted({float(p) for p in args.powers.split(",")} | {own})
    voices = {}
    if args.corpus:
        samples = held_out_samples(args.corpus)
        _, test = split_dev_test(s["speaker_name"] for s in samples)
        for speaker in test:
            voices[speaker] = [sf.read(s["audio_file"], dtype="float32") for s in samples if s["speaker_name"] == speaker]
    tokenizer, config = TTSTokenizer.init_from_config(config)
    for folder in args.voice:
        clips = read_clips(folder, config, tokenizer, ap)
        voices[os.path.basename(os.path.normpath(folder))] = [(c.wav, int(config.audio.sample_rate)) for c in clips]
    rows = {name: voice_scores(wavs, ap, powers) for name, wavs in voices.items()}
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "vocoder_ceiling.json"), "w", encoding="utf-8") as f:
        json.dump({"config_path": os.path.abspath(args.config_path), "own_power": own, "voices": rows}, f, indent=2)
    header = ["voice", "ceiling (real clips)"] + [f"Griffin-Lim, power {p:g}" + (" (the model's)" if p == own else "")
                                                  for p in powers]  # fmt: skip
    lines = [[name, f"{r['ceiling']:.3f}"] + [f"{r[str(p)]:.3f}" for p in powers] for name, r in rows.items()]
    if args.corpus:
        test = [r for name, r in rows.items() if name not in {os.path.basename(os.path.normpath(v)) for v in args.voice}]
        mean = {k: mean_interval([r[k] for r in test]) for k in ["ceiling"] + [str(p) for p in powers]}
        lines.append([f"**test speakers ({len(test)}), mean [95% interval]**"]
                     + [f"{m['mean']:.3f} [{m['low']:.3f}, {m['high']:.3f}]" for m in mean.values()])  # fmt: skip
    md = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(r) + " |" for r in lines]
    with open(os.path.join(args.out, "vocoder_ceiling.md"), "w", encoding="utf-8") as f:
        f.write("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
