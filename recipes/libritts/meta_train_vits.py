# Meta-train VITS with MAML on LibriTTS: every reader is a task.
#
#   python recipes/libritts/meta_train_vits.py --data-path /data/LibriTTS/train-clean-100            # GPU
#   python recipes/libritts/meta_train_vits.py --data-path /data/LibriTTS/train-clean-100 --size tiny # CPU smoke run
#
# LibriTTS is 24 kHz; the config's audio rate follows it. Needs the data (it is not downloaded).
from TTS.tts.configs.shared_configs import BaseDatasetConfig
from TTS.tts.models.vits import Vits

from tts_maml.backbones import VitsBackbone
from tts_maml.training.recipe import meta_train, output_folder, recipe_arguments


def main():
    args = recipe_arguments("Meta-train VITS (MAML) on LibriTTS.")
    if not args.data_path:
        raise SystemExit("--data-path /path/to/LibriTTS/<subset> is required (LibriTTS is not downloaded)")
    output_path = output_folder(args)
    dataset = BaseDatasetConfig(formatter="libri_tts", path=args.data_path)
    if args.size == "vctk":
        config = VitsBackbone.vctk_config(output_path=output_path, epochs=1000, print_step=25, save_step=1000,
                                          run_name="libritts_vits_maml")  # fmt: skip
        config.maml.meta_steps_per_epoch = 500
    else:
        config = VitsBackbone.tiny_config(output_path=output_path, epochs=4, print_step=50, save_step=100,
                                          run_name="tiny_libritts_vits_maml")  # fmt: skip
        config.maml.meta_steps_per_epoch = 100
    config.audio.sample_rate = 24000
    # --held-out-speakers readers are kept out of meta-training: dev ones choose checkpoints.
    meta_train(Vits, config, dataset, args, output_path)


if __name__ == "__main__":
    main()
