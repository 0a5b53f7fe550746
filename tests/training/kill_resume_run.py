"""A tiny meta-training run for test_kill_resume.py (run as a subprocess, so that it can be killed).

python kill_resume_run.py CORPUS OUTPUT STREAM_FILE [CONTINUE_PATH]

2 epochs of 4 meta-steps, a checkpoint every 2 meta-steps, no evaluation. Appends "step task task
..." to STREAM_FILE when each meta-step starts (flushed and fsynced). With KILL_AT set, the run
SIGKILLs itself:

- ``save:N``: during the write of checkpoint_N.pth, once its temporary file is written;
- ``train_epoch_end:E``: after epoch E's last meta-step (and its checkpoint), before the epoch's end
  (its best model);
- ``train_epoch_start:E``: when epoch E starts training, after the previous epoch ended.
"""

import os
import signal
import sys

import torch
from trainer import TrainerArgs
from TTS.tts.configs.shared_configs import BaseDatasetConfig

from tts_maml.backbones import VitsBackbone
from tts_maml.corpus.samples import load_samples
from tts_maml.training import trainer_model as meta_training
from tts_maml.training.trainer_model import MamlTrainer, MamlTrainerModel

STEPS_PER_EPOCH, EPOCHS, SAVE_STEP = 4, 2, 2


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def kill_switch(kill_at):
    """Trainer callbacks (and a save_model wrapper) that SIGKILL the run at ``kill_at``."""
    where, _, value = kill_at.partition(":")
    if where == "save":
        save_model = meta_training.save_model

        def saving(*args, **kwargs):
            save_model(*args, **kwargs)
            if os.path.basename(args[2]).startswith(f".checkpoint_{value}.pth."):
                die()

        meta_training.save_model = saving
        return {}
    if where in ("train_epoch_end", "train_epoch_start"):
        return {f"on_{where}": lambda trainer: trainer.epochs_done == int(value) and die()}
    if where:
        raise ValueError(f"KILL_AT={kill_at!r}: save:N, train_epoch_end:E or train_epoch_start:E")
    return {}


def main():
    corpus, output, stream = sys.argv[1:4]
    continue_path = sys.argv[4] if len(sys.argv) > 4 else None
    torch.set_num_threads(1)
    torch.manual_seed(0)
    config = VitsBackbone.tiny_config(phoneme_cache_path=os.path.join(output, "phonemes"), output_path=output,
                                      epochs=EPOCHS, print_step=1000, plot_step=1000, save_step=SAVE_STEP,
                                      run_eval=False, test_sentences=[])  # fmt: skip
    config.maml.inner_steps, config.maml.meta_batch_size = 1, 2
    config.maml.n_support, config.maml.n_query = 2, 2
    config.maml.meta_steps_per_epoch = STEPS_PER_EPOCH
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
    trainer = MamlTrainer(args, config, output, model=model, train_samples=samples, parse_command_line_args=False,
                          callbacks=kill_switch(os.environ.get("KILL_AT", "")))  # fmt: skip
    trainer.fit()


if __name__ == "__main__":
    main()
