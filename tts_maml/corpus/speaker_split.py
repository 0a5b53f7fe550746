"""The one home of the speaker splits: which speakers are held out of training, and how held-out
speakers divide into dev and test speakers.

Meta-training and evaluation use three disjoint speaker sets: *training* speakers (meta-training),
*dev* speakers (checkpoint selection, learning-rate choice) and *test* speakers (the reported
numbers). The held-out speakers of a corpus are split here, and only here: sorted by name, the
first half (rounded down) are dev speakers, the rest test speakers; a family corpus's ids say their
role (``dev000``, ``test000``: split by source speaker, :func:`tts_maml.corpus.build.build_family_corpus`). Choices made on dev speakers
therefore never see a test speaker.

Which speakers are held out at all is decided here too: a corpus' ``held_out/`` folder (the
built-in corpus), or speakers drawn by :func:`draw_held_out`, the one random draw behind the
recipes' ``--held-out-speakers`` (:func:`split_held_out`) and ``maml.held_out_tasks``
(:class:`tts_maml.meta.episodes.EpisodeSampler`). Each keeps its own stream of a seed
(:data:`RECIPE_DRAW`, :data:`TASK_DRAW`), so each draws what it always drew.

Example:
    >>> from tts_maml.corpus.speaker_split import split_dev_test
    >>> split_dev_test(["sp243", "sp240", "sp241", "sp242"])
    (['sp240', 'sp241'], ['sp242', 'sp243'])
"""

import os
import random
import re
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

Samples = List[Dict[str, Any]]
# The streams of a seed that held-out speakers (tasks) are drawn from: one per kind of draw.
RECIPE_DRAW = "recipe-held-out"
TASK_DRAW = "held-out"


# Speaker ids that say their role (the family corpora's: dev000, test000; Coqui adds VCTK_).
ROLE_ID = re.compile(r"(?:VCTK_)?(dev|test)\d+")


def split_dev_test(speakers: Iterable[str]) -> Tuple[List[str], List[str]]:
    """``(dev, test)`` speaker names: sorted, the first half (rounded down) dev, the rest test; when
    every id says its role (``dev000``, ``test000``: a family corpus, split by source speaker), by it.

    Example:
        >>> split_dev_test(["test001", "dev000", "test000"])
        (['dev000'], ['test000', 'test001'])
    """
    names = sorted(set(speakers))
    roles = [ROLE_ID.fullmatch(n) for n in names]
    if names and all(roles):
        return ([n for n, r in zip(names, roles) if r.group(1) == "dev"],
                [n for n, r in zip(names, roles) if r.group(1) == "test"])  # fmt: skip
    half = len(names) // 2
    return names[:half], names[half:]


def _of(samples: Sequence[Dict[str, Any]], names: List[str]) -> List[Dict[str, Any]]:
    keep = set(names)
    return [s for s in samples if s["speaker_name"] in keep]


def dev_samples(held_out: Sequence[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """The held-out samples of the dev speakers."""
    return _of(held_out, split_dev_test(s["speaker_name"] for s in held_out)[0])


def test_samples(held_out: Sequence[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """The held-out samples of the test speakers."""
    return _of(held_out, split_dev_test(s["speaker_name"] for s in held_out)[1])


def draw_held_out(names: Sequence[str], count: int, seed: int, draw: str) -> List[str]:
    """``count`` of ``names`` drawn with ``seed`` from the stream ``draw`` (:data:`RECIPE_DRAW` or
    :data:`TASK_DRAW`): the one random choice of held-out speakers or tasks. ``names`` in a fixed
    order (sorted), so the draw does not depend on how a formatter listed the files."""
    return random.Random(f"{seed}:{draw}").sample(list(names), count)


def split_held_out(samples: Samples, speakers: int, seed: int = 0) -> Tuple[Samples, Samples]:
    """Keep ``speakers`` whole speakers out of ``samples`` (drawn with ``seed``) for evaluation."""
    names = sorted({s["speaker_name"] for s in samples})
    if speakers >= len(names):
        raise ValueError(f"--held-out-speakers {speakers} leaves no speaker to train on ({len(names)} speakers)")
    held = set(draw_held_out(names, speakers, seed, RECIPE_DRAW))
    return [s for s in samples if s["speaker_name"] not in held], [s for s in samples if s["speaker_name"] in held]


def _vctk_samples(path: str) -> Samples:
    from TTS.tts.configs.shared_configs import BaseDatasetConfig

    from tts_maml.corpus.samples import load_samples

    return load_samples(BaseDatasetConfig(formatter="vctk", path=path))


def train_and_dev_samples(samples: Samples, held_out_speakers: int, seed: int,
                          held_out_folder: Optional[str] = None) -> Tuple[Samples, Samples]:  # fmt: skip
    """The recipes' ``(train_samples, eval_samples)``: with ``held_out_folder`` (the built-in corpus'
    ``held_out/``), every sample trains and the folder's dev speakers evaluate; else
    ``held_out_speakers`` speakers drawn out of ``samples`` (:func:`split_held_out`) are held out and
    their dev speakers evaluate. Either way the test speakers stay unseen."""
    if held_out_folder is not None:
        return samples, dev_samples(_vctk_samples(held_out_folder))
    train, held = split_held_out(samples, held_out_speakers, seed=seed)
    return train, dev_samples(held)


def held_out_samples(corpus: str, held_out_speakers: Optional[int] = None, seed: int = 0) -> Samples:
    """The held-out speakers' samples of a VCTK-layout ``corpus``: its ``held_out/`` folder (the
    built-in corpus), or else the ``held_out_speakers`` speakers that the recipes' ``--data-path``
    branch keeps out (:func:`split_held_out` with ``seed``, the run's ``maml.seed``)."""
    from tts_maml.corpus.build import HELD_OUT_DIR

    folder = os.path.join(corpus, HELD_OUT_DIR)
    if os.path.isdir(folder):
        return _vctk_samples(folder)
    if not held_out_speakers:
        raise ValueError(f"--corpus {corpus} has no {HELD_OUT_DIR}/ folder: pass --held-out-speakers N, "
                         "the recipe's --held-out-speakers")  # fmt: skip
    return split_held_out(_vctk_samples(corpus), held_out_speakers, seed)[1]
