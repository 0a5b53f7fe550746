"""A model under evaluation: loaded as ``tts-maml adapt`` loads it, adapted on an episode's support
clips by the step ``tts-maml adapt`` runs (:func:`tts_maml.adapt.adaptation.adapt_steps`), and
measured on its query clips at listed step counts.

The fine-tuning baseline is the same, adapted by Adam instead
(:class:`tts_maml.evaluate.baseline.FineTuned`).

Example:
    >>> from tts_maml.evaluate.subject import Subject
    >>> meta = Subject("meta", "run/best_model.pth", "run/config.json")  # doctest: +SKIP
    >>> rows = meta.run(episodes, steps=[0, 5, 20])  # doctest: +SKIP
"""

import contextlib
import logging
import math
import zlib
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence

import numpy as np
import torch
from tqdm import tqdm

from tts_maml import judges
from tts_maml.adapt.adaptation import LoadedModel, OnStep, adapt_steps, load_for_adaptation, lr_label
from tts_maml.adapt.fast_weights import weights_in
from tts_maml.adapt.vocoder_fit import check_fits_griffin_lim, fit_griffin_lim_power, griffin_lim_power
from tts_maml.evaluate.metrics import compare
from tts_maml.evaluate.trials import Trial, clip_key
from tts_maml.meta.inner_loop import NonFiniteError
from tts_maml.speakers.d_vectors import clip_embedding

logger = logging.getLogger(__name__)

# The judges' scores (tts_maml.judges: Resemblyzer and CAM++ similarity, Whisper's CER and WER),
# then the model's own loss and the signal measures.
METRICS = judges.METRICS + ("query_loss", "mcd", "f0_rmse", "f0_mean_error")
# Lower is better for these; higher for the speaker similarities.
LOWER_IS_BETTER = judges.LOWER_IS_BETTER + ("query_loss", "mcd", "f0_rmse", "f0_mean_error")
CLIP_METRICS = tuple(m for m in METRICS if m != "query_loss")
# Told of each episode's first query clip as spoken at each measured step (None: before any clip):
# (episode, step, wav, sample rate, every judge's score of it). The listening page keeps some.
Listen = Callable[[Trial, Optional[int], np.ndarray, int, Dict[str, float]], None]


@contextlib.contextmanager
def seeded(seed: int, key: str) -> Iterator[None]:
    """Run the block with torch and numpy seeded from ``(seed, key)``, both restored afterwards."""
    value = zlib.crc32(f"{seed}\n{key}".encode())
    state = np.random.get_state()
    with torch.random.fork_rng():
        torch.manual_seed(value)
        np.random.seed(value)
        try:
            yield
        finally:
            np.random.set_state(state)


class Subject:
    """A model under evaluation, loaded as ``tts-maml adapt`` loads it.

    Args:
        name: its name in the report (``meta``, ``baseline``).
        model_path: the checkpoint; config_path: its config.json.
        lr: the inner learning rate for :meth:`MetaLearner.adapt` (default None: the model's own).
        adapter_preset: adapt this preset instead of the model's own selection.
        device: ``"cpu"`` or ``"cuda"``.
        phoneme_cache: where the phonemes of the evaluated clips are cached (as ``tts-maml adapt``
            does, not in the training run's cache); default: the config's.
        fit_griffin_lim: at every measured step after adaptation starts, fit the Griffin-Lim
            exponent to the episode's support clips (:func:`tts_maml.adapt.vocoder_fit.fit_griffin_lim_power`,
            as ``tts-maml adapt --fit-griffin-lim`` does) and speak the query sentences with it.
    """

    def __init__(self, name: str, model_path: str, config_path: str, lr: Optional[float] = None,
                 adapter_preset: Optional[str] = None, device: str = "cpu",
                 phoneme_cache: Optional[str] = None, fit_griffin_lim: bool = False) -> None:  # fmt: skip
        self.name = name
        self.fit_griffin_lim = fit_griffin_lim
        self.loaded: LoadedModel = load_for_adaptation(model_path, config_path, adapter_preset=adapter_preset, lr=lr)
        if fit_griffin_lim:
            check_fits_griffin_lim(self.loaded.backbone)
        if phoneme_cache is not None:
            self.loaded.config.phoneme_cache_path = phoneme_cache
        self.model = self.loaded.to(device).model
        self.voice = self.model.speaker_manager.speaker_names[0]
        self.rate = int(self.loaded.config.audio.sample_rate)
        # Coqui's own loss: the same function for every subject, whatever terms its task loss adds.
        self.loss = self.loaded.backbone.evaluation_loss(self.model, extra_terms=False)
        self.params = {n: p.detach() for n, p in self.model.named_parameters()}

    def describe(self) -> Dict[str, Any]:
        """What the report says about the model."""
        return {"adapted_tensors": len(self.loaded.adapted),
                "adapted_values": int(sum(self.params[n].numel() for n in self.loaded.adapted)),
                "inner_lr": lr_label(self.loaded.lr), "voice_start": self.loaded.config.maml.voice_start,
                "griffin_lim_power": "fitted" if self.fit_griffin_lim else float(self.model.ap.power)}  # fmt: skip

    def adapt_steps(self, support: Any, steps: int, on_step: OnStep) -> None:
        """Adapt on the ``support`` batch for ``steps`` steps, ``on_step(step, fast)`` at steps
        0..steps: ``tts-maml adapt``'s own step (:func:`tts_maml.adapt.adaptation.adapt_steps`)."""
        adapt_steps(self.loaded, support, steps, on_step)

    def trajectory(self, episode: Trial, steps: Sequence[int]) -> Dict[int, Any]:
        """``{step: fast weights}`` at the listed ``steps`` (step 0: where adaptation starts) of
        :meth:`adapt_steps` on the episode's support clips. A step after a divergence maps to None."""
        support = self.loaded.backbone.make_batch(self.model, episode.support)
        kept: Dict[int, Any] = {s: None for s in steps}

        def keep(step: int, fast: Dict[str, torch.Tensor]) -> None:
            if step in kept:
                kept[step] = {n: t.detach().clone() for n, t in fast.items()}

        try:
            self.adapt_steps(support, max(steps), keep)
        except NonFiniteError as e:
            logger.warning("%s diverged on %s (seed %d): %s", self.name, episode.speaker, episode.seed, e)
        return kept

    def measure(self, episode: Trial, fast: Optional[Dict[str, torch.Tensor]], query: Any = None,
                first_clip: Optional[Callable[[np.ndarray, Dict[str, float]], None]] = None) -> Dict[str, float]:  # fmt: skip
        """The query loss and the synthesis measures of ``fast`` on the query clips (``query``: their
        batch, if already built), and ``"heard"``: what Whisper heard of each; NaN everywhere (and
        nothing heard) for a diverged step (``fast`` None). ``first_clip(wav, scores)`` is given the
        first query clip as spoken and its judges' scores."""
        if fast is None:
            return {**{m: math.nan for m in METRICS}, "heard": []}
        if query is None:
            query = self.loaded.backbone.make_batch(self.model, episode.query)
        with torch.no_grad():
            row = {"query_loss": float(self.loss({**self.params, **fast}, query))}
        with weights_in(self.model, fast), torch.no_grad():
            power = float(self.model.ap.power)
            if self.fit_griffin_lim and fast:  # fast is empty before any clip is used: nothing to fit on
                centroid = np.mean([clip_embedding(c["audio_file"]) for c in episode.support], axis=0)
                power = fit_griffin_lim_power(self.model, self.voice, [c["text"] for c in episode.support], centroid,
                                              seed=episode.seed).power  # fmt: skip
                row["griffin_lim_power"] = power
            with griffin_lim_power(self.model.ap, power):
                measures = [self._measure_clip(episode, clip, real, real_f0)
                            for clip, real, real_f0 in zip(episode.query, episode.reals, episode.real_f0)]  # fmt: skip
        if first_clip is not None:
            first_clip(measures[0]["wav"], {m: measures[0][m] for m in judges.METRICS})
        for key in CLIP_METRICS:
            values = [m[key] for m in measures if math.isfinite(m[key])]
            row[key] = float(np.mean(values)) if values else math.nan
        row["heard"] = [m["heard"] for m in measures]
        return row

    def _measure_clip(self, episode: Trial, clip: Dict[str, Any], real: Any, real_f0: np.ndarray) -> Dict[str, Any]:
        """One query clip spoken by the model as it is (seeded by the episode and the clip) and measured:
        MCD and F0 errors against the real clip, every judge's score, what Whisper heard
        (:func:`tts_maml.judges.judge_heard`) and the ``"wav"`` itself."""
        with seeded(episode.seed, clip_key(clip)):
            out = self.model.synthesize(clip["text"], speaker=self.voice, use_griffin_lim=True)
        wav = np.asarray(out["wav"], dtype=np.float32).reshape(-1)
        scores, heard = judges.judge_heard(wav, self.rate, clip["text"], episode.centroids)
        return {**compare(real, (wav, self.rate), reference_f0=real_f0), **scores, "heard": heard, "wav": wav}

    def run(self, episodes: Sequence[Trial], steps: Sequence[int], progress: bool = True,
            listen: Optional[Listen] = None) -> List[Dict[str, Any]]:  # fmt: skip
        """One row per episode and listed step: every measure. Each episode also gets a row with
        ``"step": None``: the model as it is, before any clip is used (its own voice slot, where
        step 0 may already hold the support clips' d-vector). ``listen`` hears each episode's first
        query clip at every step (:data:`Listen`)."""
        rows = []
        for episode in tqdm(episodes, desc=f"evaluate {self.name}", unit="episode", disable=not progress):
            kept = self.trajectory(episode, steps)
            query = self.loaded.backbone.make_batch(self.model, episode.query)
            for step in [None, *steps]:
                fast = {} if step is None else kept[step]
                heard = None if listen is None else self._listener(listen, episode, step)
                rows.append({"model": self.name, "speaker": episode.speaker, "seed": episode.seed, "step": step,
                             **self.measure(episode, fast, query, heard)})  # fmt: skip
        return rows

    def _listener(self, listen: Listen, episode: Trial,
                  step: Optional[int]) -> Callable[[np.ndarray, Dict[str, float]], None]:  # fmt: skip
        return lambda wav, scores: listen(episode, step, wav, self.rate, scores)
