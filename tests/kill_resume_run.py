"""A tiny meta-training run for test_kill_resume.py (run as a subprocess, so that it can be killed).

python kill_resume_run.py CORPUS OUTPUT STEPS STREAM_FILE [CONTINUE_PATH]

Appends "step task task ..." to STREAM_FILE when each meta-step starts (flushed and fsynced).
"""

import os
import sys

import torch
from TTS.tts.configs.shared_configs import BaseDatasetConfig
from trainer import TrainerArgs

from tts_maml.backbones import VitsBackbone
from tts_maml.meta_training import MamlTrainer, MamlTrainerModel
from tts_maml.recipes import load_samples


def main():
    corpus, output, steps, stream = sys.argv[1:5]
    continue_path = sys.argv[5] if len(sys.argv) > 5 else None
    torch.set_num_threads(1)
    config = VitsBackbone.tiny_config(phoneme_cache_path=os.path.join(output, "phonemes"), output_path=output,
                                      epochs=1, print_step=1000, plot_step=1000, save_step=1, run_eval=False,
                                      test_sentences=[])  # fmt: skip
    config.maml.inner_steps, config.maml.meta_batch_size = 1, 2
    config.maml.n_support, config.maml.n_query = 2, 2
    config.maml.meta_steps_per_epoch = int(steps)
    samples = load_samples(BaseDatasetConfig(formatter="vctk", path=corpus))
    model = MamlTrainerModel(config)
    meta_step = model.learner.meta_step

    def recording(tasks, optimizer, step):
        with open(stream, "a", encoding="utf-8") as f:
            f.write(" ".join([str(step)] + [t.task for t in tasks]) + "\n")
            f.flush()
            os.fsync(f.fileno())
        return meta_step(tasks, optimizer, step)

    model.learner.meta_step = recording
    args = TrainerArgs()
    if continue_path:
        args.continue_path = continue_path
    trainer = MamlTrainer(args, config, output, model=model, train_samples=samples, parse_command_line_args=False)
    trainer.fit()


if __name__ == "__main__":
    main()
