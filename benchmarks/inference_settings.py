"""Which inference settings keep the words and the voice? Griffin-Lim exponent and noise scale, chosen on dev voices.

For each setting of ``--powers`` (Griffin-Lim's magnitude exponent, ``audio.power``) x
``--noise-scales`` (Glow-TTS's ``inference_noise_scale``), a copy of the model's config with that
setting is measured by ``tts-maml evaluate``'s protocol on the corpus's *dev* voices (``--speakers
dev``; the test voices are never looked at) at step 0 (the d-vector start, no gradient step): what
each judge says of the model's speech of unseen sentences. The settings change no weight.

The rule (the say-the-words issue: a setting chosen on one judge must be checked on the other):
among the settings whose dev CER (Whisper) is within ``--cer-margin`` of the lowest, the one with
the highest CAM++ similarity (the encoder the model never saw), ties by Resemblyzer. Its numbers
are printed beside the real clips' CER (the ceiling), so what the rule gives up is in view.

Writes into ``--out`` one folder per setting (``p<power>_n<noise>/config.json`` and its ``tts-maml
evaluate`` report), ``settings.json`` and ``settings.md``. A setting already measured is read, not
measured again.

    python benchmarks/inference_settings.py --model_path runs/base_clear/model.pth \
        --config_path runs/base_clear_gv/config.json \
        --corpus ~/.cache/tts_maml/families-meta_train-dev-test-u20-s0 --out inference_settings
"""

import argparse
import json
import os
import sys
from typing import Any, Dict, List, Sequence, Tuple

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from _common import evaluated  # noqa: E402
from tts_maml import judges  # noqa: E402

JUDGED = ("speaker_similarity", "campplus_similarity", "cer")
Setting = Tuple[float, float]  # (audio.power, inference_noise_scale)


def setting_config(config_path: str, setting: Setting, out: str) -> str:
    """A copy of ``config_path`` with ``setting`` in ``out/config.json``; returns its path."""
    with open(config_path, encoding="utf-8") as f:
        config = json.load(f)
    config["audio"]["power"], config["inference_noise_scale"] = setting
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "config.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(config, f, indent=4)
    return path


def step0(results: Dict[str, Any]) -> Dict[str, float]:
    """The meta model's dev means at step 0 for each judged metric, and the real clips' CER."""
    i = results["protocol"]["steps"].index(0)
    row = {m: results["summary"]["meta"][m]["mean"][i] for m in JUDGED}
    row["cer_real_clips"] = results["bounds"]["cer"]["ceiling"]["mean"]
    return row


def choose(rows: Dict[Setting, Dict[str, float]], cer_margin: float) -> Setting:
    """The rule: within ``cer_margin`` of the lowest CER, the highest CAM++ similarity, then Resemblyzer.

    Example:
        >>> rows = {(1.0, 0.3): {"cer": 0.30, "campplus_similarity": 0.50, "speaker_similarity": 0.7},
        ...         (1.25, 0.3): {"cer": 0.33, "campplus_similarity": 0.55, "speaker_similarity": 0.7},
        ...         (1.5, 0.3): {"cer": 0.50, "campplus_similarity": 0.60, "speaker_similarity": 0.8}}
        >>> choose(rows, 0.05)
        (1.25, 0.3)
    """
    best_cer = min(r["cer"] for r in rows.values())
    allowed = [s for s, r in rows.items() if r["cer"] <= best_cer + cer_margin]
    return max(allowed, key=lambda s: (rows[s]["campplus_similarity"], rows[s]["speaker_similarity"]))


def markdown(rows: Dict[Setting, Dict[str, float]], chosen: Setting, cer_margin: float, speakers: int,
             seeds: int) -> List[str]:  # fmt: skip
    lines = [f"Dev voices: {speakers}, seeds: {seeds}; step 0 (the d-vector start), mean over the dev voices.", "",
             "| audio.power | inference_noise_scale | " + " | ".join(f"{m} ({judges.JUDGE_OF[m]})" for m in JUDGED)
             + " | CER of the real clips | chosen |", "|---:|---:|" + "---:|" * (len(JUDGED) + 1) + "---|"]  # fmt: skip
    for s in sorted(rows):
        r = rows[s]
        lines.append(f"| {s[0]} | {s[1]} | " + " | ".join(f"{r[m]:.3f}" for m in JUDGED)
                     + f" | {r['cer_real_clips']:.3f} | {'**yes**' if s == chosen else ''} |")  # fmt: skip
    lines += ["", f"Rule: among the settings within {cer_margin} of the lowest CER, the highest CAM++ similarity "
              "(ties: Resemblyzer)."]  # fmt: skip
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model_path", required=True)
    parser.add_argument("--config_path", required=True)
    parser.add_argument("--corpus", required=True, help="the corpus whose dev voices are measured")
    parser.add_argument("--powers", default="1.0,1.25,1.5", help="Griffin-Lim exponents (audio.power)")
    parser.add_argument("--noise-scales", default="0.333", help="Glow-TTS inference noise scales")
    parser.add_argument("--cer-margin", type=float, default=0.05, help="how far above the lowest CER a setting may be")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    settings = [(float(p), float(n)) for p in args.powers.split(",") for n in args.noise_scales.split(",")]
    rows, speakers = {}, 0
    for s in settings:
        folder = os.path.join(args.out, f"p{s[0]}_n{s[1]}")
        results = evaluated(args.model_path, setting_config(args.config_path, s, folder), args.corpus,
                            os.path.join(folder, "report"), steps=[0], seeds=args.seeds, speakers="dev")  # fmt: skip
        rows[s] = step0(results)
        speakers = len(results["speakers"]["dev"])
    chosen = choose(rows, args.cer_margin)
    with open(os.path.join(args.out, "settings.json"), "w", encoding="utf-8") as f:
        json.dump({"model_path": os.path.abspath(args.model_path), "chosen": {"power": chosen[0], "noise_scale": chosen[1]},
                   "cer_margin": args.cer_margin, "rows": [{"power": s[0], "noise_scale": s[1], **r} for s, r in rows.items()]},
                  f, indent=2)  # fmt: skip
    md = markdown(rows, chosen, args.cer_margin, speakers, args.seeds)
    with open(os.path.join(args.out, "settings.md"), "w", encoding="utf-8") as f:
        f.write("\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    main()
