"""What the training recipes share (the recipes themselves are short scripts in ``recipes/``).

- :func:`recipe_arguments`: the recipe's own options, leaving Coqui's (``--continue_path``,
  ``--coqpit.*``...) in ``sys.argv`` for the Trainer to parse.
- :func:`progress_callbacks`: a tqdm bar over the run's meta-steps, as Trainer callbacks.

Example:
    >>> from tts_maml.training.recipe import recipe_arguments
    >>> recipe_arguments("demo", argv=["--data-path", "/data/VCTK"]).size
    'vctk'
"""

import argparse
import sys
from typing import Any, Callable, Dict, List, Optional, Sequence

from tqdm import tqdm


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
