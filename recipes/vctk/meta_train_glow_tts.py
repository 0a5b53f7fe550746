# Meta-train Glow-TTS with MAML so that it learns new voices from a few clips.
#
#   python recipes/vctk/meta_train_glow_tts.py                                       # built-in offline corpus, tiny Glow-TTS, CPU, ~6 min
#   python recipes/vctk/meta_train_glow_tts.py --data-path /data/VCTK-Corpus-0.92    # real VCTK, Coqui's VCTK sizes (GPU)
#   python recipes/vctk/meta_train_glow_tts.py --coqpit.maml.inner_lr 0.2 --coqpit.maml.algorithm fomaml
#   python recipes/vctk/meta_train_glow_tts.py --continue_path output/<run folder>   # resume
#   python recipes/vctk/meta_train_glow_tts.py --init base/                          # phase 2: from a converted
#       pre-trained model (recipes/vctk/pretrain_glow_tts.py, then tts-maml convert --out base/), dev speakers for eval
#   python recipes/vctk/meta_train_glow_tts.py --init base/ --data-path ~/.cache/tts_maml/families-meta_train-dev-test-u20-s0
#       # on the voice families pre-training never saw (docs/corpus.md); their dev voices choose checkpoints
#   CUDA_VISIBLE_DEVICES=0,1 python -m trainer.distribute --script recipes/vctk/meta_train_glow_tts.py --data-path ...
#   torchrun --nproc_per_node 2 recipes/vctk/meta_train_glow_tts.py --data-path ...      # docs/distributed.md
#
# Writes a Coqui run folder (config.json, checkpoint_N.pth, best_model.pth, TensorBoard logs) whose
# checkpoints the stock `tts` command loads (Griffin-Lim, or a Coqui HiFi-GAN with --vocoder_path),
# and that `tts-maml adapt` adapts to a new voice.
import os

from TTS.tts.configs.shared_configs import BaseDatasetConfig
from TTS.tts.models.glow_tts import GlowTTS

from tts_maml.backbones import GlowTTSBackbone
from tts_maml.backbones.base import apply_overrides
from tts_maml.config import load_config
from tts_maml.corpus.offline import PRETRAIN_CORPUS, offline_corpus, own_held_out
from tts_maml.training.recipe import meta_train, output_folder, recipe_arguments

SENTENCES = ["The quiet judge measured the yellow chair."]


def main():
    args = recipe_arguments("Meta-train Glow-TTS (MAML) on VCTK or the built-in offline corpus.")
    output_path = output_folder(args)
    restore_path = ""
    if args.init:  # phase 2: the converted pre-trained model, on the pre-training corpus
        config = load_config(os.path.join(args.init, "config.json"))
        restore_path = os.path.join(args.init, "model.pth")
        dataset = BaseDatasetConfig(formatter="vctk", path=args.data_path or offline_corpus(**PRETRAIN_CORPUS))
        apply_overrides(config, dict(output_path=output_path, epochs=1, print_step=5, save_step=20, run_eval=True,
                                     run_name="meta_train_glow_tts", test_sentences=SENTENCES))  # fmt: skip
        config.maml.meta_steps_per_epoch = 60
        config.maml.inner_lr, config.maml.meta_lr = 0.1, 1e-4
        # Keep the global-variance term of the pre-training's last epoch in the task loss (inner loop,
        # query loss, adaptation): maximum likelihood alone pulls the mels back to the smooth mean.
        config.maml.global_variance_weight = 1.0
    else:
        dataset = BaseDatasetConfig(formatter="vctk", path=args.data_path or offline_corpus())
        if args.size == "vctk":  # Coqui's VCTK recipe sizes, meant for a GPU
            config = GlowTTSBackbone.vctk_config(output_path=output_path, epochs=1000, print_step=25, save_step=1000)
            config.maml.meta_steps_per_epoch = 500
        else:  # tiny Glow-TTS: about 6 minutes on 2 CPU cores on the built-in corpus
            config = GlowTTSBackbone.tiny_config(output_path=output_path, epochs=3, print_step=50, save_step=80,
                                                 test_sentences=SENTENCES)  # fmt: skip
            config.maml.meta_steps_per_epoch = 80
    config.maml.n_support, config.maml.n_query = 5, 5

    # Held-out speakers: a corpus's own held_out/ folder (the built-in corpora, a family corpus's dev
    # and test voices); else --held-out-speakers drawn out of --data-path.
    held_out = own_held_out(dataset.path)
    meta_train(GlowTTS, config, dataset, args, output_path, held_out_folder=held_out, restore_path=restore_path)


if __name__ == "__main__":
    main()
