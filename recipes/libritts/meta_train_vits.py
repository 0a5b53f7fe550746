# Meta-train VITS with MAML on LibriTTS: every reader is a task.
#
#   python recipes/libritts/meta_train_vits.py --data-path /data/LibriTTS/train-clean-100            # GPU
#   python recipes/libritts/meta_train_vits.py --data-path /data/LibriTTS/train-clean-100 --size tiny # CPU smoke run
#
# LibriTTS is 24 kHz; the config's audio rate follows it. Needs the data (it is not downloaded).
import os

from trainer import TrainerArgs
from TTS.tts.configs.shared_configs import BaseDatasetConfig
from TTS.tts.models.vits import Vits
from TTS.tts.utils.speakers import SpeakerManager
from TTS.tts.utils.text.tokenizer import TTSTokenizer
from TTS.utils.audio import AudioProcessor

from tts_maml.backbones import VitsBackbone
from tts_maml.corpus.samples import load_samples
from tts_maml.corpus.speaker_split import dev_samples, split_held_out
from tts_maml.training.recipe import progress_callbacks, recipe_arguments
from tts_maml.training.trainer_model import MamlTrainer, MamlTrainerModel


def main():
    args = recipe_arguments("Meta-train VITS (MAML) on LibriTTS.")
    if not args.data_path:
        raise SystemExit("--data-path /path/to/LibriTTS/<subset> is required (LibriTTS is not downloaded)")
    output_path = args.output_path or os.path.join(os.getcwd(), "output")
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
    config.datasets = [dataset]
    config.phoneme_cache_path = os.path.join(output_path, "phoneme_cache")

    ap = AudioProcessor(config.audio)
    tokenizer, config = TTSTokenizer.init_from_config(config)
    train_samples, held = split_held_out(load_samples(dataset), args.held_out_speakers, seed=config.maml.seed)
    eval_samples = dev_samples(held)  # dev speakers choose checkpoints; test speakers stay unseen
    model = Vits(config, ap, tokenizer, speaker_manager=SpeakerManager.init_from_config(config))
    trainer = MamlTrainer(TrainerArgs(), config, output_path, model=MamlTrainerModel(config, model),
                          train_samples=train_samples, eval_samples=eval_samples, callbacks=progress_callbacks())  # fmt: skip
    trainer.fit()


if __name__ == "__main__":
    main()
