"""What the training recipes share (the recipes themselves are short scripts in ``recipes/``: each
picks a dataset, a config and a Coqui model class, and calls :func:`meta_train`).

- :func:`recipe_arguments`: the recipe's own options, leaving Coqui's (``--continue_path``,
  ``--coqpit.*``...) in ``sys.argv`` for the Trainer to parse; :func:`output_folder` where runs go.
- :func:`coqui_setup`: Coqui's recipe wiring of a config: the dataset, the phoneme cache, the
  AudioProcessor and the tokenizer.
- :func:`meta_train`: samples split into training and dev speakers
  (:func:`tts_maml.corpus.speaker_split.train_and_dev_samples`), the model with its voice slot,
  and :class:`~tts_maml.training.trainer_model.MamlTrainer`'s ``fit()``.
- :func:`progress_callbacks`: a tqdm bar over the run's meta-steps, as Trainer callbacks.

Example:
    >>> from tts_maml.training.recipe import recipe_arguments
    >>> recipe_arguments("demo", argv=["--data-path", "/data/VCTK"]).size
    'vctk'
"""

import argparse
import os
import sys
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from tqdm import tqdm

Samples = List[Dict[str, Any]]


def recipe_arguments(description: str, argv: Optional[Sequence[str]] = None,
                     extra: Optional[Callable[[argparse.ArgumentParser], None]] = None) -> argparse.Namespace:  # fmt: skip
    """Parse the recipe's own options (``extra(parser)`` adds a recipe's own); leave the rest of
    ``sys.argv`` to Coqui's Trainer."""
    parser = argparse.ArgumentParser(description=description, allow_abbrev=False)
    if extra is not None:
        extra(parser)
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


def output_folder(args: argparse.Namespace) -> str:
    """Where the recipe's run folder goes: ``--output-path``, else ``./output``."""
    return args.output_path or os.path.join(os.getcwd(), "output")


def coqui_setup(config: Any, dataset: Any, output_path: str) -> Tuple[Any, Any, Any]:
    """Coqui's recipe wiring: ``dataset`` and a phoneme cache in ``output_path`` set on ``config``,
    then ``(AudioProcessor, TTSTokenizer, config)`` (the tokenizer may complete the config)."""
    # Imported when used: importing this module for recipe_arguments stays cheap (no torch, no Coqui).
    from TTS.tts.utils.text.tokenizer import TTSTokenizer
    from TTS.utils.audio import AudioProcessor

    config.datasets = [dataset]
    config.phoneme_cache_path = os.path.join(output_path, "phoneme_cache")
    ap = AudioProcessor(config.audio)
    tokenizer, config = TTSTokenizer.init_from_config(config)
    return ap, tokenizer, config


def meta_train(model_class: Callable[..., Any], config: Any, dataset: Any, args: argparse.Namespace,
               output_path: str, held_out_folder: Optional[str] = None,
               formatter: Optional[Callable[..., Samples]] = None, restore_path: str = "") -> None:  # fmt: skip
    """Meta-train a ``model_class`` (Coqui's ``Vits``, ``GlowTTS``) with ``config`` on ``dataset``.

    Dev speakers choose checkpoints and test speakers stay unseen: ``held_out_folder`` (the built-in
    corpus' ``held_out/``) gives them, else ``args.held_out_speakers`` speakers drawn out of the
    dataset with ``maml.seed``. ``formatter``: a custom Coqui formatter function; ``restore_path``:
    a checkpoint to start from (phase 2)."""
    from trainer import TrainerArgs
    from TTS.tts.utils.speakers import SpeakerManager

    from tts_maml.corpus.samples import load_samples
    from tts_maml.corpus.speaker_split import train_and_dev_samples
    from tts_maml.training.trainer_model import MamlTrainer, MamlTrainerModel

    ap, tokenizer, config = coqui_setup(config, dataset, output_path)
    samples = load_samples(dataset, formatter=formatter)
    train_samples, eval_samples = train_and_dev_samples(samples, args.held_out_speakers, config.maml.seed,
                                                        held_out_folder)  # fmt: skip
    # The voice slot: config.speakers == ["voice"], one speaker-embedding row that adaptation tunes.
    model = model_class(config, ap, tokenizer, speaker_manager=SpeakerManager.init_from_config(config))
    trainer = MamlTrainer(
        TrainerArgs(restore_path=restore_path),
        config,
        output_path,
        model=MamlTrainerModel(config, model),
        train_samples=train_samples,
        eval_samples=eval_samples,
        callbacks=progress_callbacks(),
    )
    trainer.fit()


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
