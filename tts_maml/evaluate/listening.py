"""The listening page of ``tts-maml evaluate``: per voice (each test speaker, each ``--voice``), seed
0's first query sentence as the real clip says it and as each model speaks it before any clip, at
step 0 and at the last measured step, beside every judge's score of those very clips and the
evaluation's floor and ceiling.

:class:`Listening` is handed to :meth:`tts_maml.evaluate.subject.Subject.run` as its ``listen``
(it keeps what it needs of what it hears) and writes ``listen/<voice>/*.wav``, their spectrograms and
``index.html`` (:mod:`tts_maml.listening_page`) into the report folder.

Example:
    >>> from tts_maml.evaluate.listening import Listening
    >>> listening = Listening(steps=[0, 5, 20])
    >>> rows = meta.run(episodes, [0, 5, 20], listen=listening.hears("meta"))  # doctest: +SKIP
    >>> listening.write("eval", results)  # doctest: +SKIP
"""

import os
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import soundfile as sf

from tts_maml import judges
from tts_maml.evaluate.subject import Listen
from tts_maml.evaluate.trials import Trial
from tts_maml.listening_page import Clip, Voice, write_listening_page
from tts_maml.plots import plot_spectrograms

FOLDER = "listen"
SEED = 0  # the episodes whose clips the page plays


@dataclass
class Heard:
    """One clip on the page: its label, audio, sample rate and every judge's score of it."""

    label: str
    wav: np.ndarray
    rate: int
    scores: Dict[str, float]


def _label(model: str, step: Optional[int]) -> str:
    return f"{model}, no clips" if step is None else f"{model}, step {step}"


def _file_name(label: str) -> str:
    return label.replace(", ", "_").replace(" ", "_") + ".wav"


class Listening:
    """What the listening page plays, gathered while the models are measured.

    Args:
        steps: the measured steps; the page keeps step None (no clips), 0 and the last.
    """

    def __init__(self, steps: Sequence[int]) -> None:
        self.last = max(steps)
        self.keep = {None, 0, self.last}
        self.voices: Dict[str, List[Heard]] = {}
        self.sentences: Dict[str, str] = {}

    def hears(self, model: str) -> Listen:
        """The ``listen`` callback of model ``model``'s :meth:`~tts_maml.evaluate.subject.Subject.run`."""

        def listen(episode: Trial, step: Optional[int], wav: np.ndarray, rate: int, scores: Dict[str, float]) -> None:
            if episode.seed != SEED or step not in self.keep:
                return
            clips = self.voices.setdefault(episode.speaker, [])
            if not clips:  # the real clip first
                real, real_rate = episode.reals[0]
                clips.append(Heard("real clip", np.asarray(real, dtype=np.float32), int(real_rate),
                                   dict(episode.real_scores[0])))  # fmt: skip
                self.sentences[episode.speaker] = episode.query[0]["text"]
            clips.append(Heard(_label(model, step), np.asarray(wav, dtype=np.float32), int(rate), dict(scores)))

        return listen

    def write(self, out: str, results: Dict[str, Any]) -> Optional[str]:
        """Write the clips, their spectrograms and ``out/index.html``; returns the page's path (None:
        nothing was heard). Floor and ceiling come from ``results`` (``bounds``, ``voices``)."""
        if not self.voices:
            return None
        pages = [self._write_voice(out, name, clips, results) for name, clips in self.voices.items()]
        models = ", ".join(f"<code>{name}</code> ({os.path.basename(m['model_path'])})"
                           for name, m in results["models"].items())  # fmt: skip
        intro = (f"<p>{models}, adapted on each voice's support clips of seed {SEED} "
                 f"({results['protocol']['shots']} clips); each voice says its first query sentence of that seed, "
                 "which adaptation never saw. The numbers beside the players are the judges' scores of those very "
                 "clips; floor and ceiling are the evaluation's means over the test speakers (for a "
                 "<code>--voice</code>, over its seeds). Means over speakers and seeds, with intervals, are in "
                 '<a href="report.md">report.md</a>.</p>')
        return write_listening_page(out, "tts-maml evaluate: listen", intro, pages)

    def _write_voice(self, out: str, name: str, clips: List[Heard], results: Dict[str, Any]) -> Voice:
        folder = os.path.join(FOLDER, name)
        os.makedirs(os.path.join(out, folder), exist_ok=True)
        paths = []
        for heard in clips:
            path = os.path.join(folder, _file_name(heard.label))
            sf.write(os.path.join(out, path), heard.wav, heard.rate)
            paths.append(path)
        picture = os.path.join(folder, "spectrograms.png")
        # The picture: the real clip, and each model before any clip and at the last step.
        shown = {h.label: os.path.join(out, p) for h, p in zip(clips, paths)
                 if not h.label.endswith(", step 0") or self.last == 0}  # fmt: skip
        plot_spectrograms(shown, os.path.join(out, picture), f'{name}: "{self.sentences[name]}"')
        bounds = results["voices"][name]["bounds"] if name in results.get("voices", {}) else results["bounds"]
        rows = {f"{m} ({judges.JUDGE_OF[m]})": [bounds[m]["floor"]["mean"], *(h.scores[m] for h in clips),
                                                 bounds[m]["ceiling"]["mean"]] for m in judges.METRICS}  # fmt: skip
        return Voice(name, self.sentences[name], [Clip(h.label, p) for h, p in zip(clips, paths)],
                     ["floor (mean)", *(h.label for h in clips), "ceiling (mean)"], rows, image=picture,
                     note="Similarities: higher is closer to the voice; CER / WER: lower is more intelligible.")  # fmt: skip
