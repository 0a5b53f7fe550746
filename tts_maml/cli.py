"""The ``tts-maml`` command line: one subcommand per job (argparse, as Coqui's own CLIs).

Example:
    $ tts-maml make-corpus --out data/corpus --speakers 20 --utterances 30 --seed 0 --held-out 4
    $ tts-maml check-corpus data/corpus
"""

import argparse
import json
import logging
import os
import sys
from dataclasses import asdict
from typing import Any, Dict, List, Optional

from tts_maml.evaluate import protocol

logger = logging.getLogger("tts_maml")


def _make_corpus(args: argparse.Namespace) -> int:
    from tts_maml.corpus.build import build_corpus, build_family_corpus, build_installed_voices_corpus
    from tts_maml.corpus.synthetic_voices import INSTALLED_SHIFTS, ROLES

    common = {"utterances": args.utterances, "seed": args.seed, "sample_rate": args.sample_rate,
              "overwrite": args.overwrite, "workers": args.workers, "progress": not args.no_progress}  # fmt: skip
    if args.families:
        if args.held_out or args.installed_voices:
            raise ValueError("--families takes its held-out speakers from --held-out-roles, and no --installed-voices")
        held = [r for r in (args.held_out_roles or "").split(",") if r]
        for role in [args.families, *held]:
            if role not in ROLES:
                raise ValueError(f"--families / --held-out-roles: {role!r} is not one of {', '.join(ROLES)}")
        summary = build_family_corpus(args.out, args.families, held, **common)
    elif args.installed_voices:
        if args.held_out:
            raise ValueError("--held-out applies to the recipe corpus, not to --installed-voices")
        shifts = _numbers(args.shifts, int, "--shifts") if args.shifts else INSTALLED_SHIFTS
        summary = build_installed_voices_corpus(args.out, shifts=shifts, **common)
    else:
        summary = build_corpus(args.out, speakers=args.speakers, held_out=args.held_out, clear=args.clear, **common)
    print(f"corpus: {summary.out} ({summary.clips} clips, {summary.seconds / 60:.1f} min of audio)")
    print(f"read it with BaseDatasetConfig(formatter='vctk', path='{summary.out}')")
    if summary.held_out_speakers:
        print(f"held-out speakers ({len(summary.held_out_speakers)}): {summary.out}/held_out")
    return 0


def _check_corpus(args: argparse.Namespace) -> int:
    from tts_maml.judges import campplus_embed_file
    from tts_maml.speakers.similarity import corpus_clips, embed_file, similarity_report

    encoders = {"resemblyzer": embed_file, "campplus": campplus_embed_file}
    report = similarity_report(corpus_clips(args.corpus, max_clips=args.clips), encoders[args.encoder])
    print(f"{'speaker':10s} {'own':>6s}  {'nearest other':>19s}  {'id-accuracy':>11s}")
    for spk in sorted(report.within):
        other, sim = report.nearest[spk]
        print(f"{spk:10s} {report.within[spk]:6.3f}  {other:>12s} {sim:6.3f}  {report.accuracy[spk]:11.2f}")
    accuracy = sum(report.accuracy.values()) / len(report.accuracy)
    print(
        f"mean cosine of clips to their own speaker {report.mean_within:.3f}, to other speakers "
        f"{report.mean_between:.3f}; nearest-centroid speaker identification accuracy {accuracy:.3f}"
    )
    print(f"{len(report.distinct)}/{len(report.within)} speakers closer to themselves than to any other")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(asdict(report), f, indent=2)
    return 0 if len(report.distinct) == len(report.within) else 1


def _convert(args: argparse.Namespace) -> int:
    from tts_maml.training.conversion import convert

    summary = convert(args.model_path, args.config_path, args.out, d_vector_file=args.d_vector_file,
                      projection=args.projection, overwrite=args.overwrite,
                      global_variance_weight=args.global_variance_weight, floor_noise=args.floor_noise)  # fmt: skip
    start = "their clips' d-vector" if summary["voice_start"] == "d_vector" else "the mean voice"
    print(f"converted a {summary['kind']} model of {summary['speakers']} speakers into {args.out} "
          f"(model.pth, config.json); new voices start from {start}")  # fmt: skip
    return 0


def _models(args: argparse.Namespace) -> int:
    from tts_maml.shipped import shipped_models

    models = shipped_models()
    if args.json:
        print(json.dumps([m.to_dict() for m in models], indent=2))
        return 0
    if not models:
        print("no shipped models")
    for m in models:
        print(f"{m.name}\n  checkpoint {m.checkpoint}\n  config     {m.config}\n  card       {m.card}\n"
              f"  size       {m.size_bytes / 2**20:.1f} MB\n  sha256     {m.sha256}")  # fmt: skip
    return 0


def _presets(args: argparse.Namespace) -> int:
    from tts_maml.backbones import BACKBONES
    from tts_maml.config import CONFIG_CLASSES
    from tts_maml.meta.parameter_selection import count_parameters, resolve_adapter

    backbone_cls = BACKBONES[args.model]
    if args.size == "tiny":
        config = backbone_cls.tiny_config()
    else:
        config = CONFIG_CLASSES[args.model]()
    backbone = backbone_cls(config)
    model = backbone.build_model()
    total = count_parameters(model, backbone.meta_parameter_names(model))
    print(f"| preset ({args.model}, {args.size} config) | adapted parameters | share | what it adapts |")
    print("|---|---:|---:|---|")
    for name, preset in backbone.presets.items():
        n = count_parameters(model, resolve_adapter(model, backbone.presets, name, never=backbone.never_adapt))
        print(f"| `{name}` | {n:,} | {100 * n / total:.2f}% | {preset.description} |")
    print(f"\n{total:,} meta-learned parameters in all (the discriminator, if any, excluded)")
    return 0


def _model_paths(args: argparse.Namespace) -> tuple:
    """``(model_path, config_path)``: a shipped model by ``--model NAME``, or the two paths."""
    if args.model:
        if args.model_path or args.config_path:
            raise ValueError("give --model NAME or --model_path with --config_path, not both")
        from tts_maml.shipped import shipped_model

        model = shipped_model(args.model)
        return model.checkpoint, model.config
    if not (args.model_path and args.config_path):
        raise ValueError("give --model NAME (see `tts-maml models`) or --model_path with --config_path")
    return args.model_path, args.config_path


def _adapt(args: argparse.Namespace) -> int:
    from tts_maml.adapt.adaptation import adapt

    model_path, config_path = _model_paths(args)
    result = adapt(
        model_path,
        config_path,
        args.clips,
        args.out,
        steps=args.steps,
        lr=args.lr,
        adapter_preset=args.adapter_preset,
        val_clips=args.val_clips,
        name=args.name,
        device=args.device,
        overwrite=args.overwrite,
        seed=args.seed,
        progress=not args.no_progress,
        optimizer=args.optimizer,
        fit_griffin_lim=args.fit_griffin_lim,
    )
    losses = result.val_losses or result.support_losses
    kind = "held-out" if result.val_losses else "support"
    print(f"adapted {len(result.adapted)} tensors; exported step {result.best_step} "
          f"({kind} loss {losses[0]:.4f} -> {losses[result.best_step]:.4f})")  # fmt: skip
    for name, path in result.files.items():
        print(f"  {name:12s} {path}")
    print(f"voice.pth is {result.voice_bytes / 1024:.1f} KB")
    if result.held_out:
        _print_held_out(result.held_out)
    print(f"speak: tts --model_path {result.files['adapted.pth']} --config_path {result.files['config.json']} "
          '--text "..." --out_path out.wav')  # fmt: skip
    return 0


def _print_held_out(scores: Dict[str, Any]) -> None:
    # The judges on the held-out clips' sentences: the model before and after, and the real clips.
    from tts_maml.judges import JUDGE_OF, METRICS

    print(f"the judges on the {scores['clips']} held-out clip(s)' sentences (held_out.json):")
    print(f"  {'':32s} {'floor':>8s} {'base':>8s} {'adapted':>8s} {'ceiling':>8s}")
    for m in METRICS:
        floor = f"{scores['floor'][m]:8.3f}" if m in scores["floor"] else f"{'n/a':>8s}"
        print(f"  {m + ' (' + JUDGE_OF[m] + ')':32s} {floor} {scores['base'][m]:8.3f} {scores['adapted'][m]:8.3f} "
              f"{scores['ceiling'][m]:8.3f}")  # fmt: skip


def _merge(args: argparse.Namespace) -> int:
    from tts_maml.adapt.voice_delta import merge

    print(f"wrote {merge(args.base, args.delta, args.out, overwrite=args.overwrite)}")
    return 0


def _serve(args: argparse.Namespace) -> int:
    from tts_maml.serve import MultiVoiceSynthesizer, serve

    synth = MultiVoiceSynthesizer(args.base, args.config_path, args.voices, device=args.device,
                                  max_chars=args.max_chars)  # fmt: skip
    for name, reason in synth.library.refused.items():
        print(f"refused voice {name}: {reason}")
    print(f"{len(synth.library.names())} voices: {', '.join(synth.library.names()) or '(none yet)'}")
    serve(synth, args.host, args.port, seed=args.seed)
    return 0


def _numbers(text: str, kind: type, flag: str) -> list:
    try:
        return [kind(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise ValueError(f"{flag} {text!r}: expected comma-separated numbers") from None


def _train_baseline(args: argparse.Namespace) -> int:
    from tts_maml.evaluate.baseline import train_baseline

    record = train_baseline(args.model_path, args.config_path, args.corpus, args.out,
                            lrs=_numbers(args.lrs, float, "--lrs"), steps=args.steps, select_by=args.select_by,
                            adapter_preset=args.adapter_preset, held_out_speakers=args.held_out_speakers,
                            shots=args.shots, queries=args.queries, device=args.device, overwrite=args.overwrite,
                            progress=not args.no_progress, fit_griffin_lim=args.fit_griffin_lim)  # fmt: skip
    for v in record["lrs"].values():
        print(f"lr {v['lr']:g}: dev speaker_similarity {v['speaker_similarity']:.3f}, dev query_loss "
              f"{v['query_loss']:.3f}{' (diverged)' if v['diverged'] else ''}")  # fmt: skip
    print(f"chosen on {len(record['speakers'])} dev speakers by {record['select_by']}: --baseline_lr {record['chosen']:g} "
          f"({os.path.join(args.out, 'baseline.json')})")  # fmt: skip
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from tts_maml.evaluate.evaluation import evaluate

    results = evaluate(
        args.model_path, args.config_path, args.corpus, args.out, baseline_model_path=args.baseline_model_path,
        baseline_config_path=args.baseline_config_path, baseline_lr=args.baseline_lr,
        baseline_lrs=_numbers(args.baseline_lrs, float, "--baseline-lrs"), baseline_select_by=args.baseline_select_by,
        baseline_adapter_preset=args.baseline_adapter_preset, held_out_speakers=args.held_out_speakers,
        shots=args.shots, queries=args.queries, steps=_numbers(args.steps, int, "--steps"), seeds=args.seeds,
        reference_step=args.reference_step, lr=args.lr, device=args.device, overwrite=args.overwrite,
        progress=not args.no_progress, voices=args.voice, adapter_preset=args.adapter_preset,
        fit_griffin_lim=args.fit_griffin_lim, speakers=args.speakers,
    )  # fmt: skip
    voices = f" and {len(args.voice)} voice{'s' if len(args.voice) != 1 else ''}" if args.voice else ""
    print(f"report: {os.path.join(args.out, 'report.md')} ({len(results['runs'])} measurements on "
          f"{len(results['speakers'][args.speakers])} {args.speakers} speakers{voices})")  # fmt: skip
    return 0


# The --train demo's recipe: a script of the repository, not of the package.
DEMO_RECIPE = os.path.join("recipes", "vctk", "meta_train_vits.py")


def _demo_recipe() -> str:
    # The current folder first (scripts/demo.sh runs from the repository root, and the report then
    # names the recipe as a relative path), then the checkout an editable install points into.
    checkout = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for candidate in (DEMO_RECIPE, os.path.join(checkout, DEMO_RECIPE)):
        if os.path.isfile(candidate):
            return candidate
    raise FileNotFoundError(f"{DEMO_RECIPE} not found in {os.getcwd()} nor in {checkout}: "
                            "run the demo from a clone of the tts_maml repository")  # fmt: skip


def _demo(args: argparse.Namespace) -> int:
    from tts_maml.demo import run_demo, training_demo_artefacts

    recipe = _demo_recipe() if args.train else None
    run_demo(args.out, train=args.train, recipe_args=args.recipe_args, recipe=recipe, echo=sys.stdout.buffer)
    if args.train:
        print(f"\ndemo done in {os.path.abspath(args.out)}:")
        for what, path in training_demo_artefacts(args.out).items():
            print(f"  {what:30s} {path}")
    return 0


# ---------------------------------------------------------------- the parser: one function per sub-command
# Flags several sub-commands share, with one wording each.
_HELD_HELP = "for a corpus without a held_out/ folder: the recipe's --held-out-speakers (drawn with maml.seed)"
_LRS = protocol.format_numbers(protocol.BASELINE_LRS)


def _add_config_path(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config_path", "--config-path", required=True, help="its config.json")


def _add_device(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")


def _add_overwrite(p: argparse.ArgumentParser, progress: bool = False) -> None:
    """``--overwrite`` of an output folder, and ``--no-progress`` where the job shows a bar."""
    p.add_argument("--overwrite", action="store_true", help="replace the files of a non-empty --out")
    if progress:
        p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _add_speaker_episodes(p: argparse.ArgumentParser) -> None:
    """The held-out speakers of a corpus and the clips each one gives (train-baseline, evaluate)."""
    p.add_argument("--held-out-speakers", type=int, default=None, help=_HELD_HELP)
    p.add_argument("--shots", type=int, default=protocol.SHOTS,
                   help=f"support clips per speaker (default {protocol.SHOTS})")  # fmt: skip
    p.add_argument("--queries", type=int, default=protocol.QUERIES,
                   help=f"unseen query sentences per speaker (default {protocol.QUERIES})")  # fmt: skip


def _make_corpus_parser(sub: Any) -> None:
    p = sub.add_parser(
        "make-corpus",
        help="build the offline multi-speaker corpus (VCTK 0.92 layout) from synthetic voices",
        description="Build a multi-speaker corpus from espeak-ng and festival voices made distinct with "
        "sox, in the VCTK 0.92 layout that Coqui's `vctk` formatter reads.",
    )
    p.add_argument("--out", required=True, help="output folder (must be missing or empty, unless --overwrite)")
    p.add_argument("--speakers", type=int, default=20, help="training speakers (default 20)")
    p.add_argument("--utterances", type=int, default=30, help="clips per speaker (default 30)")
    p.add_argument("--seed", type=int, default=0, help="seed of voices, sentences and styles (default 0)")
    p.add_argument("--held-out", type=int, default=0, help="extra speakers written to OUT/held_out (default 0)")
    p.add_argument("--sample-rate", type=int, default=22050, help="sample rate in Hz (default 22050)")
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty --out")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--installed-voices", action="store_true",
                   help="instead of the recipe speakers: one speaker (iv000...) per festival voice of another "
                        "language installed on the machine x --shifts, to train on beside a recipe corpus")  # fmt: skip
    p.add_argument("--shifts", default=None,
                   help="formant shifts in cents of --installed-voices, as --shifts=-400,0,400 "
                        "(default -400,-200,0,200,400)")  # fmt: skip
    p.add_argument("--clear", action="store_true",
                   help="the recipes a listener understands best: espeak-ng accents en-gb, en-gb-x-rp, en-us, "
                        "formant shifts within 300 cents, a festival voice every third speaker")  # fmt: skip
    p.add_argument("--families", default=None, metavar="ROLE",
                   help="instead of the recipe speakers: the voice families (RHVoice, MBROLA, flite, Piper) whose source "
                        "speaker has ROLE (pretrain, meta_train, dev, test), x their formant shifts")  # fmt: skip
    p.add_argument("--held-out-roles", default=None, metavar="ROLES",
                   help="with --families: roles written to OUT/held_out, as --held-out-roles dev,test "
                        "(ids dev000..., test000...: the dev/test split reads them)")  # fmt: skip
    p.set_defaults(func=_make_corpus)


def _check_corpus_parser(sub: Any) -> None:
    p = sub.add_parser(
        "check-corpus",
        help="check with a speaker encoder (Resemblyzer) that a corpus' speakers are distinct",
        description="Embed clips of every speaker with Resemblyzer (or CAM++) and compare within-speaker similarity "
        "with the nearest other speaker. Exit status 1 if some speaker is not distinct.",
    )
    p.add_argument("corpus", help="a VCTK-layout corpus folder")
    p.add_argument("--clips", type=int, default=6, help="clips per speaker to embed (default 6)")
    p.add_argument("--encoder", choices=("resemblyzer", "campplus"), default="resemblyzer",
                   help="the speaker encoder (a judge of tts_maml.judges): Resemblyzer (default; the encoder whose "
                   "d-vectors condition the models) or CAM++ (independent of them)")  # fmt: skip
    p.add_argument("--json", default=None, help="also write the report as JSON to this file")
    p.set_defaults(func=_check_corpus)


def _convert_parser(sub: Any) -> None:
    p = sub.add_parser(
        "convert",
        help="turn a Coqui multi-speaker checkpoint into a one-voice-slot tts_maml model",
        description="Collapse a multi-speaker Glow-TTS or VITS (a speaker table, or d-vectors) into the one voice "
        "slot that meta-training and adaptation use: the slot starts at the mean speaker, every other weight "
        "is kept. A d-vector model with its projection makes new voices start from their clips' d-vector.",
    )
    p.add_argument("--model_path", required=True, help="the Coqui checkpoint")
    p.add_argument("--config_path", required=True, help="its config.json")
    p.add_argument("--out", required=True, help="output folder (model.pth, config.json)")
    p.add_argument("--d_vector_file", default=None, help="a d-vector model's d-vector file (default: the config's)")
    p.add_argument("--projection", default=None,
                   help="the d-vectors' projection JSON (default: d_vector_projection.json beside the d-vector file)")  # fmt: skip
    p.add_argument("--global-variance-weight", type=float, default=0.0,
                   help="Glow-TTS: the global-variance weight the checkpoint was trained with, kept in the task loss "
                        "(maml.global_variance_weight; default 0)")  # fmt: skip
    p.add_argument("--floor-noise", type=float, default=0.0,
                   help="Glow-TTS: the --floor-noise the checkpoint was pre-trained with, kept in the task loss "
                        "(maml.floor_noise; default 0)")  # fmt: skip
    _add_overwrite(p)
    p.set_defaults(func=_convert)


def _models_parser(sub: Any) -> None:
    p = sub.add_parser(
        "models",
        help="list the models shipped with tts_maml (name, checkpoint, config, size, sha256)",
        description="List the meta-initialisations shipped inside the package, ready for tts-maml adapt.",
    )
    p.add_argument("--json", action="store_true", help="print JSON for scripts")
    p.set_defaults(func=_models)


def _presets_parser(sub: Any) -> None:
    p = sub.add_parser(
        "presets",
        help="list a backbone's adapter presets with their parameter counts",
        description="Print the adapter presets of a backbone (MamlConfig.adapter_preset) as a markdown table "
        "with the number of adapted parameters for Coqui's default config or the tiny one.",
    )
    p.add_argument("--model", choices=["vits", "glow_tts"], default="vits", help="backbone (default vits)")
    p.add_argument("--size", choices=["default", "tiny"], default="default", help="config size (default: Coqui's)")
    p.set_defaults(func=_presets)


def _adapt_parser(sub: Any) -> None:
    p = sub.add_parser(
        "adapt",
        help="adapt a meta-trained model to a folder of clips; write adapted.pth, config.json, voice.pth",
        description="Few-shot adaptation of a new voice: the meta-trained model's inner loop on the clips of "
        "--clips (any audio FFmpeg reads, with a metadata.csv `id|text` or a .txt beside each clip), exported "
        "as a plain Coqui checkpoint that `tts` speaks and as a small voice.pth delta.",
    )
    p.add_argument("--model", default=None, help="a shipped meta-initialisation by name (see `tts-maml models`)")
    p.add_argument("--model_path", "--model-path", default=None, help="meta-trained checkpoint (.pth)")
    p.add_argument("--config_path", "--config-path", default=None, help="its config.json")
    p.add_argument("--clips", required=True, help="folder of clips and transcripts")
    p.add_argument("--out", required=True, help="output folder (must be empty unless --overwrite)")
    p.add_argument("--steps", type=int, default=50, help="adaptation steps (default 50)")
    p.add_argument("--lr", type=float, default=None,
                   help="inner learning rate (default: the learned Meta-SGD rates, else maml.inner_lr)")  # fmt: skip
    p.add_argument("--adapter-preset", default=None, help="adapt this preset (default: what was meta-trained)")
    p.add_argument("--optimizer", choices=("sgd", "adam"), default="sgd",  # adaptation.OPTIMIZERS (torch-free here)
                   help="sgd: the meta-learned inner loop (default); adam: Adam at --lr (needed), for a voice far "
                   "from the training speakers with --adapter-preset generator")  # fmt: skip
    p.add_argument("--val-clips", type=int, default=0,
                   help="clips held out for early stopping (default 0); their sentences are then spoken and judged "
                   "(held_out.json)")  # fmt: skip
    p.add_argument("--fit-griffin-lim", action="store_true",
                   help="after adaptation, choose the Griffin-Lim exponent (audio.power in the exported config.json) "
                   "whose speech of the voice's sentences is nearest to its clips")  # fmt: skip
    p.add_argument("--name", default="voice", help="the voice's name (default 'voice')")
    _add_device(p)
    p.add_argument("--seed", type=int, default=0, help="seed of the held-out split (default 0)")
    _add_overwrite(p, progress=True)
    p.set_defaults(func=_adapt)


def _merge_parser(sub: Any) -> None:
    p = sub.add_parser(
        "merge",
        help="rebuild adapted.pth from the base checkpoint and a voice.pth",
        description="Apply a voice.pth delta to the base checkpoint it was adapted from; the result equals "
        "the adapted.pth that `tts-maml adapt` wrote. Refuses a delta made on another base.",
    )
    p.add_argument("--base", required=True, help="the base (meta-trained) checkpoint")
    p.add_argument("--delta", required=True, help="voice.pth written by tts-maml adapt")
    p.add_argument("--out", required=True, help="the adapted checkpoint to write")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    p.set_defaults(func=_merge)


def _serve_parser(sub: Any) -> None:
    p = sub.add_parser(
        "serve",
        help="serve many adapted voices over one base model (Coqui tts-server's HTTP API)",
        description="Load the base checkpoint once and every *.pth voice delta of --voices (name = file name "
        "without .pth; a delta made on another base is refused by name); speak each request in the voice it "
        "names by switching that voice's adapted tensors into the model. Coqui tts-server's /api/tts, the "
        "OpenAI /v1/audio/speech and MaryTTS /voices and /process, and a web page at /.",
    )
    p.add_argument("--base", required=True, help="the base (meta-trained) checkpoint the voices were adapted from")
    _add_config_path(p)
    p.add_argument("--voices", required=True, help="folder of voice deltas (voice.pth files renamed NAME.pth)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=5002, help="port (default 5002, as tts-server)")
    _add_device(p)
    p.add_argument("--seed", type=int, default=0, help="synthesis seed of a request that sends none (default 0)")
    p.add_argument("--max-chars", type=int, default=1000, help="longest text a request may send (default 1000)")
    p.set_defaults(func=_serve)


def _train_baseline_parser(sub: Any) -> None:
    p = sub.add_parser(
        "train-baseline",
        help="choose the fine-tuning baseline's learning rate on the dev speakers",
        description="The baseline is the pre-trained model the meta-learning started from, fine-tuned on a new "
        "speaker's clips with Adam. For every rate of --lrs, fine-tune it for --steps steps on each dev speaker of "
        "--corpus (the first half of its held-out speakers, tts_maml.corpus.speaker_split) and score unseen sentences; "
        "write OUT/baseline.json with the chosen rate (tts-maml evaluate --baseline_lr takes it).",
    )
    p.add_argument("--model_path", "--model-path", required=True,
                   help="the starting checkpoint: the converted pre-trained model (tts-maml convert's model.pth)")  # fmt: skip
    _add_config_path(p)
    p.add_argument("--corpus", required=True, help="the corpus (VCTK layout) whose held-out speakers give the dev set")
    p.add_argument("--out", required=True, help="output folder: baseline.json")
    p.add_argument("--lrs", default=_LRS, help=f"Adam learning rates to try (default {_LRS})")
    p.add_argument("--steps", type=int, default=protocol.BASELINE_STEPS,
                   help=f"fine-tuning steps (default {protocol.BASELINE_STEPS})")  # fmt: skip
    p.add_argument("--select-by", choices=protocol.SELECT_BY, default=protocol.SELECT_BY[0],
                   help=f"what picks the rate, after --steps steps (default {protocol.SELECT_BY[0]})")  # fmt: skip
    p.add_argument("--adapter-preset", default=None,
                   help="fine-tune this preset (generator: every weight; default: the config's selection)")  # fmt: skip
    p.add_argument("--fit-griffin-lim", action="store_true",
                   help="score each rate's speech at the Griffin-Lim exponent fitted to the support clips, as "
                   "tts-maml evaluate --fit-griffin-lim does")  # fmt: skip
    _add_speaker_episodes(p)
    _add_device(p)
    _add_overwrite(p, progress=True)
    p.set_defaults(func=_train_baseline)


def _evaluate_parser(sub: Any) -> None:
    p = sub.add_parser(
        "evaluate",
        help="the meta-learned model against fine-tuning, on test speakers: the judges, loss, MCD, F0 per step",
        description="Split the held-out speakers of --corpus into dev and test (tts_maml.corpus.speaker_split). On every "
        "test speaker and seed: adapt the meta-learned model exactly as tts-maml adapt does, and fine-tune the "
        "baseline (Adam, learning rate chosen on the dev speakers) on the same --shots clips; at every listed step "
        "measure what the judges say of synthesised unseen sentences (speaker similarity by Resemblyzer and by CAM++, "
        "Whisper tiny.en's CER and WER), the query loss, MCD (DTW) and F0 errors, with 95% intervals over test "
        "speakers, beside each judge's floor and ceiling on real clips. Writes results.json, one "
        "PNG per metric and report.md.",
    )
    p.add_argument("--model_path", "--model-path", required=True, help="the meta-learned checkpoint")
    _add_config_path(p)
    p.add_argument("--corpus", default=None,
                   help="the corpus (VCTK layout) with held-out speakers (its held_out/ folder); may be left out with --voice")  # fmt: skip
    p.add_argument("--voice", action="append", default=[], metavar="DIR",
                   help="a clips folder (as tts-maml adapt reads it): one more voice, measured by the same protocol "
                   "and reported on its own, named after the folder; repeatable")  # fmt: skip
    p.add_argument("--out", required=True, help="report folder")
    p.add_argument("--baseline_model_path", "--baseline-model-path", default=None,
                   help="the baseline's starting checkpoint: the converted pre-trained model (default: no baseline)")  # fmt: skip
    p.add_argument("--baseline_config_path", "--baseline-config-path", default=None, help="its config.json")
    p.add_argument("--baseline_lr", "--baseline-lr", type=float, default=None,
                   help="the baseline's Adam rate (default: chosen on the dev speakers, as train-baseline does)")  # fmt: skip
    p.add_argument("--baseline-lrs", default=_LRS, help=f"rates to choose from (default {_LRS})")
    p.add_argument("--baseline-select-by", choices=protocol.SELECT_BY, default=protocol.SELECT_BY[0],
                   help=f"what picks the baseline's rate on the dev speakers (default {protocol.SELECT_BY[0]})")  # fmt: skip
    p.add_argument("--baseline-adapter-preset", default=None,
                   help="fine-tune this preset (generator: every weight; default: the baseline config's selection)")  # fmt: skip
    _add_speaker_episodes(p)
    steps = protocol.format_numbers(protocol.DEFAULT_STEPS)
    p.add_argument("--steps", default=steps, help=f"steps to measure (default {steps})")
    p.add_argument("--seeds", type=int, default=protocol.MIN_SEEDS,
                   help=f"seeds 0..N-1: support/query split and synthesis noise (default {protocol.MIN_SEEDS})")  # fmt: skip
    p.add_argument("--reference-step", type=int, default=protocol.REFERENCE_STEP,
                   help="the meta model's step the baseline must match, for the steps ratio; measured with a baseline "
                   f"(default {protocol.REFERENCE_STEP})")  # fmt: skip
    p.add_argument("--lr", type=float, default=None, help="the meta model's inner learning rate (default: its own)")
    p.add_argument("--adapter-preset", default=None,
                   help="adapt this preset of the meta model, as tts-maml adapt --adapter-preset does (default: the "
                   "tensors it was meta-trained on)")  # fmt: skip
    p.add_argument("--fit-griffin-lim", action="store_true",
                   help="both models speak each step's query sentences at the Griffin-Lim exponent fitted to the "
                   "support clips, as tts-maml adapt --fit-griffin-lim does")  # fmt: skip
    p.add_argument("--speakers", choices=("test", "dev"), default="test",
                   help="measure on the corpus's test speakers (default) or its dev speakers: choices such as an "
                   "adapter or a rate are made on dev, never on test")  # fmt: skip
    _add_device(p)
    _add_overwrite(p, progress=True)
    p.set_defaults(func=_evaluate)


def _demo_parser(sub: Any) -> None:
    p = sub.add_parser(
        "demo",
        help="the product on the built-in corpus: adapt the shipped model to two new voices, synthesise, report",
        description="Adapt the shipped meta-initialisation to a test speaker of the built-in corpus and to a voice "
        "made outside it, from 5 clips each (tts-maml adapt), synthesise an unseen sentence with the base and "
        "adapted models through Coqui's tts, and write wavs, spectrograms, the judges' scores, MCD and report.md into "
        "--out. With --train, meta-train tiny VITS from scratch first instead.",
    )
    p.add_argument("--out", default="demo_out", help="output folder, replaced (default demo_out)")
    p.add_argument("--train", action="store_true",
                   help="the from-scratch path: meta-train tiny VITS first (about 8 minutes on 2 CPU cores) instead "
                   "of adapting the shipped model (about a minute)")  # fmt: skip
    p.add_argument("recipe_args", nargs="*",
                   help="with --train: extra arguments for the recipe (after --), e.g. -- --coqpit.epochs 1")  # fmt: skip
    p.set_defaults(func=_demo)


# In the order `tts-maml --help` lists them.
SUBCOMMAND_PARSERS = (
    _make_corpus_parser, _check_corpus_parser, _convert_parser, _models_parser, _presets_parser, _adapt_parser,
    _merge_parser, _serve_parser, _train_baseline_parser, _evaluate_parser, _demo_parser,
)  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``tts-maml`` and its subcommands."""
    parser = argparse.ArgumentParser(
        prog="tts-maml",
        description="Few-shot voice adaptation for Coqui TTS by meta-learning.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in SUBCOMMAND_PARSERS:
        add(sub)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of the ``tts-maml`` console script."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return args.func(args)
    except (FileExistsError, FileNotFoundError, RuntimeError, ValueError, KeyError) as e:
        # One clear line for the user instead of a traceback; -v shows the traceback.
        logger.debug("error", exc_info=True)
        print(f"tts-maml {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
