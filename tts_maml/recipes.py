"""What the training recipes share (the recipes themselves are short scripts in ``recipes/``).

- :func:`offline_corpus`: the built-in corpus, built once into a cache folder and reused.
- :func:`recipe_arguments`: the recipe's own options, leaving Coqui's (``--continue_path``,
  ``--coqpit.*``...) in ``sys.argv`` for the Trainer to parse.
- :func:`progress_callbacks`: a tqdm bar over the run's meta-steps, as Trainer callbacks.
- :func:`load_samples`: Coqui's ``load_tts_samples`` for one dataset, without a random eval split
  (evaluation uses whole held-out speakers).

Example:
    >>> from tts_maml.recipes import corpus_cache_dir
    >>> corpus_cache_dir().endswith("tts_maml")
    True
"""

import argparse
import logging
import os
import sys
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from tqdm import tqdm

from tts_maml.corpus import HELD_OUT_DIR, MANIFEST_FILE, build_corpus

logger = logging.getLogger(__name__)

# The built-in corpus of the recipes and the demo: 20 speakers x 30 clips, 4 held-out speakers.
OFFLINE_SPEAKERS = 20
OFFLINE_UTTERANCES = 30
OFFLINE_HELD_OUT = 4
OFFLINE_SEED = 0
# The pre-training corpus: many more, cheaper speakers (a speaker space learnt from 20 speakers does
# not hold a new one), and 16 held-out speakers: 8 dev (choices) + 8 test (reported numbers).
PRETRAIN_CORPUS = {"speakers": 240, "utterances": 20, "held_out": 16, "seed": OFFLINE_SEED}


def corpus_cache_dir() -> str:
    """Where the offline corpus is cached: ``$TTS_MAML_CACHE`` or ``~/.cache/tts_maml``."""
    return os.environ.get("TTS_MAML_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "tts_maml")


def offline_corpus(
    speakers: int = OFFLINE_SPEAKERS,
    utterances: int = OFFLINE_UTTERANCES,
    held_out: int = OFFLINE_HELD_OUT,
    seed: int = OFFLINE_SEED,
    cache_dir: Optional[str] = None,
) -> str:
    """The offline corpus folder, built on first use (the build is atomic, so a cache folder
    with a ``corpus.json`` is complete)."""
    root = os.path.join(cache_dir or corpus_cache_dir(), f"corpus-{speakers}x{utterances}-h{held_out}-s{seed}")
    if os.path.isfile(os.path.join(root, MANIFEST_FILE)):
        logger.info("using the offline corpus in %s", root)
        return root
    logger.info("building the offline corpus into %s (once)", root)
    build_corpus(root, speakers=speakers, utterances=utterances, seed=seed, held_out=held_out, overwrite=True)
    return root


def held_out_dir(corpus: str) -> str:
    """The held-out speakers' folder of an offline corpus."""
    return os.path.join(corpus, HELD_OUT_DIR)


def recipe_arguments(description: str, argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse the recipe's own options; leave the rest of ``sys.argv`` to Coqui's Trainer."""
    parser = argparse.ArgumentParser(description=description, allow_abbrev=False)
    parser.add_argument("--data-path", default=None,
                        help="the dataset root (default: the built-in offline corpus, built once)")  # fmt: skip
    parser.add_argument("--output-path", default=None, help="where the run folder goes (default: ./output)")
    parser.add_argument("--size", choices=["tiny", "vctk"], default=None,
                        help="model size: tiny (CPU) or Coqui's VCTK sizes (GPU); default: vctk with --data-path, "
                        "tiny without")  # fmt: skip
    parser.add_argument("--init", default=None,
                        help="phase 2: meta-train from a converted pre-trained model, the folder `tts-maml convert` "
                        "wrote (its config.json and model.pth); default: the built-in pre-training corpus")  # fmt: skip
    parser.add_argument("--held-out-speakers", type=int, default=4,
                        help="speakers of --data-path kept out of meta-training for evaluation (default 4)")  # fmt: skip
    args, rest = parser.parse_known_args(sys.argv[1:] if argv is None else list(argv))
    if argv is None:
        sys.argv = sys.argv[:1] + rest
    if args.size is None:
        args.size = "vctk" if args.data_path else "tiny"
    return args


def load_samples(dataset: Any, formatter: Optional[Callable[..., List[Dict[str, Any]]]] = None) -> List[Dict[str, Any]]:
    """Coqui's ``load_tts_samples`` on one dataset config (with a custom ``formatter`` function if
    given), with no random eval split."""
    from TTS.tts.configs.shared_configs import BaseTTSConfig
    from TTS.tts.datasets import load_tts_samples

    holder = BaseTTSConfig(datasets=[dataset])
    samples, _ = load_tts_samples(holder, eval_split=False, formatter=formatter)
    if not samples:
        raise ValueError(f"no samples found in {dataset.path} with formatter {dataset.formatter!r}")
    return samples


def progress_callbacks() -> Dict[str, Callable[..., None]]:
    """Trainer callbacks that drive a tqdm bar over the run's ``epochs * maml.meta_steps_per_epoch``
    meta-steps (read once the Trainer has applied ``--coqpit.*``; a continued run starts the bar
    at the restored step)."""
    bar: List[Any] = []

    def on_init_end(trainer: Any) -> None:
        total = trainer.config.epochs * trainer.config.maml.meta_steps_per_epoch
        done = min(trainer.total_steps_done, total)
        bar.append(tqdm(total=total, initial=done, desc="meta-train", unit="step", dynamic_ncols=True))

    def on_train_step_end(trainer: Any) -> None:
        if bar:
            bar[0].update(1)

    def on_epoch_end(trainer: Any) -> None:
        if bar and bar[0].n >= bar[0].total:
            bar[0].close()

    return {"on_init_end": on_init_end, "on_train_step_end": on_train_step_end, "on_epoch_end": on_epoch_end}


def split_held_out(samples: List[Dict[str, Any]], speakers: int, seed: int = 0) -> Tuple[List[Dict[str, Any]], List[Dict[str, Any]]]:
    """Keep ``speakers`` whole speakers out of ``samples`` (drawn with ``seed``) for evaluation."""
    import random

    names = sorted({s["speaker_name"] for s in samples})
    if speakers >= len(names):
        raise ValueError(f"--held-out-speakers {speakers} leaves no speaker to train on ({len(names)} speakers)")
    held = set(random.Random(f"{seed}:recipe-held-out").sample(names, speakers))
    return [s for s in samples if s["speaker_name"] not in held], [s for s in samples if s["speaker_name"] in held]
