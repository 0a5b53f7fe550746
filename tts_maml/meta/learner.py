"""The meta-step: adapt on each task's support set, score on its query set, update the shared
initialisation.

:class:`MetaLearner` holds no copy of the model. For each task of a meta-batch it runs
:func:`tts_maml.meta.inner_loop.inner_loop` from the live adapted parameters and evaluates the query loss
at the fast weights with ``torch.func.functional_call``; the meta-gradient of that loss (or, for
Reptile, the step from the initial to the fast weights) is accumulated task by task, so memory
holds one task's graph at a time. Meta-gradients are averaged over all tasks of all ranks
(:mod:`tts_maml.meta.distributed`), clipped, and applied by an ordinary torch optimiser.

Algorithms (``MamlConfig.algorithm``):

- ``maml``: full second-order meta-gradient; it reaches every meta-parameter, also those outside
  the adapter set, through the inner-loop gradients.
- ``fomaml``: the query gradient at the fast weights (inner gradients are constants).
- ``reptile``: meta-direction ``initial - fast`` for the adapted tensors (so that a descent step
  moves the initialisation towards the fast weights); other parameters are not meta-parameters.
- ``metasgd``: ``maml`` plus a learnable inner learning rate per adapted tensor and per inner step
  (MAML++'s per-layer per-step rates), trained by the same optimiser.

A task whose inner loop or query loss is non-finite is skipped (a log line naming it, and a
counter); a non-finite meta-gradient skips the whole step. Skipping leaves every parameter as it was.

Example:
    >>> import torch
    >>> from tts_maml.config import MamlConfig
    >>> from tts_maml.meta.learner import MetaLearner, TaskBatch
    >>> model = torch.nn.Linear(1, 1)
    >>> def loss(params, batch):
    ...     x, y = batch
    ...     return ((torch.func.functional_call(model, params, (x,)) - y) ** 2).mean()
    >>> learner = MetaLearner(model, MamlConfig(inner_steps=2, meta_batch_size=1), ["bias"], loss)
    >>> x = torch.randn(4, 1)
    >>> stats = learner.meta_step([TaskBatch("t", (x, 2 * x), (x, 2 * x))], torch.optim.SGD(model.parameters(), 0.1), step=0)
    >>> stats.tasks_used
    1
"""

import itertools
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence

import torch
from torch import Tensor, nn

from tts_maml.config import MamlConfig
from tts_maml.meta.distributed import all_reduce_sum
from tts_maml.meta.inner_loop import InnerLoopResult, NonFiniteError, detached, inner_loop

logger = logging.getLogger(__name__)

# loss(params, batch): the task loss of the model run with `params` ({name: tensor} for every
# parameter and buffer) through torch.func.functional_call.
TaskLoss = Callable[[Dict[str, Tensor], Any], Tensor]
# The name of the optimiser parameter group that holds Meta-SGD's learned inner rates.
INNER_LRS_GROUP = "inner_lrs"


@dataclass
class TaskBatch:
    """One task's support and query batches, already in the backbone's batch format.

    Args:
        task: the task's name (for logs).
        support: what the task loss takes for the support clips.
        query: what the task loss takes for the query clips.
    """

    task: str
    support: Any
    query: Any


@dataclass
class MetaStepStats:
    """What one meta-step measured (this rank's tasks, except ``tasks_used``).

    Args:
        meta_loss: mean query loss after adaptation over this rank's used tasks (nan if none).
        query_before: mean query loss at the initial weights (adaptation gain = before - after).
        support_losses: mean support loss before each inner step.
        inner_grad_norms: mean global L2 norm of the support gradient at each inner step, before
            clipping (what ``inner_grad_clip`` is measured against).
        tasks_used: tasks that contributed to the meta-gradient, over all ranks.
        skipped_tasks: names of this rank's skipped tasks (non-finite loss or gradient).
        skipped_step: True when the meta-step was not applied.
        first_order: whether this step ran first-order (``fomaml``, ``reptile`` or a warm-up step).
        meta_grad_norm: global norm of the meta-gradient before clipping.
        seconds: wall-clock time of the step.
        fast_weights: per used task (in order), its adapted tensors, detached: for outer-loop
            extras that need the adapted model (the VITS discriminator step).
        used_tasks: indices (into the ``tasks`` argument) of the used tasks.
    """

    meta_loss: float = math.nan
    query_before: float = math.nan
    support_losses: List[float] = field(default_factory=list)
    inner_grad_norms: List[float] = field(default_factory=list)
    tasks_used: int = 0
    skipped_tasks: List[str] = field(default_factory=list)
    skipped_step: bool = False
    first_order: bool = False
    meta_grad_norm: float = math.nan
    seconds: float = 0.0
    fast_weights: List[Dict[str, Tensor]] = field(default_factory=list, repr=False)
    used_tasks: List[int] = field(default_factory=list)

    @property
    def adaptation_gain(self) -> float:
        """Query loss before minus after adaptation."""
        return self.query_before - self.meta_loss


class InnerLearningRates(nn.Module):
    """Learnable inner learning rates (Meta-SGD / MAML++): one ``[steps]`` vector per adapted tensor.

    ``nn.ParameterDict`` keys cannot hold dots, so parameter names are stored with ``/``;
    :meth:`as_dict` gives them back keyed like ``named_parameters()``.
    """

    def __init__(self, names: Sequence[str], steps: int, init: float) -> None:
        super().__init__()
        self.names = list(names)
        self.rates = nn.ParameterDict(
            {n.replace(".", "/"): nn.Parameter(torch.full((steps,), float(init))) for n in self.names}
        )

    def as_dict(self) -> Dict[str, Tensor]:
        """``{parameter name: [steps] tensor}``."""
        return {n: self.rates[n.replace(".", "/")] for n in self.names}


class MetaLearner:
    """MAML, FOMAML, Reptile and Meta-SGD over a model's selected parameters, functionally.

    Args:
        model: the model; its parameters are the shared initialisation.
        config: the ``maml`` section.
        adapted: names of the parameters the inner loop adapts (see :mod:`tts_maml.meta.parameter_selection`).
        task_loss: ``loss(params, batch)`` running the model through ``functional_call``.
        meta_parameters: names of the parameters that receive meta-gradients (default: every
            parameter that requires grad). Reptile uses the adapted ones only.
        query_loss: the loss at the fast weights on the query set, if not ``task_loss`` (e.g.
            with adversarial terms that the inner loop leaves out).
    """

    def __init__(
        self,
        model: nn.Module,
        config: MamlConfig,
        adapted: Sequence[str],
        task_loss: TaskLoss,
        meta_parameters: Optional[Sequence[str]] = None,
        query_loss: Optional[TaskLoss] = None,
    ) -> None:
        config.check_values()
        self.model = model
        self.config = config
        self.adapted = list(adapted)
        self.task_loss = task_loss
        self.query_loss = query_loss or task_loss
        params = dict(model.named_parameters())
        missing = [n for n in self.adapted if n not in params]
        if missing:
            raise ValueError(f"adapted parameter {missing[0]!r} is not a parameter of the model")
        if meta_parameters is None:
            meta_parameters = [n for n, p in params.items() if p.requires_grad]
        if config.algorithm == "reptile":
            meta_parameters = list(self.adapted)
        self.meta_parameters = list(meta_parameters)
        self.inner_lrs: Optional[InnerLearningRates] = None
        if config.algorithm == "metasgd":
            self.inner_lrs = InnerLearningRates(self.adapted, config.inner_steps, config.inner_lr)
            first = params[self.adapted[0]]
            self.inner_lrs.to(device=first.device, dtype=first.dtype)
        self.skipped_tasks_total = 0
        self.skipped_steps_total = 0

    # ------------------------------------------------------------------ functional views
    def _params(self) -> Dict[str, Tensor]:
        return dict(self.model.named_parameters())

    def _run(self, base: Dict[str, Tensor], fast: Dict[str, Tensor], batch: Any, query: bool = False) -> Tensor:
        # Buffers go in explicitly so that the call is a pure function of its inputs.
        loss = self.query_loss if query else self.task_loss
        return loss({**base, **dict(self.model.named_buffers()), **fast}, batch)

    def _start(self, params: Dict[str, Tensor], support: Any) -> Dict[str, Tensor]:
        """The inner loop's initial adapted tensors: the shared initialisation, except the tensors
        a task starts from values of its own support clips (``support["voice_start"]``, e.g. the
        voice slot at the clips' d-vector; constants, so no meta-gradient reaches those)."""
        init = {n: params[n] for n in self.adapted}
        overrides = support.get("voice_start") if isinstance(support, dict) else None
        for name, value in (overrides or {}).items():
            if name not in init:
                raise ValueError(f"the task starts {name!r} from its clips, but the inner loop does not adapt it")
            # A leaf of its own: the inner loop differentiates with respect to it, and nothing flows
            # from it back to the shared initialisation.
            init[name] = detached({name: value})[name]
        return init

    def start_weights(self, support: Any) -> Dict[str, Tensor]:
        """Detached copies of the adapted tensors where a task with ``support`` starts (step 0)."""
        return detached(self._start(self._params(), support))

    def trainable_parameters(self) -> List[nn.Parameter]:
        """The tensors an outer optimiser should update: meta-parameters plus learned inner LRs."""
        params = self._params()
        extra = list(self.inner_lrs.parameters()) if self.inner_lrs is not None else []
        return [params[n] for n in self.meta_parameters] + extra

    def parameter_groups(self) -> List[Dict[str, Any]]:
        """:meth:`trainable_parameters` as optimiser parameter groups: the meta-parameters at the
        optimiser's learning rate, and (Meta-SGD) the learned inner rates in a group of their own,
        named ``"inner_lrs"``, at ``inner_lr_meta_lr`` when it is set:
        ``torch.optim.Adam(learner.parameter_groups(), lr=config.meta_lr)``.
        """
        params = self._params()
        groups: List[Dict[str, Any]] = [{"params": [params[n] for n in self.meta_parameters]}]
        if self.inner_lrs is not None:
            rates: Dict[str, Any] = {"params": list(self.inner_lrs.parameters()), "name": INNER_LRS_GROUP}
            if self.config.inner_lr_meta_lr is not None:
                rates["lr"] = self.config.inner_lr_meta_lr
            groups.append(rates)
        return groups

    def inner_lr_values(self) -> Dict[str, List[float]]:
        """The learned inner learning rates (Meta-SGD), for logs; empty for other algorithms."""
        if self.inner_lrs is None:
            return {}
        return {n: [float(v) for v in t.detach()] for n, t in self.inner_lrs.as_dict().items()}

    def _lr(self):
        if self.inner_lrs is None:
            return self.config.inner_lr
        # A learned rate below zero would turn a descent step into an ascent step: the rates are
        # used clamped at zero (the gradient still flows to every positive rate).
        return {n: t.clamp(min=0.0) for n, t in self.inner_lrs.as_dict().items()}

    def is_first_order(self, step: int) -> bool:
        """Whether meta-step ``step`` runs first-order (FOMAML, Reptile, or MAML++ warm-up)."""
        if not self.config.second_order:
            return True
        return step < self.config.first_order_warmup_steps

    # ------------------------------------------------------------------ adaptation
    def adapt(
        self,
        support: Any,
        steps: Optional[int] = None,
        grad_clip: Optional[float] = None,
        lr: Optional[float] = None,
        on_step: Optional[Callable[[int, Dict[str, Tensor]], None]] = None,
        redraw: bool = True,
    ) -> InnerLoopResult:
        """Adapt to one task without touching the meta-parameters (evaluation, few-shot use).

        Runs the same inner loop as meta-training, from detached copies of the adapted tensors,
        first-order, with the learned inner rates when there are any (beyond the learned steps,
        the last learned rate is reused) unless ``lr`` is given. ``on_step(step, fast)`` is called
        after each update. Returns fast weights detached from any graph.

        With ``redraw`` (default), a loss that draws random choices (VITS' waveform segments)
        draws anew at each step (the batch's ``rng_seed`` + step, so still reproducible): tens of
        adaptation steps then see every part of the clips, where meta-training's few inner steps
        descend one fixed draw.
        """
        steps = self.config.inner_steps if steps is None else steps
        params = self._params()
        base = {n: p.detach() for n, p in params.items()}
        if lr is None:
            lr = self._lr()
            if not isinstance(lr, float):
                lr = {n: self._extend(t.detach(), steps) for n, t in lr.items()}
        draws = itertools.count()

        def support_loss(fast: Dict[str, Tensor]) -> Tensor:
            i = next(draws)
            if redraw and i and isinstance(support, dict) and "rng_seed" in support:
                return self._run(base, fast, {**support, "rng_seed": support["rng_seed"] + i})
            return self._run(base, fast, support)

        result = inner_loop(
            support_loss,
            detached(self._start(params, support)),
            steps=steps,
            lr=lr,
            first_order=True,
            grad_clip=self.config.inner_grad_clip if grad_clip is None else grad_clip,
            on_step=on_step,
        )
        result.fast = {n: t.detach() for n, t in result.fast.items()}
        return result

    @staticmethod
    def _extend(rates: Tensor, steps: int) -> Tensor:
        if steps <= rates.numel():
            return rates[:steps]
        return torch.cat([rates, rates[-1:].expand(steps - rates.numel())])

    # ------------------------------------------------------------------ meta-gradients
    def task_meta_gradient(self, task: TaskBatch, step: int) -> Dict[str, Any]:
        """One task's contribution: ``{"grads", "query", "before", "support", "fast"}``.

        ``grads`` are aligned with :meth:`trainable_parameters`. Raises :class:`NonFiniteError`
        when a loss or gradient is not finite.
        """
        params = self._params()
        first_order = self.is_first_order(step)
        start = self._start(params, task.support)
        with torch.no_grad():
            before = float(self._run(params, start, task.query, query=True))
        if self.config.algorithm == "reptile":
            base = {n: p.detach() for n, p in params.items()}
            init = start
            result = inner_loop(
                lambda fast: self._run(base, fast, task.support),
                detached(init),
                steps=self.config.inner_steps,
                lr=self.config.inner_lr,
                first_order=True,
                grad_clip=self.config.inner_grad_clip,
            )
            with torch.no_grad():
                query = float(self._run(base, result.fast, task.query, query=True))
            if not math.isfinite(query):
                raise NonFiniteError("query loss", self.config.inner_steps)
            grads = [(init[n] - result.fast[n]).detach() for n in self.meta_parameters]
            fast = {n: t.detach() for n, t in result.fast.items()}
            return {"grads": grads, "query": query, "before": before, "support": result.support_losses,
                    "grad_norms": result.grad_norms, "fast": fast}  # fmt: skip

        result = inner_loop(
            lambda fast: self._run(params, fast, task.support),
            start,
            steps=self.config.inner_steps,
            lr=self._lr(),
            first_order=first_order,
            grad_clip=self.config.inner_grad_clip,
        )
        query_loss = self._run(params, result.fast, task.query, query=True)
        if not torch.isfinite(query_loss):
            raise NonFiniteError("query loss", self.config.inner_steps)
        targets = self.trainable_parameters()
        grads = torch.autograd.grad(query_loss, targets, allow_unused=True)
        for target, g in zip(targets, grads):
            if g is not None and not torch.isfinite(g).all():
                name = next((n for n, p in params.items() if p is target), "an inner learning rate")
                raise NonFiniteError("meta-gradient", self.config.inner_steps, name)
        fast = {n: t.detach() for n, t in result.fast.items()}
        return {
            "grads": list(grads),
            "query": float(query_loss.detach()),
            "before": before,
            "support": result.support_losses,
            "grad_norms": result.grad_norms,
            "fast": fast,
        }

    def meta_gradient(self, tasks: Sequence[TaskBatch], step: int) -> MetaStepStats:
        """Accumulate the mean meta-gradient of ``tasks`` (over all ranks) into ``.grad``.

        Existing ``.grad`` values are replaced. Returns the step's statistics; when no task is
        usable or the meta-gradient is not finite, ``.grad`` is cleared and ``skipped_step`` set.
        """
        started = time.perf_counter()
        stats = MetaStepStats(first_order=self.is_first_order(step))
        targets = self.trainable_parameters()
        sums: List[Optional[Tensor]] = [None] * len(targets)
        queries, befores, supports, norms = [], [], [], []
        for index, task in enumerate(tasks):
            try:
                out = self.task_meta_gradient(task, step)
            except NonFiniteError as e:
                stats.skipped_tasks.append(task.task)
                self.skipped_tasks_total += 1
                logger.warning("meta-step %d: skipping task %s: %s", step, task.task, e)
                continue
            for i, g in enumerate(out["grads"]):
                if g is not None:
                    sums[i] = g.detach().clone() if sums[i] is None else sums[i] + g.detach()
            queries.append(out["query"])
            befores.append(out["before"])
            supports.append(out["support"])
            norms.append(out["grad_norms"])
            stats.fast_weights.append(out["fast"])
            stats.used_tasks.append(index)
        summed, count = all_reduce_sum(sums, targets, float(len(queries)))
        stats.tasks_used = int(round(count))
        if queries:
            stats.meta_loss = sum(queries) / len(queries)
            stats.query_before = sum(befores) / len(befores)
            stats.support_losses = [sum(s[i] for s in supports) / len(supports) for i in range(len(supports[0]))]
            stats.inner_grad_norms = [sum(n[i] for n in norms) / len(norms) for i in range(len(norms[0]))]
        for p in targets:
            p.grad = None
        if count == 0:
            stats.skipped_step = True
            self.skipped_steps_total += 1
            logger.warning("meta-step %d: skipped, no task of the meta-batch gave a finite meta-gradient", step)
            stats.seconds = time.perf_counter() - started
            return stats
        mean = [g / count for g in summed]
        norm = torch.sqrt(sum((g.double() ** 2).sum() for g in mean))
        stats.meta_grad_norm = float(norm)
        if not torch.isfinite(norm):
            stats.skipped_step = True
            self.skipped_steps_total += 1
            logger.warning("meta-step %d: skipped, the meta-gradient is not finite", step)
        else:
            for p, g in zip(targets, mean):
                p.grad = g
            if self.config.outer_grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(targets, self.config.outer_grad_clip)
        stats.seconds = time.perf_counter() - started
        return stats

    def meta_step(self, tasks: Sequence[TaskBatch], optimizer: torch.optim.Optimizer, step: int) -> MetaStepStats:
        """Compute the meta-gradient of ``tasks`` and apply it with ``optimizer`` (unless skipped)."""
        started = time.perf_counter()
        stats = self.meta_gradient(tasks, step)
        if not stats.skipped_step:
            optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        stats.seconds = time.perf_counter() - started
        return stats
