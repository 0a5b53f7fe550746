"""Episodes: tasks cut from Coqui's sample dicts, split into disjoint support and query clips.

A *task* is every clip that shares a value of ``task_key`` (a speaker by default; a style or an
emotion label works the same). :class:`EpisodeSampler` draws, for meta-step ``s``, a meta-batch of
tasks and for each a support/query split; everything is a pure function of ``(seed, s)``, so a
resumed run draws the same episodes and ranks of a distributed run agree on the meta-batch without
talking to each other (rank ``r`` of ``W`` takes episodes ``r, r + W, ...``). Whole tasks can be
held out of meta-training for evaluation (drawn by :func:`tts_maml.corpus.speaker_split.draw_held_out`).

Example:
    >>> from tts_maml.meta.episodes import EpisodeSampler
    >>> samples = [{"speaker_name": f"s{i % 3}", "audio_file": f"{i}.wav", "text": "hi"} for i in range(30)]
    >>> sampler = EpisodeSampler(samples, n_support=3, n_query=2, held_out_tasks=1, seed=0)
    >>> len(sampler.train_tasks), len(sampler.held_out_tasks)
    (2, 1)
    >>> [len(e.support) for e in sampler.sample(step=0, meta_batch_size=4)]
    [3, 3, 3, 3]
"""

import logging
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Dict, List, Sequence

import numpy as np

from tts_maml.corpus.speaker_split import TASK_DRAW, draw_held_out

logger = logging.getLogger(__name__)

Sample = Dict[str, Any]


@dataclass(frozen=True)
class Episode:
    """One task's support and query clips (disjoint).

    Args:
        task: the task's name (its ``task_key`` value).
        support: clips the inner loop adapts on.
        query: clips the adapted weights are scored on.
        slot: the episode's position in its meta-batch (over all ranks).
    """

    task: str
    support: List[Sample]
    query: List[Sample]
    slot: int = 0


class EpisodeSampler:
    """Draws meta-batches of episodes from Coqui sample dicts, deterministically.

    Args:
        samples: the dicts that ``TTS.tts.datasets.load_tts_samples`` returns (or any dicts with
            ``audio_file`` and the ``task_key``).
        n_support: support clips per episode.
        n_query: query clips per episode.
        task_key: the sample key that defines tasks.
        seed: seed of everything drawn.
        held_out_tasks: number of whole tasks held out of meta-training (drawn with ``seed``).
        held_out_task_names: tasks held out by name (in addition to the drawn ones).

    Tasks with fewer than ``n_support + n_query`` clips are skipped (logged once, with a count).
    """

    def __init__(
        self,
        samples: Sequence[Sample],
        n_support: int,
        n_query: int,
        task_key: str = "speaker_name",
        seed: int = 0,
        held_out_tasks: int = 0,
        held_out_task_names: Sequence[str] = (),
    ) -> None:
        if n_support < 1 or n_query < 1:
            raise ValueError(f"n_support and n_query must be >= 1 (got {n_support}, {n_query})")
        self.n_support = n_support
        self.n_query = n_query
        self.task_key = task_key
        self.seed = seed
        groups: Dict[str, List[Sample]] = defaultdict(list)
        for sample in samples:
            if task_key not in sample:
                raise KeyError(
                    f"sample {sample.get('audio_file', sample)!r} has no {task_key!r} key (the task_key); "
                    f"it has: {', '.join(sorted(sample))}"
                )
            groups[str(sample[task_key])].append(sample)
        # Sorted clips and tasks: episodes must not depend on the order the formatter listed files.
        self.tasks: Dict[str, List[Sample]] = {
            t: sorted(c, key=lambda s: (str(s.get("audio_file")), str(s.get("text")))) for t, c in sorted(groups.items())
        }
        needed = n_support + n_query
        self.skipped_tasks: Dict[str, int] = {t: len(c) for t, c in self.tasks.items() if len(c) < needed}
        if self.skipped_tasks:
            logger.warning(
                "skipping %d task(s) with fewer than %d clips (n_support + n_query): %s",
                len(self.skipped_tasks),
                needed,
                ", ".join(f"{t} ({n})" for t, n in self.skipped_tasks.items()),
            )
        eligible = [t for t in self.tasks if t not in self.skipped_tasks]
        if not eligible:
            raise ValueError(
                f"no task has {needed} clips or more (n_support={n_support} + n_query={n_query}); "
                f"tasks: {', '.join(f'{t} ({len(c)})' for t, c in self.tasks.items())}"
            )
        unknown = [t for t in held_out_task_names if t not in self.tasks]
        if unknown:
            raise ValueError(f"held_out_task_names: {unknown[0]!r} is not a task (known: {', '.join(self.tasks)})")
        held = set(held_out_task_names)
        drawable = [t for t in eligible if t not in held]
        if held_out_tasks > len(drawable) - 1:
            raise ValueError(
                f"held_out_tasks={held_out_tasks} leaves no task to meta-train on ({len(drawable)} eligible tasks)"
            )
        held.update(draw_held_out(drawable, held_out_tasks, seed, TASK_DRAW))
        self.held_out_tasks: List[str] = [t for t in self.tasks if t in held]
        self.train_tasks: List[str] = [t for t in eligible if t not in held]

    @classmethod
    def from_config(cls, samples: Sequence[Sample], maml: Any, held_out: bool = True) -> "EpisodeSampler":
        """The sampler a :class:`~tts_maml.config.MamlConfig` describes: its episode sizes, ``task_key``
        and ``seed``, and with ``held_out`` its ``held_out_tasks`` and ``held_out_task_names``
        (``held_out=False``: every task of ``samples`` is a task to draw, e.g. held-out speakers)."""
        held = {"held_out_tasks": maml.held_out_tasks, "held_out_task_names": maml.held_out_task_names} if held_out else {}
        return cls(samples, maml.n_support, maml.n_query, task_key=maml.task_key, seed=maml.seed, **held)

    def episode(self, task: str, step: int, slot: int = 0) -> Episode:
        """The episode of ``task`` at meta-step ``step`` and meta-batch position ``slot``."""
        clips = self.tasks[task]
        if len(clips) < self.n_support + self.n_query:
            raise ValueError(
                f"task {task!r} has {len(clips)} clips; an episode needs {self.n_support + self.n_query}"
            )
        rng = np.random.default_rng([self.seed, step, slot, 1])
        order = rng.permutation(len(clips))
        support = [clips[i] for i in order[: self.n_support]]
        query = [clips[i] for i in order[self.n_support : self.n_support + self.n_query]]
        return Episode(task=task, support=support, query=query, slot=slot)

    def meta_batch_tasks(self, step: int, meta_batch_size: int) -> List[str]:
        """The tasks of meta-step ``step``: distinct tasks while there are enough of them."""
        rng = np.random.default_rng([self.seed, step, 0])
        n = len(self.train_tasks)
        picks = rng.choice(n, size=meta_batch_size, replace=meta_batch_size > n)
        return [self.train_tasks[i] for i in picks]

    def sample(self, step: int, meta_batch_size: int, rank: int = 0, world_size: int = 1) -> List[Episode]:
        """This rank's share of meta-step ``step``'s episodes (slots ``rank, rank + world_size, ...``)."""
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in [0, {world_size})")
        tasks = self.meta_batch_tasks(step, meta_batch_size)
        return [self.episode(t, step, slot) for slot, t in enumerate(tasks) if slot % world_size == rank]

    def held_out_episodes(self, step: int = 0) -> List[Episode]:
        """One episode per held-out task (support and query drawn for ``step``)."""
        return [self.episode(t, step, slot) for slot, t in enumerate(self.held_out_tasks)]

    def state_dict(self) -> Dict[str, Any]:
        """What a checkpoint records to check that a resumed run draws the same stream."""
        return {
            "seed": self.seed,
            "task_key": self.task_key,
            "n_support": self.n_support,
            "n_query": self.n_query,
            "train_tasks": list(self.train_tasks),
            "held_out_tasks": list(self.held_out_tasks),
        }

    def check_state_dict(self, state: Dict[str, Any]) -> None:
        """Raise ``ValueError`` naming the first field that differs from a saved sampler state."""
        mine = self.state_dict()
        for key, value in state.items():
            if mine.get(key) != value:
                raise ValueError(
                    f"episode sampler state differs from the checkpoint's in {key!r}: "
                    f"{mine.get(key)!r} here, {value!r} saved; a resumed run would draw other episodes"
                )
