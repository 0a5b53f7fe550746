# Meta-train VITS with MAML on your own multi-speaker folder:
#
#   DATA/<speaker>/metadata.csv      id|text, LJSpeech style (id = clip file name without extension)
#   DATA/<speaker>/<id>.wav|.flac    one clip per line of metadata.csv
#
#   python recipes/custom/meta_train_vits.py --data-path DATA
#   python recipes/custom/meta_train_vits.py     # the built-in corpus' speaker folders, as an example
#
# The formatter is the small function below: change it to read your layout.
import csv
import os

from trainer import TrainerArgs
from TTS.tts.configs.shared_configs import BaseDatasetConfig
from TTS.tts.models.vits import Vits
from TTS.tts.utils.speakers import SpeakerManager
from TTS.tts.utils.text.tokenizer import TTSTokenizer
from TTS.utils.audio import AudioProcessor

from tts_maml.backbones import VitsBackbone
from tts_maml.corpus.offline import offline_corpus
from tts_maml.corpus.samples import load_samples
from tts_maml.corpus.speaker_split import dev_samples, split_held_out
from tts_maml.training.recipe import progress_callbacks, recipe_arguments
from tts_maml.training.trainer_model import MamlTrainer, MamlTrainerModel


def speaker_folders(root_path, meta_file=None, **kwargs):
    """Coqui formatter: one task per speaker folder holding a metadata.csv (`id|text`)."""
    items = []
    for speaker in sorted(os.listdir(root_path)):
        metadata = os.path.join(root_path, speaker, "metadata.csv")
        if not os.path.isfile(metadata):
            continue
        with open(metadata, encoding="utf-8") as f:
            for row in csv.reader(f, delimiter="|", quoting=csv.QUOTE_NONE):
                for ext in (".wav", ".flac"):
                    audio = os.path.join(root_path, speaker, row[0] + ext)
                    if os.path.isfile(audio):
                        items.append({"text": row[1], "audio_file": audio, "speaker_name": speaker, "root_path": root_path})
    return items


def main():
    args = recipe_arguments("Meta-train VITS (MAML) on a folder of speaker folders.")
    output_path = args.output_path or os.path.join(os.getcwd(), "output")
    data_path = args.data_path or os.path.join(offline_corpus(), "wav48_silence_trimmed")
    dataset = BaseDatasetConfig(formatter="speaker_folders", path=data_path)
    config = VitsBackbone.tiny_config(output_path=output_path, epochs=4, print_step=50, save_step=100,
                                      run_name="custom_vits_maml")  # fmt: skip
    config.maml.meta_steps_per_epoch = 100
    config.datasets = [dataset]
    config.phoneme_cache_path = os.path.join(output_path, "phoneme_cache")

    ap = AudioProcessor(config.audio)
    tokenizer, config = TTSTokenizer.init_from_config(config)
    samples = load_samples(dataset, formatter=speaker_folders)
    train_samples, held = split_held_out(samples, args.held_out_speakers, seed=config.maml.seed)
    eval_samples = dev_samples(held)  # dev speakers choose checkpoints; test speakers stay unseen
    model = Vits(config, ap, tokenizer, speaker_manager=SpeakerManager.init_from_config(config))
    trainer = MamlTrainer(TrainerArgs(), config, output_path, model=MamlTrainerModel(config, model),
                          train_samples=train_samples, eval_samples=eval_samples, callbacks=progress_callbacks())  # fmt: skip
    trainer.fit()


if __name__ == "__main__":
    main()
