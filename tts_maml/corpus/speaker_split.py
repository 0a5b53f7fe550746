"""The one home of the speaker splits: which speakers are held out of training, and how held-out
speakers divide into dev and test speakers.

Meta-training and evaluation use three disjoint speaker sets: *training* speakers (meta-training),
*dev* speakers (checkpoint selection, learning-rate choice) and *test* speakers (the reported
numbers). The held-out speakers of a corpus are split here, and only here: sorted by name, the
first half (rounded down) are dev speakers, the rest test speakers. Choices made on dev speakers
therefore never see a test speaker.

Example:
    >>> from tts_maml.corpus.speaker_split import split_dev_test
    >>> split_dev_test(["sp243", "sp240", "sp241", "sp242"])
    (['sp240', 'sp241'], ['sp242', 'sp243'])
"""

import os
import random
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple


def split_dev_test(speakers: Iterable[str]) -> Tuple[List[str], List[str]]:
    """``(dev, test)`` speaker names: sorted, the first half (rounded down) dev, the rest test."""
    names = sorted(set(speakers))
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


def split_held_out(samples: List[Dict[str, Any]], speakers: int, seed: int = 0) -> Tuple[List[Dict[str, Any]], List[Dict[str, Any]]]:
    """Keep ``speakers`` whole speakers out of ``samples`` (drawn with ``seed``) for evaluation."""
    names = sorted({s["speaker_name"] for s in samples})
    if speakers >= len(names):
        raise ValueError(f"--held-out-speakers {speakers} leaves no speaker to train on ({len(names)} speakers)")
    held = set(random.Random(f"{seed}:recipe-held-out").sample(names, speakers))
    return [s for s in samples if s["speaker_name"] not in held], [s for s in samples if s["speaker_name"] in held]


def held_out_samples(corpus: str, held_out_speakers: Optional[int] = None, seed: int = 0) -> List[Dict[str, Any]]:
    """The held-out speakers' samples of a VCTK-layout ``corpus``: its ``held_out/`` folder (the
    built-in corpus), or else the ``held_out_speakers`` speakers that the recipes' ``--data-path``
    branch keeps out (:func:`split_held_out` with ``seed``, the run's ``maml.seed``)."""
    # Imported here: the splits above are used where Coqui's datasets are not loaded.
    from TTS.tts.configs.shared_configs import BaseDatasetConfig

    from tts_maml.corpus.build import HELD_OUT_DIR
    from tts_maml.corpus.samples import load_samples

    folder = os.path.join(corpus, HELD_OUT_DIR)
    if os.path.isdir(folder):
        return load_samples(BaseDatasetConfig(formatter="vctk", path=folder))
    if not held_out_speakers:
        raise ValueError(f"--corpus {corpus} has no {HELD_OUT_DIR}/ folder: pass --held-out-speakers N, "
                         "the recipe's --held-out-speakers")  # fmt: skip
    return split_held_out(load_samples(BaseDatasetConfig(formatter="vctk", path=corpus)), held_out_speakers, seed)[1]
