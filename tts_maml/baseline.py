"""The ordinary-training baseline: the same model trained jointly on the same clips, no inner loop.

This is the comparison the MAML-for-TTS literature makes: the same architecture trained on the same
speakers the ordinary way (every clip of a meta-batch's tasks in one loss, one gradient step), for
the same number of steps, then adapted to a new voice exactly like the meta-learned model.

Example:
    >>> import torch
    >>> from tts_maml.baseline import joint_step
    >>> model = torch.nn.Linear(1, 1)
    >>> loss = lambda params, batch: ((torch.func.functional_call(model, params, (batch,)) - 1) ** 2).mean()
    >>> joint_step(model, loss, [torch.ones(2, 1)], torch.optim.SGD(model.parameters(), lr=0.1)) >= 0
    True
"""

from typing import Any, Callable, Dict, Optional, Sequence

import torch
from torch import Tensor, nn


def joint_step(
    model: nn.Module,
    task_loss: Callable[[Dict[str, Tensor], Any], Tensor],
    batches: Sequence[Any],
    optimizer: torch.optim.Optimizer,
    grad_clip: float = 5.0,
    parameters: Optional[Sequence[nn.Parameter]] = None,
) -> float:
    """One ordinary training step on the mean task loss of ``batches``; returns that loss.

    Args:
        model: the model (its live parameters are used).
        task_loss: ``loss(params, batch)``, the same loss the meta-learner uses.
        batches: one batch per task (support and query clips together).
        optimizer: updates ``parameters``.
        grad_clip: global gradient-norm clip (0: off).
        parameters: the trained parameters (default: every parameter of ``model``).
    """
    params = dict(model.named_parameters())
    trained = list(parameters) if parameters is not None else list(model.parameters())
    optimizer.zero_grad(set_to_none=True)
    total = 0.0
    for batch in batches:
        loss = task_loss({**params, **dict(model.named_buffers())}, batch) / len(batches)
        loss.backward()
        total += float(loss.detach())
    if grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(trained, grad_clip)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return total


def train_baseline(
    meta_model: str,
    config_path: str,
    data_path: str,
    out: str,
    steps: Optional[int] = None,
    seed: int = 0,
    overwrite: bool = False,
    progress: bool = True,
) -> str:
    """Train the baseline for a meta-trained model: the same architecture and config, trained the
    ordinary way on the same speakers (episodes of the same sampler, support and query clips in
    one loss) for the same number of gradient evaluations: ``meta-steps x (inner_steps + 1)``
    steps of one task-batch gradient each, unless ``steps`` is given.

    Writes ``out/baseline.pth`` (a plain Coqui checkpoint, with the meta model's adapter names so
    that ``tts-maml evaluate`` adapts the same tensors) and ``out/config.json``. Returns the
    checkpoint path.
    """
    import json
    import os

    from TTS.tts.configs.shared_configs import BaseDatasetConfig
    from tqdm import tqdm

    from tts_maml.backbones import get_backbone
    from tts_maml.checkpoints import atomic_save, atomic_write_text, check_output_folder, load_checkpoint
    from tts_maml.clips import screen_samples
    from tts_maml.config import load_config
    from tts_maml.episodes import EpisodeSampler
    from tts_maml.recipes import load_samples

    check_output_folder(out, overwrite)
    config = load_config(config_path)
    meta = load_checkpoint(meta_model).get("maml") or {}
    if steps is None:
        if "meta_steps_done" not in meta:
            raise ValueError(f"{meta_model} does not say how many meta-steps it took: pass --steps")
        steps = int(meta["meta_steps_done"]) * (config.maml.inner_steps + 1)
    backbone = get_backbone(config)
    torch.manual_seed(seed)
    model = backbone.build_model().train()
    samples = screen_samples(load_samples(BaseDatasetConfig(formatter="vctk", path=data_path)), config,
                             model.tokenizer)  # fmt: skip
    maml = config.maml
    sampler = EpisodeSampler(samples, maml.n_support, maml.n_query, task_key=maml.task_key, seed=maml.seed,
                             held_out_tasks=maml.held_out_tasks, held_out_task_names=maml.held_out_task_names)  # fmt: skip
    trained = [p for n, p in model.named_parameters() if n in set(backbone.meta_parameter_names(model))]
    optimizer = torch.optim.Adam(trained, lr=maml.meta_lr)
    loss = backbone.task_loss(model)
    bar = tqdm(total=steps, desc="train-baseline", unit="step", disable=not progress)
    with bar:
        for step in range(steps):
            episodes = sampler.sample(step, maml.meta_batch_size)
            batches = [backbone.make_batch(model, e.support + e.query) for e in episodes]
            value = joint_step(model, loss, batches, optimizer, grad_clip=maml.outer_grad_clip, parameters=trained)
            bar.set_postfix(loss=f"{value:.3f}")
            bar.update(1)
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "baseline.pth")
    atomic_save({"config": config.to_dict(), "model": model.state_dict(), "step": steps, "epoch": 0,
                 "maml": {"baseline": {"steps": steps, "meta_model": os.path.abspath(meta_model)},
                          "adapted": meta.get("adapted"), "backbone": backbone.name}}, path)  # fmt: skip
    atomic_write_text(json.dumps(config.to_dict(), indent=4), os.path.join(out, "config.json"))
    return path
