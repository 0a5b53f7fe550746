"""A tiny meta-training script for test_distributed.py, run alone or by Coqui's launcher:

    CORPUS=... OUTPUT=... python distribute_run.py
    CORPUS=... OUTPUT=... python -m trainer.distribute --script distribute_run.py --gpus 0,1 \\
        --coqpit.distributed_backend gloo

2 meta-steps of 2 tasks; each process writes OUTPUT/rank<r>.json: its rank, the world size, its
torch threads and the tasks it ran per meta-step.
"""

import json
import os

import torch
from trainer import TrainerArgs
from TTS.tts.configs.shared_configs import BaseDatasetConfig

from tts_maml.backbones import VitsBackbone
from tts_maml.corpus.samples import load_samples
from tts_maml.meta.distributed import rank_and_world_size
from tts_maml.training.trainer_model import MamlTrainer, MamlTrainerModel


def main():
    corpus, output = os.environ["CORPUS"], os.environ["OUTPUT"]
    torch.manual_seed(0)
    config = VitsBackbone.tiny_config(phoneme_cache_path=os.path.join(output, "phonemes"), output_path=output,
                                      epochs=1, print_step=1000, plot_step=1000, save_step=2, run_eval=False,
                                      test_sentences=[])  # fmt: skip
    config.maml.inner_steps, config.maml.meta_batch_size = 1, 2
    config.maml.n_support, config.maml.n_query = 2, 2
    config.maml.meta_steps_per_epoch = 2
    model = MamlTrainerModel(config)
    meta_step, record = model.learner.meta_step, {"tasks": []}

    def recording(tasks, optimizer, step):
        rank, world_size = rank_and_world_size()
        record.update(rank=rank, world_size=world_size, threads=torch.get_num_threads())
        record["tasks"].append([t.task for t in tasks])
        return meta_step(tasks, optimizer, step)

    model.learner.meta_step = recording
    samples = load_samples(BaseDatasetConfig(formatter="vctk", path=corpus))
    MamlTrainer(TrainerArgs(), config, output, model=model, train_samples=samples).fit()
    with open(os.path.join(output, f"rank{record['rank']}.json"), "w", encoding="utf-8") as f:
        json.dump(record, f)


if __name__ == "__main__":
    main()
