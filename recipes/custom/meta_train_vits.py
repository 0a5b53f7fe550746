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

from TTS.tts.configs.shared_configs import BaseDatasetConfig
from TTS.tts.models.vits import Vits

from tts_maml.backbones import VitsBackbone
from tts_maml.corpus.offline import offline_corpus
from tts_maml.training.recipe import meta_train, output_folder, recipe_arguments


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
    output_path = output_folder(args)
    data_path = args.data_path or os.path.join(offline_corpus(), "wav48_silence_trimmed")
    dataset = BaseDatasetConfig(formatter="speaker_folders", path=data_path)
    config = VitsBackbone.tiny_config(output_path=output_path, epochs=4, print_step=50, save_step=100,
                                      run_name="custom_vits_maml")  # fmt: skip
    config.maml.meta_steps_per_epoch = 100
    # --held-out-speakers speaker folders are kept out of meta-training: dev ones choose checkpoints.
    meta_train(Vits, config, dataset, args, output_path, formatter=speaker_folders)


if __name__ == "__main__":
    main()
