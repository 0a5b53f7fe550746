# Phase 1 of 2: pre-train a multi-speaker Glow-TTS the ordinary Coqui way (Coqui's model, train_step,
# losses and Trainer), conditioned on speaker d-vectors, before meta-training.
#
#   python recipes/vctk/pretrain_glow_tts.py --output-path runs                   # built-in corpus (240 speakers), CPU
#   python recipes/vctk/pretrain_glow_tts.py --data-path /data/VCTK-Corpus-0.92   # real VCTK
#   python recipes/vctk/pretrain_glow_tts.py --continue_path runs/<run folder>    # resume
#
# Then convert it into a one-voice-slot tts_maml model and meta-train from it:
#   tts-maml convert --model_path runs/<run>/checkpoint_N.pth --config_path runs/<run>/config.json --out base/
#   python recipes/vctk/meta_train_glow_tts.py --init base/ ...
#
# The run folder is a plain Coqui one: `tts --model_path .../checkpoint_N.pth --config_path .../config.json
# --speaker_idx sp005 --speakers_file_path .../d_vectors.json` speaks any training speaker.
import os

from trainer import Trainer, TrainerArgs
from TTS.tts.configs.shared_configs import BaseDatasetConfig
from TTS.tts.models.glow_tts import GlowTTS
from TTS.tts.utils.speakers import SpeakerManager

from tts_maml.corpus.offline import PRETRAIN_CORPUS, offline_corpus
from tts_maml.corpus.samples import load_samples
from tts_maml.speakers.d_vectors import prepare_d_vectors
from tts_maml.training.pretraining import pretrain_glow_tts_config
from tts_maml.training.recipe import coqui_setup, output_folder, recipe_arguments


def main():
    args = recipe_arguments("Pre-train a multi-speaker Glow-TTS (d-vector conditioning) on VCTK or the built-in corpus.")
    output_path = output_folder(args)
    dataset = BaseDatasetConfig(formatter="vctk", path=args.data_path or offline_corpus(**PRETRAIN_CORPUS))
    samples = load_samples(dataset)  # every training speaker (the built-in corpus keeps dev/test apart)

    # Speaker d-vectors of every clip, projected to the encoder's width (computed once per output folder).
    d_vectors = prepare_d_vectors(samples, os.path.join(output_path, "d_vectors"), dim=96)
    config = pretrain_glow_tts_config(d_vectors["d_vector_file"], output_path=output_path, epochs=30)
    ap, tokenizer, config = coqui_setup(config, dataset, output_path)
    model = GlowTTS(config, ap, tokenizer, speaker_manager=SpeakerManager.init_from_config(config))
    trainer = Trainer(TrainerArgs(), config, output_path, model=model, train_samples=samples, eval_samples=None)
    trainer.fit()


if __name__ == "__main__":
    main()
