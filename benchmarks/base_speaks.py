"""Does the pre-trained multi-speaker model speak its own training speakers?

For each of ``--speakers`` training speakers (drawn with ``--seed``), synthesise ``--sentences``
unseen sentences (taken from the speaker's last clips, whose text the model trained on but whose
audio is the reference here) with Coqui's ``Synthesizer`` and the speaker's d-vector, and score
Resemblyzer similarity to the mean embedding of the speaker's real clips:

- ceiling: the speaker's own real clips (leave-one-out);
- floor: a real clip of each other sampled speaker (their mean);
- model: the synthesised clips;
- Griffin-Lim ceiling: the real clips of those sentences turned into the model's mel spectrogram and
  back with its own Griffin-Lim (``AudioProcessor``), scored against the centroid of the speaker's
  other clips: the best a perfect acoustic model could score through this vocoder;
- MCD: mel-cepstral distortion (dB, after DTW) of the synthesised clip against the real clip of the
  same sentence, a measure independent of the speaker encoder.

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
import os

import numpy as np
import soundfile as sf
import torch
from _common import training_speakers


def mean_ci(values):
    """(mean, half-width of the 95% t-interval) of ``values``, by ``tts_maml.evaluate.evaluation.mean_interval``."""
    from tts_maml.evaluate.evaluation import mean_interval

    interval = mean_interval(values)
    return interval["mean"], (interval["high"] - interval["low"]) / 2


def main() -> None:
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
    args = parser.parse_args()

    from TTS.utils.synthesizer import Synthesizer

    from tts_maml.corpus.build import WAV_DIR, read_clips_metadata
    from tts_maml.demo.spectrograms import plot_spectrograms
    from tts_maml.evaluate.metrics import mel_cepstral_distortion
    from tts_maml.speakers.similarity import cosine, embed_file

    os.makedirs(args.out, exist_ok=True)
    config_path = os.path.join(args.run, "config.json")
    with open(config_path, encoding="utf-8") as f:
        config = json.load(f)
    synth = Synthesizer(tts_checkpoint=os.path.join(args.run, args.checkpoint), tts_config_path=config_path)
    if args.noise_scale is not None:
        synth.tts_model.inference_noise_scale = args.noise_scale
    ap = synth.tts_model.ap
    if args.power is not None:
        ap.power = args.power
    if args.griffin_lim_iters is not None:
        ap.griffin_lim_iters = args.griffin_lim_iters
    synthesised_mels = []
    to_wav = ap.inv_melspectrogram  # the real clips' Griffin-Lim ceiling calls it directly

    def post_filtered(mel):  # every synthesised mel passes here (Coqui's synthesis calls it)
        synthesised_mels.append(np.asarray(mel))
        mean = synthesised_mels[-1].mean(axis=1, keepdims=True)
        return to_wav(mean + args.global_variance * (synthesised_mels[-1] - mean))

    ap.inv_melspectrogram = post_filtered
    corpus = config["datasets"][0]["path"]
    wav_root = os.path.join(corpus, WAV_DIR)
    speakers = training_speakers(corpus, args.speakers, args.seed)
    first_clip = {o: os.path.join(wav_root, o, sorted(f for f in os.listdir(os.path.join(wav_root, o))
                                                   if f.endswith(".flac"))[0]) for o in speakers}  # fmt: skip
    first_embedding = {o: embed_file(path) for o, path in first_clip.items()}
    # Coqui's vctk formatter names a speaker folder `spk` as `VCTK_spk`.
    names = {n.split("_", 1)[-1]: n for n in synth.tts_model.speaker_manager.speaker_names}
    rows, real_mels = [], []
    for i, spk in enumerate(speakers):
        folder = os.path.join(wav_root, spk)
        clips = read_clips_metadata(folder)
        meta = [(c["id"], c["text"]) for c in clips]
        files = [c["path"] for c in clips]
        embeddings = np.stack([embed_file(p) for p in files])
        centroid = embeddings.mean(axis=0)

        def without(e):  # the centroid of the speaker's other clips (leave one out)
            return (centroid * len(files) - e) / (len(files) - 1)

        ceiling = float(np.mean([cosine(e, without(e)) for e in embeddings]))
        # The floor: the first clip of every other sampled speaker against this speaker's centroid.
        floor = float(np.mean([cosine(first_embedding[o], centroid) for o in speakers if o != spk]))
        scores, resynthesised, mcds = [], [], []
        for j, (clip_id, text) in enumerate(meta[-args.sentences :]):
            k = len(meta) - args.sentences + j
            real = ap.load_wav(files[k])
            real_mels.append(ap.melspectrogram(real))
            gl_path = os.path.join(args.out, f"{spk}_{j}_griffin_lim.wav")
            sf.write(gl_path, to_wav(real_mels[-1]).astype(np.float32), ap.sample_rate)
            resynthesised.append(cosine(embed_file(gl_path), without(embeddings[k])))
            torch.manual_seed(args.seed + j)
            wav = synth.tts(text, speaker_name=names[spk])
            path = os.path.join(args.out, f"{spk}_{j}.wav")
            sf.write(path, np.asarray(wav, dtype=np.float32), synth.output_sample_rate)
            scores.append(cosine(embed_file(path), centroid))
            mcds.append(mel_cepstral_distortion(real, np.asarray(wav, dtype=np.float32), ap.sample_rate))
            if i == 0 and j == 0:
                plot_spectrograms({f"synthesised ({spk})": path, f"real ({spk})": os.path.join(folder, clip_id + ".flac")},
                                  os.path.join(args.out, "spectrograms.png"), text)  # fmt: skip
        rows.append({"speaker": spk, "floor": floor, "model": float(np.mean(scores)), "mcd": float(np.mean(mcds)),
                     "griffin_lim_ceiling": float(np.mean(resynthesised)), "ceiling": ceiling})  # fmt: skip
    summary = {k: mean_ci([r[k] for r in rows]) for k in ("floor", "model", "griffin_lim_ceiling", "ceiling", "mcd")}
    gv_ratio = float(np.mean([m.std(axis=1) for m in real_mels]) / np.mean([m.std(axis=1) for m in synthesised_mels]))
    result = {"run": args.run, "checkpoint": args.checkpoint, "noise_scale": synth.tts_model.inference_noise_scale,
              "power": ap.power, "griffin_lim_iters": ap.griffin_lim_iters, "global_variance": args.global_variance, "global_variance_ratio": gv_ratio,
              "speakers": rows, "summary": summary}
    with open(os.path.join(args.out, "base_speaks.json"), "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2)
    lines = ["| speaker | floor | pre-trained model | Griffin-Lim ceiling | ceiling | MCD (dB) |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    lines += [f"| {r['speaker']} | {r['floor']:.3f} | {r['model']:.3f} | {r['griffin_lim_ceiling']:.3f} | "
              f"{r['ceiling']:.3f} | {r['mcd']:.2f} |" for r in rows]  # fmt: skip
    lines += ["| **mean (95% interval)** | " + " | ".join(
        ("**{:.3f} ± {:.3f}**" if k == "model" else "{:.2f} ± {:.2f}" if k == "mcd" else "{:.3f} ± {:.3f}").format(
            *summary[k]) for k in ("floor", "model", "griffin_lim_ceiling", "ceiling", "mcd")) + " |"]  # fmt: skip
    lines += ["", f"Global variance ratio (real / synthesised mel, std over time per bin): {gv_ratio:.2f}"
              + (f"; synthesised mels scaled by {args.global_variance:g} (diagnostic)" if args.global_variance != 1 else "")]
    table = "\n".join(lines)
    with open(os.path.join(args.out, "base_speaks.md"), "w", encoding="utf-8") as f:
        f.write(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
