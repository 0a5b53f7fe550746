# Meta-train VITS with MAML so that it learns new voices from a few clips.
#
#   python recipes/vctk/meta_train_vits.py                                       # built-in offline corpus, tiny VITS, CPU, ~8 min
#   python recipes/vctk/meta_train_vits.py --data-path /data/VCTK-Corpus-0.92    # real VCTK, Coqui's VCTK sizes (GPU)
#   python recipes/vctk/meta_train_vits.py --coqpit.maml.inner_lr 0.02 --coqpit.maml.algorithm fomaml
#   python recipes/vctk/meta_train_vits.py --continue_path output/<run folder>   # resume
#   CUDA_VISIBLE_DEVICES=0,1 python -m trainer.distribute --script recipes/vctk/meta_train_vits.py --data-path ...
#
# Writes a Coqui run folder (config.json, checkpoint_N.pth, best_model.pth, TensorBoard logs) whose
# checkpoints the stock `tts` command loads, and that `tts-maml adapt` adapts to a new voice.
from TTS.tts.configs.shared_configs import BaseDatasetConfig
from TTS.tts.models.vits import Vits

from tts_maml.backbones import VitsBackbone
from tts_maml.corpus.offline import offline_corpus, own_held_out
from tts_maml.training.recipe import meta_train, output_folder, recipe_arguments


def main():
    args = recipe_arguments("Meta-train VITS (MAML) on VCTK or the built-in offline corpus.")
    output_path = output_folder(args)
    dataset = BaseDatasetConfig(formatter="vctk", path=args.data_path or offline_corpus())
    if args.size == "vctk":  # Coqui's VCTK recipe sizes, meant for a GPU
        config = VitsBackbone.vctk_config(output_path=output_path, epochs=1000, print_step=25, save_step=1000)
        config.maml.meta_steps_per_epoch = 500
    else:  # tiny VITS: about 8 minutes on 2 CPU cores on the built-in corpus
        config = VitsBackbone.tiny_config(output_path=output_path, epochs=3, print_step=50, save_step=80,
                                          test_sentences=["The quiet judge measured the yellow chair."])  # fmt: skip
        config.maml.meta_steps_per_epoch = 80
    config.maml.n_support, config.maml.n_query = 5, 5

    # Held-out speakers: a corpus's own held_out/ folder (the built-in corpora, a family corpus's dev
    # and test voices); else --held-out-speakers drawn out of --data-path.
    held_out = own_held_out(dataset.path)
    meta_train(Vits, config, dataset, args, output_path, held_out_folder=held_out)


if __name__ == "__main__":
    main()
