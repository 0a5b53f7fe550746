"""Meta-training in Coqui's Trainer.

:class:`MamlTrainerModel` is a ``trainer.TrainerModel`` whose training step is one meta-step
(:meth:`MamlTrainerModel.optimize`: the Trainer's custom-optimisation hook), whose evaluation step
adapts to a held-out task and scores it, and whose ``state_dict`` is the Coqui model's own, so the
Trainer writes plain Coqui checkpoints (``checkpoint_N.pth``, ``best_model.pth``) that the stock
``tts`` command loads. :class:`MamlTrainer` is Coqui's ``Trainer`` plus one thing: it adds a
``"maml"`` entry (:class:`tts_maml.checkpoint.MamlEntry`: learned inner learning rates, the adapter
names, the episode-sampler state, counters) to every checkpoint it writes, a key Coqui ignores, and
reads it back on
``--continue_path`` / ``--restore_path``.

Why these two pieces, and nothing more:

- A meta-step runs several backward passes per task and, for Reptile, is not the gradient of a
  loss at all: it cannot be a ``train_step`` that returns a loss for the Trainer to backpropagate.
  The Trainer's ``optimize(batch, trainer)`` hook lets the model run its own step, so the loop,
  logging, checkpointing, evaluation and TensorBoard stay Coqui's.
- coqui-tts-trainer wraps the model in DDP but calls it through ``ddp_model.module``, so DDP never
  averages gradients here; the meta-gradients are all-reduced by :mod:`tts_maml.meta.distributed`.
  Without GPUs it starts no process group at all: ``MamlTrainer`` starts the gloo one. It does not
  know ``torchrun`` at all: under it ``MamlTrainer`` joins torchrun's group itself (gloo or nccl)
  and the ranks agree on one run folder.
- The Trainer has no hook to add entries to a checkpoint, hence the small ``MamlTrainer`` subclass.

One count, N, the meta-steps done: ``checkpoint_N.pth`` and ``best_model_N.pth`` are written after
N meta-steps and hold ``meta_steps_done`` N, and TensorBoard logs the statistics of the meta-step
that made the count N at step N. (Coqui's Trainer logs and saves a step under the count *before*
it and adds one to the saved step on ``--continue_path``; :meth:`MamlTrainerModel.optimize` and
:meth:`MamlTrainer.restore_model` set its counter to N instead.)

The episodes of meta-step ``s`` (0-based) are drawn from ``(maml.seed, s)``; the count rides in the
checkpoint, so a continued run draws exactly the episodes that an uninterrupted run would have
drawn next. ``--continue_path`` finishes the run the config describes: the meta-steps left in the
interrupted epoch (its evaluation and best-model check included), then the remaining epochs, with
the epoch's running train averages restored, so the total and the final weights are the
uninterrupted run's. Temporary files that a kill during a save left behind are removed (and
logged) when the run continues.
"""

import dataclasses
import filecmp
import glob
import logging
import os
import re
import shutil
from typing import Any, Dict, List, Optional, Sequence

import torch
from torch import nn
from torch.utils.data import DataLoader
from trainer import Trainer, TrainerModel
from trainer.io import keep_n_checkpoints, save_model

from tts_maml.adapt.clips import screen_samples
from tts_maml.backbones import get_backbone
from tts_maml.checkpoint import CHECKPOINT_KEY, MamlEntry, check_state_dict, load_checkpoint
from tts_maml.files import atomic_write, remove_stale_temporaries
from tts_maml.meta.distributed import (
    agree_on_a_start,
    all_reduce_sum,
    init_cpu_process_group,
    init_torchrun_process_group,
    launched_world_size,
    rank_and_world_size,
    share_cores,
    torchrun_ranks,
)
from tts_maml.meta.episodes import Episode, EpisodeSampler
from tts_maml.meta.learner import INNER_LRS_GROUP, TaskBatch

logger = logging.getLogger(__name__)

__all__ = ["MamlTrainer", "MamlTrainerModel"]


class _Indices(torch.utils.data.Dataset):
    """``0..n-1``: a meta-step draws its own episodes, the loader only paces the epoch."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> Dict[str, int]:
        return {"index": index}


class _EpochSteps(torch.utils.data.Sampler):
    """The positions in the epoch of the meta-steps it has left: all of them, or after a
    continued checkpoint, those after it (:meth:`MamlTrainerModel.on_train_epoch_start`)."""

    def __init__(self, model: "MamlTrainerModel", steps_per_epoch: int) -> None:
        self.model = model
        self.steps_per_epoch = steps_per_epoch

    def _steps(self) -> range:
        return self.model.epoch_steps if self.model.epoch_steps is not None else range(self.steps_per_epoch)

    def __iter__(self):
        return iter(self._steps())

    def __len__(self) -> int:
        return len(self._steps())


class MamlTrainerModel(TrainerModel):
    """A Coqui model (VITS or Glow-TTS) meta-trained by Coqui's Trainer.

    Args:
        config: ``MamlVitsConfig`` or ``MamlGlowTTSConfig``.
        model: the Coqui model, if already built (else built from ``config``).

    Example:
        >>> from tts_maml.backbones import VitsBackbone
        >>> from tts_maml.training.trainer_model import MamlTrainerModel
        >>> model = MamlTrainerModel(VitsBackbone.tiny_config())
        >>> next(iter(model.state_dict())).startswith("model.")
        False
    """

    def __init__(self, config, model: Optional[nn.Module] = None) -> None:
        super().__init__()
        config.maml.check_values()
        self.config = config
        self.backbone = get_backbone(config)
        self.model = model if model is not None else self.backbone.build_model()
        if config.maml.train_discriminator and not self.backbone.supports_discriminator:
            raise ValueError(f"maml.train_discriminator: the {self.backbone.name} backbone has no discriminator")
        self._learner_built_for: Optional[tuple] = None  # what apply_config built the learner for
        self.apply_config()
        self.train_sampler: Optional[EpisodeSampler] = None
        self.eval_episodes: List[Episode] = []
        self._saved_sampler_state: Optional[Dict[str, Any]] = None
        self.meta_steps_done = 0
        self.epoch_steps: Optional[range] = None  # set by on_train_epoch_start

    def apply_config(self) -> None:
        """(Re)build what the ``maml`` section decides, the adapted tensors and the learner, from
        ``self.config`` as it is now.

        Coqui's Trainer applies ``--coqpit.*`` overrides and a continued run's config.json to the
        config object *after* the model is built; :meth:`get_optimizer`, which the Trainer calls
        next, calls this first, so that ``--coqpit.maml.algorithm metasgd`` or
        ``--coqpit.maml.adapter_preset`` take effect rather than being written to config.json only.
        The learner is kept (the same object, its learned rates untouched) when the selection, the
        algorithm, ``inner_steps`` and ``inner_lr`` are what it was built with.
        """
        maml = self.config.maml
        maml.check_values()
        adapted = self.backbone.adapter_names(self.model)
        built_for = (tuple(adapted), maml.algorithm, maml.inner_steps, maml.inner_lr)
        if self._learner_built_for == built_for:
            return
        self.adapted = adapted
        self.learner = self.backbone.make_learner(self.model, self.adapted)
        # A submodule, so that .cuda() / .to() move the learned rates with the model.
        self.inner_lrs = self.learner.inner_lrs
        self._learner_built_for = built_for

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self, *args: Any, **kwargs: Any) -> Dict[str, Any]:
        """The Coqui model's own state dict (no wrapper prefix): a checkpoint ``tts`` loads."""
        return self.model.state_dict(*args, **kwargs)

    def load_state_dict(self, state_dict: Dict[str, Any], strict: bool = True, assign: bool = False):
        """Load a Coqui model state dict into the wrapped model."""
        return self.model.load_state_dict(state_dict, strict=strict, assign=assign)

    def extra_state(self) -> MamlEntry:
        """What rides in a checkpoint under ``"maml"`` (a key Coqui ignores); the Trainer adds
        where in its epoch the checkpoint was written."""
        return MamlEntry(
            backbone=self.backbone.name,
            algorithm=self.config.maml.algorithm,
            adapted=list(self.adapted),
            inner_lrs={n: t.detach().cpu() for n, t in self.inner_lrs.as_dict().items()} if self.inner_lrs else None,
            sampler=self.train_sampler.state_dict() if self.train_sampler else self._saved_sampler_state,
            skipped_tasks_total=self.learner.skipped_tasks_total,
            skipped_steps_total=self.learner.skipped_steps_total,
            meta_steps_done=self.meta_steps_done,
        )

    def load_extra_state(self, state: Optional[MamlEntry], check_sampler: bool = True) -> None:
        """Restore :meth:`extra_state` (learned inner LRs, counters). With ``check_sampler`` (a
        continued run), the episode-sampler state must match once the sampler exists. A
        checkpoint without the entry (a plain Coqui one) is accepted."""
        if state is None:
            logger.info("checkpoint has no %r entry: starting meta-training from plain Coqui weights", CHECKPOINT_KEY)
            return
        if state.adapted and list(state.adapted) != self.adapted:
            first = next((a for a, b in zip(state.adapted, self.adapted) if a != b), None)
            raise ValueError(
                f"the checkpoint adapts other parameters than this config (first difference: {first!r}); "
                "set maml.adapter_preset / target_modules as in the checkpoint"
            )
        if state.inner_lrs and self.inner_lrs is not None:
            with torch.no_grad():
                for name, rates in self.inner_lrs.as_dict().items():
                    saved = state.inner_lrs[name]
                    if saved.shape != rates.shape:
                        raise ValueError(
                            f"inner learning rates of {name}: shape {tuple(saved.shape)} in the checkpoint, "
                            f"{tuple(rates.shape)} here (maml.inner_steps changed?)"
                        )
                    rates.copy_(saved)
        self.learner.skipped_tasks_total = int(state.skipped_tasks_total)
        self.learner.skipped_steps_total = int(state.skipped_steps_total)
        self._saved_sampler_state = state.sampler if check_sampler else None
        if check_sampler:
            self.meta_steps_done = int(state.meta_steps_done)
        if self.train_sampler is not None and self._saved_sampler_state:
            self.train_sampler.check_state_dict(self._saved_sampler_state)

    # ------------------------------------------------------------------ data
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        """The Coqui model's forward."""
        return self.model(*args, **kwargs)

    def get_data_loader(self, config, is_eval: bool, samples: Optional[Sequence[Dict[str, Any]]], verbose: bool,
                        **kwargs: Any) -> DataLoader:  # fmt: skip
        """Training: ``maml.meta_steps_per_epoch`` placeholders (each meta-step draws its own
        episodes). Evaluation: one placeholder per held-out task."""
        maml = self.config.maml
        if not is_eval:
            if not samples:
                raise ValueError("meta-training needs train_samples (the Trainer's train_samples argument)")
            samples = screen_samples(list(samples), self.config, self.model.tokenizer, "training")
            self.train_sampler = EpisodeSampler.from_config(samples, maml)
            if self._saved_sampler_state:
                self.train_sampler.check_state_dict(self._saved_sampler_state)
            logger.info(
                "meta-training on %d tasks (%s), %d held out; adapting %d tensors (%s)",
                len(self.train_sampler.train_tasks), maml.task_key, len(self.train_sampler.held_out_tasks),
                len(self.adapted), maml.target_modules or maml.adapter_preset,
            )  # fmt: skip
            steps = maml.meta_steps_per_epoch
            return DataLoader(_Indices(steps), batch_size=1, sampler=_EpochSteps(self, steps))
        self.eval_episodes = self._eval_episodes(samples)
        return DataLoader(_Indices(len(self.eval_episodes)), batch_size=1, shuffle=False)

    def _eval_episodes(self, samples: Optional[Sequence[Dict[str, Any]]]) -> List[Episode]:
        maml = self.config.maml
        if samples:  # a held-out set of whole tasks (e.g. held-out speakers): every task is evaluated
            samples = screen_samples(list(samples), self.config, self.model.tokenizer, "evaluation")
            sampler = EpisodeSampler.from_config(samples, maml, held_out=False)
            return [sampler.episode(t, step=0, slot=i) for i, t in enumerate(sampler.train_tasks)]
        if self.train_sampler is not None and self.train_sampler.held_out_tasks:
            return self.train_sampler.held_out_episodes(step=0)
        raise ValueError(
            "evaluation needs held-out tasks: pass eval_samples of speakers not in train_samples, "
            "set maml.held_out_tasks, or set run_eval=False"
        )

    def format_batch(self, batch: Dict[str, Any]) -> Dict[str, Any]:
        """Placeholders pass through: clips are batched per episode in :meth:`optimize`."""
        return batch

    def format_batch_on_device(self, batch: Dict[str, Any]) -> Dict[str, Any]:
        """Placeholders pass through."""
        return batch

    def _task_batch(self, episode: Episode) -> TaskBatch:
        return TaskBatch(
            episode.task,
            self.backbone.make_batch(self.model, episode.support),
            self.backbone.make_batch(self.model, episode.query),
        )

    # ------------------------------------------------------------------ training
    def on_train_epoch_start(self, trainer: Trainer) -> None:
        """Run the meta-steps epoch ``trainer.epochs_done`` has left: all of them, or, continued
        from a checkpoint written inside it, those after the checkpoint (none when it was written
        after the epoch's last meta-step: the epoch then only evaluates)."""
        per_epoch = self.config.maml.meta_steps_per_epoch
        done = min(max(self.meta_steps_done - trainer.epochs_done * per_epoch, 0), per_epoch)
        self.epoch_steps = range(done, per_epoch)

    def optimize(self, batch: Dict[str, Any], trainer: Trainer) -> tuple:
        """One meta-step (the Trainer's custom-optimisation hook): this rank's share of the
        meta-batch of step ``meta_steps_done``, meta-gradients averaged over ranks. The Trainer's
        step counter is set to the new count, so it logs and saves this step as step N."""
        if self.train_sampler is None:
            raise RuntimeError("optimize() before get_data_loader(): the Trainer builds the loader first")
        maml = self.config.maml
        step = self.meta_steps_done
        rank, world_size = rank_and_world_size()
        episodes = self.train_sampler.sample(step, maml.meta_batch_size, rank=rank, world_size=world_size)
        tasks = [self._task_batch(e) for e in episodes]
        # The inner loop and the query loss run as adaptation runs them (eval mode: no dropout), so
        # that the initialisation is meta-learned for the procedure users run.
        training = self.model.training
        self.model.eval()
        try:
            stats = self.learner.meta_step(tasks, trainer.optimizer[0], step)
        finally:
            self.model.train(training)
        self.meta_steps_done += 1
        trainer.total_steps_done = self.meta_steps_done
        logs: Dict[str, Any] = {
            "loss": stats.meta_loss,
            "query_loss_before": stats.query_before,
            "query_loss_after": stats.meta_loss,
            "adaptation_gain": stats.adaptation_gain,
            "meta_grad_norm": stats.meta_grad_norm,
            "skipped_tasks": len(stats.skipped_tasks),
            "skipped_tasks_total": self.learner.skipped_tasks_total,
            "skipped_steps_total": self.learner.skipped_steps_total,
            "first_order": float(stats.first_order),
            "seconds_per_meta_step": stats.seconds,
        }
        for i, value in enumerate(stats.support_losses):
            logs[f"support_loss_step{i}"] = value
        for i, value in enumerate(stats.inner_grad_norms):
            logs[f"inner_grad_norm_step{i}"] = value
        for i, values in enumerate(zip(*self.learner.inner_lr_values().values())):
            logs[f"inner_lr_step{i}_mean"] = sum(values) / len(values)
        if maml.train_discriminator:
            logs["loss_disc"] = self._discriminator_step(tasks, stats, trainer.optimizer[1])
        return {"meta_step": step, "tasks": [e.task for e in episodes]}, logs

    def _discriminator_step(self, tasks: Sequence[TaskBatch], stats, optimizer: torch.optim.Optimizer) -> float:
        params = dict(self.model.named_parameters())
        disc = [p for n, p in params.items() if n.startswith("disc.")]
        optimizer.zero_grad(set_to_none=True)
        total, losses = [None] * len(disc), []
        for index, fast in zip(stats.used_tasks, stats.fast_weights):
            loss = self.backbone.discriminator_loss(self.model, {**params, **fast}, tasks[index].query)
            grads = torch.autograd.grad(loss, disc, allow_unused=True)
            total = [g if t is None else (t if g is None else t + g) for t, g in zip(total, grads)]
            losses.append(float(loss.detach()))
        summed, count = all_reduce_sum(total, disc, float(len(losses)))
        if count > 0:
            for p, g in zip(disc, summed):
                p.grad = g / count
            optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return sum(losses) / len(losses) if losses else float("nan")

    def on_train_step_end(self, trainer: Trainer) -> None:
        """Undo the Trainer's own ``+= 1`` after a step: its counter stays the meta-step count."""
        trainer.total_steps_done = self.meta_steps_done

    def train_step(self, *args: Any, **kwargs: Any):
        """Not used: the Trainer calls :meth:`optimize`."""
        raise NotImplementedError("MamlTrainerModel trains through optimize()")

    # ------------------------------------------------------------------ evaluation
    def eval_step(self, batch: Dict[str, Any], criterion: nn.Module, optimizer_idx: Optional[int] = None):
        """Adapt to one held-out task (``eval_inner_steps`` steps on its support clips) and score
        its query clips before and after, and log the terms of the task loss after adaptation
        (``query_<term>_after``: Glow-TTS' ``log_mle``, ``loss_dur`` and ``gv_loss``, VITS'
        ``loss_mel``, ``loss_kl``, ...). The Trainer's eval runs under inference mode, which
        adaptation needs to leave; the model's weights are not changed."""
        episode = self.eval_episodes[int(batch["index"][0])]
        if optimizer_idx == 1:  # the discriminator's turn: its loss against the meta-learned generator
            with torch.inference_mode(False), torch.enable_grad():
                query = self.backbone.make_batch(self.model, episode.query)
                params = {n: p.detach() for n, p in self.model.named_parameters()}
                with torch.no_grad():
                    return {"task": episode.task}, {"loss": float(self.backbone.discriminator_loss(self.model, params, query))}
        maml = self.config.maml
        steps = maml.inner_steps if maml.eval_inner_steps is None else maml.eval_inner_steps
        with torch.inference_mode(False), torch.enable_grad():
            task = self._task_batch(episode)
            params = {n: p.detach() for n, p in self.model.named_parameters()}
            losses = self.backbone.evaluation_losses(self.model)
            with torch.no_grad():
                before = float(losses(params, task.query)["loss"])
            result = self.learner.adapt(task.support, steps=steps)
            with torch.no_grad():
                terms = {name: float(value) for name, value in losses({**params, **result.fast}, task.query).items()}
        after = terms.pop("loss")
        logs = {"loss": after, "query_loss_before": before, "adaptation_gain": before - after}
        logs.update({f"query_{name}_after": value for name, value in terms.items()})
        return {"task": episode.task}, logs

    def eval_log(self, *args: Any, **kwargs: Any) -> None:
        """No figures for meta-training evaluation (the losses are logged by the Trainer)."""
        raise NotImplementedError

    def train_log(self, *args: Any, **kwargs: Any) -> None:
        """No figures per meta-step (the losses are logged by the Trainer)."""
        raise NotImplementedError

    def test_run(self, trainer: Trainer) -> Dict[str, Any]:
        """Coqui's own test sentences, synthesised with the meta-learned initial voice."""
        if not hasattr(self.model, "test_run"):
            raise NotImplementedError
        return self.model.test_run(trainer)

    def test_log(self, outputs: Dict[str, Any], logger: Any, steps: int) -> None:
        """Coqui's own test-sentence logging."""
        self.model.test_log(outputs, logger, steps)

    # ------------------------------------------------------------------ optimisers
    def get_optimizer(self) -> List[torch.optim.Optimizer]:
        """Adam with ``maml.meta_lr`` over the meta-parameters (and the learned inner LRs, at
        ``maml.inner_lr_meta_lr`` when set); with ``maml.train_discriminator``, Coqui's
        discriminator optimiser as the second one. The learner is rebuilt first from the final
        config when it changed (:meth:`apply_config`)."""
        self.apply_config()
        optimizers = [torch.optim.Adam(self.learner.parameter_groups(), lr=self.config.maml.meta_lr)]
        if self.config.maml.train_discriminator:
            from trainer.trainer_utils import get_optimizer

            optimizers.append(
                get_optimizer(self.config.optimizer, self.config.optimizer_params, self.config.lr_disc, self.model.disc)
            )
        return optimizers

    def get_lr(self) -> List[float]:
        """The initial learning rates of :meth:`get_optimizer`'s optimisers."""
        lrs = [self.config.maml.meta_lr]
        if self.config.maml.train_discriminator:
            lrs.append(self.config.lr_disc)
        return lrs

    def get_scheduler(self, optimizer: List[torch.optim.Optimizer]) -> List[None]:
        """No learning-rate schedule: meta-learning uses a constant ``meta_lr``."""
        return [None] * len(optimizer)

    def get_criterion(self) -> List[nn.Module]:
        """The backbone's Coqui loss (and the discriminator loss), one per optimiser."""
        criteria = [self.backbone.criterion]
        if self.config.maml.train_discriminator:
            criteria.append(self.backbone.disc_criterion)
        return criteria


def _number(path: Optional[str], kind: str = "checkpoint|best_model") -> Optional[int]:
    """N of ``checkpoint_N.pth`` / ``best_model_N.pth`` (``kind``); ``None`` for any other name."""
    match = re.fullmatch(rf"(?:{kind})_(\d+)\.pth", os.path.basename(path or ""))
    return int(match.group(1)) if match else None


class MamlTrainer(Trainer):
    """Coqui's ``Trainer`` that also writes and reads the ``"maml"`` checkpoint entry, and
    continues a run exactly where it stopped (see the module docstring).

    Everything else (output folder, config.json, ``checkpoint_N.pth`` / ``best_model.pth``,
    TensorBoard, ``--continue_path`` / ``--restore_path``, ``trainer.distribute``) is Coqui's.
    Under ``python -m trainer.distribute`` without GPUs it starts the gloo process group that Coqui
    starts only on GPUs, and each rank uses its share of the cores
    (:func:`tts_maml.meta.distributed.share_cores`). Under ``torchrun`` it joins torchrun's group
    (gloo on CPUs, nccl on GPUs) in place of Coqui's DDP set-up.
    """

    _resumed_averages: Optional[Dict[str, Dict[str, Any]]] = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Coqui's ``Trainer(args, config, output_path, ...)``; under ``torchrun`` the ranks first join
        its process group and agree on the moment that names the run folder (one folder for all)."""
        ranks = torchrun_ranks()
        if ranks is not None:
            init_torchrun_process_group(ranks, use_cuda=torch.cuda.is_available())
            agree_on_a_start()
        super().__init__(*args, **kwargs)

    @property
    def use_pt_ddp(self) -> bool:
        """Coqui's DDP set-up (its own process group and a DDP wrapper that never averages here), off
        under ``torchrun``, whose group :meth:`__init__` joined."""
        return torchrun_ranks() is None and super().use_pt_ddp

    @staticmethod
    def setup_training_environment(args: Any, config: Any, gpu: Optional[int]) -> tuple:
        """Coqui's set-up; with several ranks also the CPU process group and each rank's threads."""
        use_cuda, num_gpus = Trainer.setup_training_environment(args=args, config=config, gpu=gpu)
        world_size = launched_world_size() if args.use_ddp else 1
        if world_size > 1:
            if not use_cuda:
                init_cpu_process_group(args.rank, world_size, config.distributed_url)
            share_cores(world_size)
        return use_cuda, num_gpus

    @staticmethod
    def init_training(args: Any, coqpit_overrides: List[str], config: Any = None) -> tuple:
        """Coqui's, except that a continued run starts from ``best_model_N.pth`` rather than a
        ``checkpoint_N.pth`` of the same N: the best model was written after the epoch ended. Under
        ``torchrun`` the rank comes from its environment, as ``trainer.distribute``'s ``--rank``."""
        ranks = torchrun_ranks()
        if ranks is not None:
            args.rank, args.use_ddp = ranks.rank, ranks.world_size > 1
        config, new_fields = Trainer.init_training(args, coqpit_overrides, config)
        # (Coqui gives best_path = the checkpoint when there is no best model yet.)
        best = _number(args.best_path, "best_model")
        if args.continue_path and best is not None and best == _number(args.restore_path):
            args.restore_path = args.best_path
            if "restore_path" in new_fields:
                new_fields["restore_path"] = args.restore_path
        return config, new_fields

    def _extra(self, epoch_finished: bool) -> Dict[str, Any]:
        model = self._get_model()
        if not hasattr(model, "extra_state"):
            return {}
        averages = self.keep_avg_train
        entry = dataclasses.replace(
            model.extra_state(),
            # where a continued run goes on: the next epoch, or the rest of this one with its running averages
            epoch_finished=epoch_finished,
            train_averages={"avg_values": dict(averages.avg_values), "iters": dict(averages.iters)} if averages else None,
        )
        return {CHECKPOINT_KEY: entry.to_dict()}

    def _write(self, path: str, model_loss: Any, epoch_finished: bool) -> None:
        # Coqui's save_model writes straight to the final path: a kill during the write would leave
        # a truncated checkpoint that --continue_path then picks. Write beside it and rename.
        atomic_write(
            path,
            lambda tmp: save_model(
                self.config,
                self._get_model(),
                tmp,
                current_step=self.total_steps_done,
                epoch=self.epochs_done,
                optimizer=self.optimizer,
                scheduler=self.scheduler,
                scaler=self.scaler if self.use_amp_scaler else None,
                model_loss=model_loss,
                **self._extra(epoch_finished),
            ),
        )

    def save_checkpoint(self) -> None:
        """``Trainer.save_checkpoint``, written atomically, plus the ``"maml"`` entry (rank 0 only):
        ``checkpoint_N.pth`` after N meta-steps."""
        if self.args.rank not in (None, 0):
            return
        path = os.path.join(self.output_path, f"checkpoint_{self.total_steps_done}.pth")
        logger.info(" > CHECKPOINT : %s", path)
        self._write(path, {
            "train_loss": self._pick_target_avg_loss(self.keep_avg_train),
            "eval_loss": self._pick_target_avg_loss(self.keep_avg_eval),
        }, epoch_finished=False)  # fmt: skip
        if self.config.save_n_checkpoints is not None:
            keep_n_checkpoints(self.output_path, self.config.save_n_checkpoints)

    def save_best_model(self) -> None:
        """``Trainer.save_best_model`` (same rule: the eval loss if there is one, else the train
        loss), written atomically, plus the ``"maml"`` entry."""
        eval_loss = self._pick_target_avg_loss(self.keep_avg_eval)
        train_loss = self._pick_target_avg_loss(self.keep_avg_train) or float("inf")
        current = {"train_loss": train_loss, "eval_loss": eval_loss}
        best = self.best_loss if isinstance(self.best_loss, dict) else {"train_loss": self.best_loss, "eval_loss": None}
        key = "eval_loss" if current["eval_loss"] is not None and best.get("eval_loss") is not None else "train_loss"
        if not (current[key] < best[key] and self.total_steps_done > self.config.save_best_after):
            return
        path = os.path.join(self.output_path, f"best_model_{self.total_steps_done}.pth")
        logger.info(" > BEST MODEL : %s", path)
        self._write(path, current, epoch_finished=True)
        self._publish_best_model(path)
        self.best_loss = current

    def _publish_best_model(self, path: str) -> None:
        """Copy ``best_model_N.pth`` to ``best_model.pth``; drop older ones unless ``save_all_best``."""
        atomic_write(os.path.join(self.output_path, "best_model.pth"), lambda tmp: shutil.copyfile(path, tmp))
        if not self.config.save_all_best:
            for old in glob.glob(os.path.join(self.output_path, "best_model_*.pth")):
                if os.path.basename(old) != os.path.basename(path):
                    os.remove(old)

    def reset_lr(self) -> None:
        """Coqui's reset (every group of optimiser i at ``get_lr()[i]``), then the learned inner
        rates' group back at ``maml.inner_lr_meta_lr`` when it is set."""
        super().reset_lr()
        rate = self.config.maml.inner_lr_meta_lr
        for group in self.optimizer[0].param_groups:
            if group.get("name") == INNER_LRS_GROUP and rate is not None:
                group["lr"] = rate

    def restore_model(self) -> None:
        """``Trainer.restore_model`` plus the ``"maml"`` entry (learned inner LRs, sampler check).
        A continued run goes on from the checkpoint's meta-step count and place in its epoch,
        after removing what a killed save left behind.

        Coqui's restore falls back to a silent partial load when the weights do not fit the
        config; a meta-training run refuses instead, naming the first tensor that does not fit."""
        if self.continue_run and self.args.rank in (None, 0):
            self._finish_killed_saves()
        checkpoint = load_checkpoint(self.args.restore_path)
        model = self._get_model()
        check_state_dict(getattr(model, "model", model), checkpoint["model"], self.args.restore_path)
        super().restore_model()
        if not hasattr(model, "load_extra_state"):
            return
        state = MamlEntry.from_checkpoint(checkpoint, self.args.restore_path)
        model.load_extra_state(state, check_sampler=self.continue_run)
        if self.continue_run and state is not None:
            finished = state.epoch_finished
            if finished is None:  # version 1 has no epoch_finished; its best models were written at an epoch's end
                finished = os.path.basename(self.args.restore_path).startswith("best_model")
            self.total_steps_done = model.meta_steps_done
            self.epochs_done = int(checkpoint["epoch"]) + int(bool(finished))
            self._resumed_averages = None if finished else state.train_averages
            logger.info(" > continuing after %d meta-steps, in epoch %d", self.total_steps_done, self.epochs_done)

    def _finish_killed_saves(self) -> None:
        """Remove the temporary files of saves that a kill interrupted, and finish a best-model
        save killed between ``best_model_N.pth`` and its copy ``best_model.pth``."""
        for name in remove_stale_temporaries(str(self.output_path)):
            logger.warning(" > removed %s, left by a save that was killed", name)
        best = self.args.best_path  # Coqui's fallback when there is no best model yet: the checkpoint
        if _number(best, "best_model") is None or not os.path.isfile(best):
            return
        published = os.path.join(self.output_path, "best_model.pth")
        if not os.path.isfile(published) or not filecmp.cmp(best, published, shallow=False):
            logger.warning(" > best_model.pth: copying %s (its save was killed)", os.path.basename(best))
            self._publish_best_model(best)

    def _restore_best_loss(self) -> None:
        """The best loss so far is the latest best model's (Coqui reads the continued checkpoint's
        own loss, which need not be the best one)."""
        if not self.continue_run:
            return
        if os.path.basename(self.args.best_path or "").startswith("best_model") and os.path.isfile(self.args.best_path):
            # (not Coqui's fallback to the continued checkpoint when there is no best model yet)
            loss = load_checkpoint(self.args.best_path).get("model_loss")
            if isinstance(loss, dict):
                self.best_loss = loss
        logger.info(" > best loss so far: %s", self.best_loss)

    def train_epoch(self) -> None:
        """``Trainer.train_epoch``; an epoch continued from a checkpoint inside it starts from the
        running train averages saved with the checkpoint, so its epoch loss (which picks the best
        model when there is no evaluation) is the uninterrupted run's."""
        if self._resumed_averages and self.keep_avg_train is not None:
            self.keep_avg_train.avg_values.update(self._resumed_averages["avg_values"])
            self.keep_avg_train.iters.update(self._resumed_averages["iters"])
        self._resumed_averages = None
        super().train_epoch()
