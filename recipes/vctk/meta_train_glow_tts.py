# Meta-train Glow-TTS with MAML so that it learns new voices from a few clips.
#
#   python recipes/vctk/meta_train_glow_tts.py                                       # built-in offline corpus, tiny Glow-TTS, CPU, ~6 min
#   python recipes/vctk/meta_train_glow_tts.py --data-path /data/VCTK-Corpus-0.92    # real VCTK, Coqui's VCTK sizes (GPU)
#   python recipes/vctk/meta_train_glow_tts.py --coqpit.maml.inner_lr 0.2 --coqpit.maml.algorithm fomaml
#   python recipes/vctk/meta_train_glow_tts.py --continue_path output/<run folder>   # resume
#   python recipes/vctk/meta_train_glow_tts.py --init base/                          # phase 2: from a converted
#       pre-trained model (recipes/vctk/pretrain_glow_tts.py, then tts-maml convert --out base/), dev speakers for eval
#   CUDA_VISIBLE_DEVICES=0,1 python -m trainer.distribute --script recipes/vctk/meta_train_glow_tts.py --data-path ...
#
# Writes a Coqui run folder (config.json, checkpoint_N.pth, best_model.pth, TensorBoard logs) whose
# checkpoints the stock `tts` command loads (Griffin-Lim, or a Coqui HiFi-GAN with --vocoder_path),
# and that `tts-maml adapt` adapts to a new voice.
import os

from trainer import TrainerArgs
from TTS.tts.configs.shared_configs import BaseDatasetConfig
from TTS.tts.models.glow_tts import GlowTTS
from TTS.tts.utils.speakers import SpeakerManager
from TTS.tts.utils.text.tokenizer import TTSTokenizer
from TTS.utils.audio import AudioProcessor

from tts_maml.backbones import GlowTTSBackbone
from tts_maml.backbones.base import apply_overrides
from tts_maml.config import load_config
from tts_maml.corpus.offline import PRETRAIN_CORPUS, held_out_dir, offline_corpus
from tts_maml.corpus.samples import load_samples
from tts_maml.corpus.speaker_split import dev_samples, split_held_out
from tts_maml.training.recipe import progress_callbacks, recipe_arguments
from tts_maml.training.trainer_model import MamlTrainer, MamlTrainerModel


def main():
    args = recipe_arguments("Meta-train Glow-TTS (MAML) on VCTK or the built-in offline corpus.")
    output_path = args.output_path or os.path.join(os.getcwd(), "output")
    restore_path = ""
    if args.init:  # phase 2: the converted pre-trained model, on the pre-training corpus
        config = load_config(os.path.join(args.init, "config.json"))
        restore_path = os.path.join(args.init, "model.pth")
        dataset = BaseDatasetConfig(formatter="vctk", path=args.data_path or offline_corpus(**PRETRAIN_CORPUS))
        apply_overrides(config, dict(output_path=output_path, epochs=1, print_step=5, save_step=20, run_eval=True,
                                     run_name="meta_train_glow_tts",
                                     test_sentences=["The quiet judge measured the yellow chair."]))  # fmt: skip
        config.maml.meta_steps_per_epoch = 60
        config.maml.inner_lr, config.maml.meta_lr = 0.1, 1e-4
    else:
        dataset = BaseDatasetConfig(formatter="vctk", path=args.data_path or offline_corpus())
        if args.size == "vctk":  # Coqui's VCTK recipe sizes, meant for a GPU
            config = GlowTTSBackbone.vctk_config(output_path=output_path, epochs=1000, print_step=25, save_step=1000)
            config.maml.meta_steps_per_epoch = 500
        else:  # tiny Glow-TTS: about 6 minutes on 2 CPU cores on the built-in corpus
            config = GlowTTSBackbone.tiny_config(output_path=output_path, epochs=3, print_step=50, save_step=80,
                                              test_sentences=["The quiet judge measured the yellow chair."])  # fmt: skip
            config.maml.meta_steps_per_epoch = 80
    config.datasets = [dataset]
    config.phoneme_cache_path = os.path.join(output_path, "phoneme_cache")
    config.maml.n_support, config.maml.n_query = 5, 5

    ap = AudioProcessor(config.audio)
    tokenizer, config = TTSTokenizer.init_from_config(config)
    samples = load_samples(dataset)
    if args.data_path:  # whole speakers held out of meta-training, for evaluation
        train_samples, held = split_held_out(samples, args.held_out_speakers, seed=config.maml.seed)
        eval_samples = dev_samples(held)  # dev speakers choose checkpoints; test speakers stay unseen
    else:  # the built-in corpus has its held-out speakers in a folder of their own; dev ones choose checkpoints
        held_out = BaseDatasetConfig(formatter="vctk", path=held_out_dir(dataset.path))
        train_samples, eval_samples = samples, dev_samples(load_samples(held_out))

    # The voice slot: config.speakers == ["voice"], one speaker-embedding row that adaptation tunes.
    model = GlowTTS(config, ap, tokenizer, speaker_manager=SpeakerManager.init_from_config(config))
    trainer = MamlTrainer(
        TrainerArgs(restore_path=restore_path),
        config,
        output_path,
        model=MamlTrainerModel(config, model),
        train_samples=train_samples,
        eval_samples=eval_samples,
        callbacks=progress_callbacks(),
    )
    trainer.fit()


if __name__ == "__main__":
    main()
