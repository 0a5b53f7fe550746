# Phase 1 of 2: pre-train a multi-speaker Glow-TTS the ordinary Coqui way (Coqui's model, train_step,
# losses and Trainer), conditioned on speaker d-vectors, before meta-training.
#
#   python recipes/vctk/pretrain_glow_tts.py --output-path runs                   # built-in corpus (240 speakers), CPU
#   python recipes/vctk/pretrain_glow_tts.py --data-path /data/VCTK-Corpus-0.92   # real VCTK
#   python recipes/vctk/pretrain_glow_tts.py --continue_path runs/<run folder>    # resume
#   python recipes/vctk/pretrain_glow_tts.py --output-path runs --from-checkpoint runs/<run>/checkpoint_N.pth \
#       --global-variance-weight 1 --coqpit.epochs 1    # then global-variance fine-tuning (a new run folder)
#   ... --floor-noise 0.5     # mel values on the silence floor dequantised (tts_maml.floor_dequantization)
#   ... --d-vector-clips 3    # each clip conditioned on the mean of 3 of its speaker's clips, not the speaker's mean
#   ... --extra-data-path /data/more_voices   # train on another VCTK-layout folder's speakers too (repeatable)
#
# Then convert it into a one-voice-slot tts_maml model and meta-train from it:
#   tts-maml convert --model_path runs/<run>/checkpoint_N.pth --config_path runs/<run>/config.json --out base/
#   python recipes/vctk/meta_train_glow_tts.py --init base/ ...
#
# The run folder is a plain Coqui one: `tts --model_path .../checkpoint_N.pth --config_path .../config.json
# --speaker_idx sp005 --speakers_file_path .../d_vectors.json` speaks any training speaker.
import os

import torch
from trainer import Trainer, TrainerArgs
from TTS.tts.configs.shared_configs import BaseDatasetConfig
from TTS.tts.models.glow_tts import GlowTTS
from TTS.tts.utils.speakers import SpeakerManager

from tts_maml.corpus.offline import PRETRAIN_CORPUS, offline_corpus
from tts_maml.corpus.samples import load_samples
from tts_maml.speakers.d_vectors import prepare_d_vectors
from tts_maml.floor_dequantization import FloorDequantizedGlowTTS
from tts_maml.training.pretraining import checkpoint_rate, fine_tuning_config, pretrain_glow_tts_config
from tts_maml.training.recipe import coqui_setup, output_folder, recipe_arguments


def fine_tuning_arguments(parser):
    parser.add_argument("--from-checkpoint", default=None,
                        help="train on from this pre-training checkpoint's weights, at the rate NoamLR had reached")  # fmt: skip
    parser.add_argument("--global-variance-weight", type=float, default=0.0,
                        help="weight of the global-variance loss on the synthesis path (default 0: Coqui's losses only)")  # fmt: skip
    parser.add_argument("--floor-noise", type=float, default=0.0,
                        help="dequantise the mel values on the silence floor with half-normal noise of this scale "
                             "(tts_maml.floor_dequantization; default 0: Coqui's training unchanged)")  # fmt: skip
    parser.add_argument("--d-vector-clips", type=int, default=None,
                        help="each clip's d-vector is the mean of this many of its speaker's 8 embedded clips, drawn for it "
                             "(3 spreads them as much as a new voice's 5-clip mean; default: one mean per speaker)")  # fmt: skip
    parser.add_argument("--extra-data-path", action="append", default=[],
                        help="another VCTK-layout folder whose speakers are trained on too (repeatable)")  # fmt: skip


def main():
    args = recipe_arguments("Pre-train a multi-speaker Glow-TTS (d-vector conditioning) on VCTK or the built-in corpus.",
                            extra=fine_tuning_arguments)  # fmt: skip
    output_path = output_folder(args)
    dataset = BaseDatasetConfig(formatter="vctk", path=args.data_path or offline_corpus(**PRETRAIN_CORPUS))
    extras = [BaseDatasetConfig(formatter="vctk", path=path) for path in args.extra_data_path]
    samples = load_samples(dataset)  # every training speaker (the built-in corpus keeps dev/test apart)
    for extra in extras:
        more = load_samples(extra)
        clash = sorted({s["speaker_name"] for s in more} & {s["speaker_name"] for s in samples})
        if clash:
            raise SystemExit(f"--extra-data-path {extra.path}: speakers {', '.join(clash[:5])} are already in the training data")
        samples += more

    # Speaker d-vectors of every clip, projected to the encoder's width (computed once per output folder).
    folder = "d_vectors" if args.d_vector_clips is None else f"d_vectors_mean{args.d_vector_clips}"
    d_vectors = prepare_d_vectors(samples, os.path.join(output_path, folder), dim=96, clips_per_vector=args.d_vector_clips)
    config = pretrain_glow_tts_config(d_vectors["d_vector_file"], output_path=output_path, epochs=30)
    if args.from_checkpoint:  # the rate its run had reached goes on, held
        checkpoint = torch.load(args.from_checkpoint, map_location="cpu", weights_only=False)
        config = fine_tuning_config(config, checkpoint_rate(config, checkpoint), run_name="pretrain_glow_tts_gv")
    ap, tokenizer, config = coqui_setup(config, dataset, output_path)
    config.datasets += extras
    speakers = SpeakerManager.init_from_config(config)
    if args.global_variance_weight or args.floor_noise:
        model = FloorDequantizedGlowTTS(config, ap, tokenizer, speakers, weight=args.global_variance_weight,
                                        floor_noise=args.floor_noise)  # fmt: skip
    else:
        model = GlowTTS(config, ap, tokenizer, speaker_manager=speakers)
    trainer = Trainer(TrainerArgs(restore_path=args.from_checkpoint or ""), config, output_path, model=model,
                      train_samples=samples, eval_samples=None)  # fmt: skip
    trainer.fit()
    # Coqui saves every save_step steps and a best model by the epoch's mean training loss, so the
    # last steps of a run (a short fine-tuning run's second epoch) could go unsaved: keep them.
    trainer.save_checkpoint()


if __name__ == "__main__":
    main()
