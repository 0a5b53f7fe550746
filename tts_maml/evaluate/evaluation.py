"""``tts-maml evaluate``: the meta-learned model against fine-tuning, on speakers no choice has seen.

The protocol:

- **Three disjoint speaker sets.** Training speakers (meta-training and pre-training), and the
  corpus' held-out speakers split by :func:`tts_maml.corpus.speaker_split.split_dev_test` into *dev*
  speakers (checkpoint selection in the recipes, the baseline's learning rate here) and *test*
  speakers (every reported number).
- **Episodes.** For every test speaker and seed, the speaker's clips are split (seeded) into
  ``shots`` support clips and ``queries`` unseen query clips. The seed also seeds the synthesis
  noise (torch and numpy: the prior's noise, VITS' sampling, Griffin-Lim's phases), per sentence,
  so that every model and step is heard on the same draws.
- **The meta-learned model** adapts exactly as ``tts-maml adapt`` does
  (:func:`tts_maml.adapt.adaptation.load_for_adaptation`, ``learner.start_weights(support_batch)`` for
  step 0, ``learner.adapt``): with ``maml.voice_start = "d_vector"`` the voice slot starts from the
  *support* clips' d-vector, and the query clips are scored with the weights that came from the
  support clips.
- **The baseline** is what a Coqui user would do instead: the pre-trained multi-speaker model the
  meta-learning started from (converted to one voice slot), fine-tuned on the same support clips
  with Adam (:func:`tts_maml.evaluate.baseline.fine_tune`) at the learning rate of ``baseline_lrs`` that
  scores best on the dev speakers (:func:`choose_baseline_lr`).
- **Measures** at each listed step, on the query clips (sentences adaptation never saw):
  ``speaker_similarity`` (Resemblyzer cosine of the synthesised sentence to the centroid of the
  speaker's real clips other than the query clips), ``query_loss`` (the task loss), ``mcd``
  (mel-cepstral distortion with DTW against the real clip of the same sentence, dB), ``f0_rmse``
  / ``f0_mean_error`` (Hz, pYIN voicing). Beside them the **ceiling** (a real query clip against
  its own speaker's centroid) and the **floor** (a real query clip of speaker A against the centroid
  of another test speaker B, over all pairs).
- **Intervals.** Every number is the mean over test speakers of the per-speaker mean over seeds,
  with a 95% Student t-interval over the speakers (:func:`mean_interval`; seeds of one speaker are
  not independent samples, so they are averaged first).
- **Steps to match.** The first listed step at which the baseline's mean reaches the meta-learned
  model's mean at ``reference_step`` (5), for similarity and query loss, and that count divided by
  ``reference_step`` (the literature's ratio is about 20).

Writes ``results.json`` (every number), one PNG per metric (mean and 95% interval per step, one
line per model; floor and ceiling on the similarity plot) and ``report.md``, each atomically.

Example:
    >>> from tts_maml.evaluate.evaluation import mean_interval
    >>> r = mean_interval([1.0, 2.0, 3.0, 4.0, 5.0])
    >>> round(r["mean"], 3), round(r["low"], 3), round(r["high"], 3)
    (3.0, 1.037, 4.963)
"""

import contextlib
import json
import logging
import math
import os
import tempfile
import zlib
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Sequence

import numpy as np
import soundfile as sf
import torch
from tqdm import tqdm

from tts_maml.adapt.adaptation import LoadedModel, load_for_adaptation
from tts_maml.corpus.speaker_split import held_out_samples, split_dev_test
from tts_maml.evaluate.metrics import compare, f0_track
from tts_maml.files import atomic_write, atomic_write_text, check_output_folder
from tts_maml.meta.inner_loop import NonFiniteError
from tts_maml.speakers.similarity import cosine, embed, embed_file

logger = logging.getLogger(__name__)

METRICS = ("speaker_similarity", "query_loss", "mcd", "f0_rmse", "f0_mean_error")
# Lower is better for these; higher for speaker similarity.
LOWER_IS_BETTER = ("query_loss", "mcd", "f0_rmse", "f0_mean_error")
DEFAULT_STEPS = (0, 5, 10, 20, 50, 100, 200)
DEFAULT_BASELINE_LRS = (1e-4, 3e-4, 1e-3, 3e-3)
REFERENCE_STEP = 5
# What the protocol asks for; fewer is allowed (tests, quick looks) and said in the report.
MIN_TEST_SPEAKERS, MIN_SEEDS = 8, 3
INTERVAL = "95% Student t-interval over test speakers of the per-speaker means over seeds"


def mean_interval(values: Sequence[float], confidence: float = 0.95) -> Dict[str, float]:
    """``{"mean", "low", "high", "n"}``: the mean of the finite ``values`` and its Student
    t-interval (``mean -+ t(n-1) * sd / sqrt(n)``, sd with n-1); NaN bounds below two values."""
    from scipy import stats

    x = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=np.float64)
    n = int(x.size)
    if n == 0:
        return {"mean": math.nan, "low": math.nan, "high": math.nan, "n": 0}
    mean = float(x.mean())
    if n < 2:
        return {"mean": mean, "low": math.nan, "high": math.nan, "n": n}
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1) * x.std(ddof=1) / math.sqrt(n))
    return {"mean": mean, "low": mean - half, "high": mean + half, "n": n}


def speaker_interval(rows: Sequence[Dict[str, Any]], key: str) -> Dict[str, float]:
    """:func:`mean_interval` over speakers of the per-speaker mean (over seeds) of ``row[key]``."""
    by_speaker: Dict[str, List[float]] = {}
    for r in rows:
        by_speaker.setdefault(r["speaker"], []).append(r[key])
    means = [float(np.nanmean(v)) if np.isfinite(v).any() else math.nan for v in by_speaker.values()]
    return mean_interval(means)


@contextlib.contextmanager
def weights(model: torch.nn.Module, tensors: Dict[str, torch.Tensor]) -> Iterator[None]:
    """Run the block with ``tensors`` copied into the model's parameters, restored afterwards
    (synthesis calls the model's own inference, which takes no parameter dict)."""
    params = dict(model.named_parameters())
    saved = {n: params[n].detach().clone() for n in tensors}
    with torch.no_grad():
        for n, t in tensors.items():
            params[n].copy_(t)
    try:
        yield
    finally:
        with torch.no_grad():
            for n, t in saved.items():
                params[n].copy_(t)


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


def _clip_key(clip: Dict[str, Any]) -> str:
    # The clip's identity, not where its file happens to be.
    return str(clip.get("audio_unique_name") or os.path.basename(clip["audio_file"]))


@dataclass
class Episode:
    """One test (or dev) speaker under one seed: support and query clips, and what the measures
    compare with (the real query clips, their F0 tracks, the speaker's centroid)."""

    seed: int
    speaker: str
    support: List[Dict[str, Any]]
    query: List[Dict[str, Any]]
    centroid: np.ndarray
    reals: List[Any] = field(repr=False)
    real_f0: List[np.ndarray] = field(repr=False)
    real_embeddings: List[np.ndarray] = field(repr=False)


def make_episodes(samples: Sequence[Dict[str, Any]], speakers: Sequence[str], seeds: Sequence[int], shots: int,
                  queries: int, cache: Optional[Dict[str, np.ndarray]] = None) -> List[Episode]:  # fmt: skip
    """The episodes of ``speakers`` x ``seeds``: support/query split drawn from ``(seed, speaker)``;
    the centroid is the mean Resemblyzer embedding of the speaker's clips other than the query
    clips. ``cache`` keeps embeddings and F0 tracks by file across calls."""
    cache = {} if cache is None else cache

    def embedding(path: str) -> np.ndarray:
        if path not in cache:
            cache[path] = embed_file(path)
        return cache[path]

    def pitch(path: str, wav: np.ndarray, rate: int) -> np.ndarray:
        if "f0:" + path not in cache:
            cache["f0:" + path] = f0_track(wav, rate)
        return cache["f0:" + path]

    episodes = []
    for seed in seeds:
        for speaker in speakers:
            clips = sorted((s for s in samples if s["speaker_name"] == speaker), key=_clip_key)
            if len(clips) < shots + queries:
                raise ValueError(f"speaker {speaker} has {len(clips)} clips; --shots {shots} + --queries {queries} "
                                 "are needed")  # fmt: skip
            order = np.random.default_rng([seed, zlib.crc32(speaker.encode())]).permutation(len(clips))
            query = [clips[i] for i in order[shots : shots + queries]]
            rest = [clips[i] for i in order if i not in set(order[shots : shots + queries])]
            reals = [sf.read(c["audio_file"], dtype="float32") for c in query]
            episodes.append(Episode(
                seed=seed, speaker=speaker, support=[clips[i] for i in order[:shots]], query=query,
                centroid=np.mean([embedding(c["audio_file"]) for c in rest], axis=0), reals=reals,
                real_f0=[pitch(c["audio_file"], w, r) for c, (w, r) in zip(query, reals)],
                real_embeddings=[embedding(c["audio_file"]) for c in query],
            ))  # fmt: skip
    return episodes


def floor_and_ceiling(episodes: Sequence[Episode]) -> Dict[str, Dict[str, float]]:
    """``{"ceiling": ..., "floor": ...}`` as :func:`speaker_interval`: a real query clip against
    its own speaker's centroid, and against each other speaker's centroid (same seed)."""
    ceiling, floor = [], []
    for e in episodes:
        ceiling.append({"speaker": e.speaker, "v": float(np.mean([cosine(x, e.centroid) for x in e.real_embeddings]))})
        others = [o for o in episodes if o.seed == e.seed and o.speaker != e.speaker]
        if others:
            v = np.mean([cosine(x, o.centroid) for o in others for x in e.real_embeddings])
            floor.append({"speaker": e.speaker, "v": float(v)})
    return {"ceiling": speaker_interval(ceiling, "v"), "floor": speaker_interval(floor, "v")}


class Subject:
    """A model under evaluation, loaded as ``tts-maml adapt`` loads it.

    Args:
        name: its name in the report (``meta``, ``baseline``).
        model_path: the checkpoint; config_path: its config.json.
        lr: the inner learning rate for :meth:`MetaLearner.adapt` (default: the model's own).
        adapter_preset: adapt this preset instead of the model's own selection.
        device: ``"cpu"`` or ``"cuda"``.
        phoneme_cache: where the phonemes of the evaluated clips are cached (as ``tts-maml adapt``
            does, not in the training run's cache); default: the config's.
    """

    def __init__(self, name: str, model_path: str, config_path: str, lr: Optional[float] = None,
                 adapter_preset: Optional[str] = None, device: str = "cpu",
                 phoneme_cache: Optional[str] = None) -> None:  # fmt: skip
        self.name = name
        self.loaded: LoadedModel = load_for_adaptation(model_path, config_path, adapter_preset=adapter_preset, lr=lr)
        if phoneme_cache is not None:
            self.loaded.config.phoneme_cache_path = phoneme_cache
        self.model = self.loaded.model
        self.model.to(torch.device(device)).eval()
        if self.loaded.learner.inner_lrs is not None:
            self.loaded.learner.inner_lrs.to(torch.device(device))
        self.voice = self.model.speaker_manager.speaker_names[0]
        self.rate = int(self.loaded.config.audio.sample_rate)
        self.loss = self.loaded.backbone.evaluation_loss(self.model)
        self.params = {n: p.detach() for n, p in self.model.named_parameters()}

    def describe(self) -> Dict[str, Any]:
        """What the report says about the model."""
        return {"adapted_tensors": len(self.loaded.adapted),
                "adapted_values": int(sum(self.params[n].numel() for n in self.loaded.adapted)),
                "inner_lr": self.loaded.lr, "voice_start": self.loaded.config.maml.voice_start}  # fmt: skip

    def trajectory(self, episode: Episode, steps: Sequence[int],
                   fine_tune_lr: Optional[float] = None) -> Dict[int, Any]:  # fmt: skip
        """``{step: fast weights}`` at the listed ``steps`` (step 0: ``start_weights`` of the support
        batch): by the model's own inner loop, or by Adam at ``fine_tune_lr`` (the baseline). A
        step after a divergence maps to None."""
        from tts_maml.evaluate.baseline import fine_tune

        learner = self.loaded.learner
        support = self.loaded.backbone.make_batch(self.model, episode.support)
        kept: Dict[int, Any] = {s: None for s in steps}
        kept[0] = learner.start_weights(support)

        def keep(step: int, fast: Dict[str, torch.Tensor]) -> None:
            if step in kept:
                kept[step] = {n: t.detach().clone() for n, t in fast.items()}

        last = max(steps)
        try:
            if fine_tune_lr is not None:
                fine_tune(self.loaded, support, last, fine_tune_lr, on_step=keep)
            else:
                learner.adapt(support, steps=last, lr=None if self.loaded.lr == "learned" else self.loaded.lr,
                              on_step=keep)  # fmt: skip
        except NonFiniteError as e:
            logger.warning("%s diverged on %s (seed %d): %s", self.name, episode.speaker, episode.seed, e)
        return kept

    def measure(self, episode: Episode, fast: Optional[Dict[str, torch.Tensor]],
                synthesise: bool = True) -> Dict[str, float]:  # fmt: skip
        """The query loss and (with ``synthesise``) the synthesis measures of ``fast`` on the query
        clips; NaN everywhere for a diverged step (``fast`` None)."""
        if fast is None:
            return {m: math.nan for m in METRICS}
        query = self.loaded.backbone.make_batch(self.model, episode.query)
        with torch.no_grad():
            row = {"query_loss": float(self.loss({**self.params, **fast}, query))}
        if not synthesise:
            return row
        measures = []
        with weights(self.model, fast), torch.no_grad():
            for clip, real, real_f0 in zip(episode.query, episode.reals, episode.real_f0):
                with seeded(episode.seed, _clip_key(clip)):
                    out = self.model.synthesize(clip["text"], speaker=self.voice, use_griffin_lim=True)
                wav = np.asarray(out["wav"], dtype=np.float32).reshape(-1)
                m = compare(real, (wav, self.rate), reference_f0=real_f0)
                m["speaker_similarity"] = cosine(embed(wav, self.rate), episode.centroid)
                measures.append(m)
        for key in ("speaker_similarity", "mcd", "f0_rmse", "f0_mean_error"):
            values = [m[key] for m in measures if math.isfinite(m[key])]
            row[key] = float(np.mean(values)) if values else math.nan
        return row

    def run(self, episodes: Sequence[Episode], steps: Sequence[int], fine_tune_lr: Optional[float] = None,
            progress: bool = True) -> List[Dict[str, Any]]:  # fmt: skip
        """One row per episode and listed step: every measure."""
        rows = []
        for episode in tqdm(episodes, desc=f"evaluate {self.name}", unit="episode", disable=not progress):
            kept = self.trajectory(episode, steps, fine_tune_lr)
            for step in steps:
                rows.append({"model": self.name, "speaker": episode.speaker, "seed": episode.seed, "step": step,
                             **self.measure(episode, kept[step])})  # fmt: skip
        return rows


def choose_baseline_lr(subject: Subject, episodes: Sequence[Episode], lrs: Sequence[float], steps: int,
                       select_by: str = "speaker_similarity", progress: bool = True) -> Dict[str, Any]:  # fmt: skip
    """Fine-tune ``subject`` on the dev ``episodes`` at every rate of ``lrs`` for ``steps`` Adam
    steps; pick the rate with the best mean ``select_by`` (over dev speakers) after ``steps``
    (ties go to the other measure).

    Returns ``{"chosen", "select_by", "steps", "speakers", "seeds", "lrs": {lr: {"speaker_similarity",
    "query_loss", "diverged"}}}``; a rate that diverged on any dev episode is never chosen."""
    if select_by not in ("speaker_similarity", "query_loss"):
        raise ValueError(f"--baseline-select-by must be speaker_similarity or query_loss, got {select_by!r}")
    table: Dict[str, Dict[str, Any]] = {}
    for lr in tqdm(lrs, desc="baseline lr on dev speakers", unit="lr", disable=not progress):
        rows = [subject.measure(e, subject.trajectory(e, [0, steps], fine_tune_lr=lr)[steps]) for e in episodes]
        diverged = any(not math.isfinite(r["query_loss"]) for r in rows)
        means = {k: float(np.nanmean([r[k] for r in rows])) for k in ("speaker_similarity", "query_loss")}
        table[repr(float(lr))] = {"lr": float(lr), "diverged": diverged, **means}
    usable = [v for v in table.values() if not v["diverged"]]
    if not usable:
        raise ValueError(f"the baseline diverged at every learning rate of {list(lrs)} on the dev speakers")
    sign = -1.0 if select_by in LOWER_IS_BETTER else 1.0
    other = "query_loss" if select_by == "speaker_similarity" else "speaker_similarity"
    # Ties (a voice that does not move at any rate) go to the other measure.
    chosen = max(usable, key=lambda v: (sign * v[select_by], -sign * v[other]))["lr"]
    return {"chosen": chosen, "select_by": select_by, "steps": steps,
            "speakers": sorted({e.speaker for e in episodes}), "seeds": sorted({e.seed for e in episodes}),
            "lrs": table}  # fmt: skip


def summarise(rows: Sequence[Dict[str, Any]], steps: Sequence[int]) -> Dict[str, Dict[str, Dict[str, List[float]]]]:
    """``{model: {metric: {"mean": [...], "low": [...], "high": [...], "n": [...]}}}`` per step
    (:func:`speaker_interval`)."""
    summary: Dict[str, Dict[str, Dict[str, List[float]]]] = {}
    for name in dict.fromkeys(r["model"] for r in rows):
        summary[name] = {}
        for metric in METRICS:
            mine = [r for r in rows if r["model"] == name]
            per_step = [speaker_interval([r for r in mine if r["step"] == s], metric) for s in steps]
            summary[name][metric] = {k: [p[k] for p in per_step] for k in ("mean", "low", "high", "n")}
    return summary


def steps_to_match(summary: Dict[str, Any], steps: Sequence[int], reference_step: int = REFERENCE_STEP,
                   meta: str = "meta", baseline: str = "baseline") -> Dict[str, Dict[str, Any]]:  # fmt: skip
    """Per metric (similarity, query loss): the meta model's mean at ``reference_step``, the first
    listed step at which the baseline's mean is as good, and that step / ``reference_step`` (None
    when the baseline does not get there within the listed steps)."""
    steps = list(steps)
    if reference_step not in steps or meta not in summary or baseline not in summary:
        return {}
    out = {}
    for metric in ("speaker_similarity", "query_loss"):
        target = summary[meta][metric]["mean"][steps.index(reference_step)]
        better = (lambda v: v <= target) if metric in LOWER_IS_BETTER else (lambda v: v >= target)  # noqa: E731
        curve = zip(steps, summary[baseline][metric]["mean"])
        reached = next((s for s, v in curve if math.isfinite(v) and better(v)), None)
        out[metric] = {"meta_at_reference": target, "reference_step": reference_step, "baseline_steps": reached,
                       "ratio": None if reached is None else reached / reference_step, "max_step": steps[-1]}  # fmt: skip
    return out


def evaluate(
    model_path: str,
    config_path: str,
    corpus: str,
    out: str,
    baseline_model_path: Optional[str] = None,
    baseline_config_path: Optional[str] = None,
    baseline_lr: Optional[float] = None,
    baseline_lrs: Sequence[float] = DEFAULT_BASELINE_LRS,
    baseline_select_by: str = "speaker_similarity",
    baseline_adapter_preset: Optional[str] = None,
    held_out_speakers: Optional[int] = None,
    shots: int = 5,
    queries: int = 3,
    steps: Sequence[int] = DEFAULT_STEPS,
    seeds: int = MIN_SEEDS,
    reference_step: int = REFERENCE_STEP,
    lr: Optional[float] = None,
    device: str = "cpu",
    overwrite: bool = False,
    progress: bool = True,
) -> Dict[str, Any]:
    """Run the protocol (module docstring) and write the report into ``out``; returns the results.

    Args:
        model_path, config_path: the meta-learned checkpoint and its config.json.
        corpus: the VCTK-layout corpus whose held-out speakers are split into dev and test.
        out: report folder (created; must be empty unless ``overwrite``).
        baseline_model_path, baseline_config_path: the starting checkpoint to fine-tune (the
            converted pre-trained model the meta-learning started from); none: no baseline.
        baseline_lr: the baseline's Adam rate; None: chosen on the dev speakers from ``baseline_lrs``
            by ``baseline_select_by`` after ``max(steps)`` steps.
        baseline_adapter_preset: fine-tune this preset (``generator``: every weight) instead of the
            baseline config's own selection.
        held_out_speakers: for a corpus without a ``held_out/`` folder (see :func:`held_out_samples`).
        shots, queries: support and query clips per episode.
        steps: the step counts measured (0 = before adaptation; 0 and ``reference_step`` are added).
        seeds: the number of seeds (0..seeds-1).
        reference_step: the meta model's step that the baseline has to match.
        lr: the meta model's inner learning rate (default: its own).
        device, overwrite, progress: as in ``tts-maml adapt``.
    """
    steps = sorted(set(int(s) for s in steps) | {0, int(reference_step)})
    if steps[0] < 0:
        raise ValueError(f"--steps and --reference-step must be >= 0, got {steps[0]}")
    if (baseline_model_path is None) != (baseline_config_path is None):
        raise ValueError("--baseline_model_path and --baseline_config_path go together")
    if seeds < 1 or shots < 1 or queries < 1:
        raise ValueError(f"--seeds, --shots and --queries must be >= 1, got {seeds}, {shots}, {queries}")
    check_output_folder(out, overwrite)
    with tempfile.TemporaryDirectory(prefix="tts_maml_evaluate_") as work:
        results = _protocol(model_path, config_path, corpus, baseline_model_path, baseline_config_path, baseline_lr,
                            baseline_lrs, baseline_select_by, baseline_adapter_preset, held_out_speakers, shots,
                            queries, steps, seeds, reference_step, lr, device, progress, work)  # fmt: skip
    os.makedirs(out, exist_ok=True)
    atomic_write_text(json.dumps(results, indent=2), os.path.join(out, "results.json"))
    for metric in METRICS:
        _plot(results, metric, os.path.join(out, f"{metric}.png"))
    atomic_write_text(report_markdown(results), os.path.join(out, "report.md"))
    return results


def _protocol(model_path, config_path, corpus, baseline_model_path, baseline_config_path, baseline_lr, baseline_lrs,
              baseline_select_by, baseline_adapter_preset, held_out_speakers, shots, queries, steps, seeds,
              reference_step, lr, device, progress, work) -> Dict[str, Any]:  # fmt: skip
    # evaluate() without the output files; ``work`` holds the phonemes of the evaluated clips.
    meta = Subject("meta", model_path, config_path, lr=lr, device=device, phoneme_cache=work)
    samples = held_out_samples(corpus, held_out_speakers, seed=meta.loaded.config.maml.seed)
    dev, test = split_dev_test(s["speaker_name"] for s in samples)
    if not test:
        raise ValueError(f"{corpus}: no held-out speakers to test on")
    cache: Dict[str, np.ndarray] = {}
    test_episodes = make_episodes(samples, test, range(seeds), shots, queries, cache)
    results: Dict[str, Any] = {
        "protocol": {"shots": shots, "queries": queries, "seeds": list(range(seeds)), "steps": steps,
                     "reference_step": reference_step, "interval": INTERVAL,
                     "split": "tts_maml.corpus.speaker_split.split_dev_test: held-out speakers sorted, first half "
                              "(rounded down) dev, the rest test"},
        "corpus": os.path.abspath(corpus),
        "speakers": {"dev": dev, "test": test},
        "models": {"meta": {"model_path": os.path.abspath(model_path), **meta.describe()}},
        **floor_and_ceiling(test_episodes),
    }  # fmt: skip
    rows = meta.run(test_episodes, steps, progress=progress)
    del meta
    if baseline_model_path is not None:
        base = Subject("baseline", baseline_model_path, baseline_config_path, adapter_preset=baseline_adapter_preset,
                       device=device, phoneme_cache=work)  # fmt: skip
        if baseline_lr is None:
            if not dev:
                raise ValueError(f"{corpus}: no dev speakers to choose the baseline's learning rate on; "
                                 "pass --baseline_lr")  # fmt: skip
            dev_episodes = make_episodes(samples, dev, [0], shots, queries, cache)
            choice = choose_baseline_lr(base, dev_episodes, baseline_lrs, steps[-1], baseline_select_by, progress)
            baseline_lr = choice["chosen"]
        else:
            choice = {"chosen": float(baseline_lr), "given": True}
        results["baseline_lr_choice"] = choice
        results["models"]["baseline"] = {"model_path": os.path.abspath(baseline_model_path), **base.describe(),
                                         "optimizer": "adam", "lr": float(baseline_lr), "inner_lr": None}  # fmt: skip
        rows += base.run(test_episodes, steps, fine_tune_lr=baseline_lr, progress=progress)
    results["runs"] = rows
    results["summary"] = summarise(rows, steps)
    results["steps_to_match"] = steps_to_match(results["summary"], steps, reference_step)
    results["warnings"] = _shortfalls(len(test), seeds)
    for w in results["warnings"]:
        logger.warning(w)
    return results


def _shortfalls(test_speakers: int, seeds: int) -> List[str]:
    notes = []
    if test_speakers < MIN_TEST_SPEAKERS:
        notes.append(f"only {test_speakers} test speakers (the protocol asks for at least {MIN_TEST_SPEAKERS})")
    if seeds < MIN_SEEDS:
        notes.append(f"only {seeds} seed{'s' if seeds != 1 else ''} (the protocol asks for at least {MIN_SEEDS})")
    return notes


def _plot(results: Dict[str, Any], metric: str, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = results["protocol"]["steps"]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, metrics in results["summary"].items():
        s = metrics[metric]
        ax.plot(steps, s["mean"], marker="o", label=name)
        ax.fill_between(steps, s["low"], s["high"], alpha=0.2)
    if metric == "speaker_similarity":
        for key, style in (("ceiling", "--"), ("floor", ":")):
            if math.isfinite(results[key]["mean"]):
                ax.axhline(results[key]["mean"], color="grey", linestyle=style, label=f"{key} (real clips)")
    ax.set_xscale("symlog", linthresh=1)
    ax.set_xticks(steps, [str(s) for s in steps])
    ax.set_xlabel("adaptation steps")
    ax.set_ylabel(metric.replace("_", " "))
    ax.legend()
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100))
    plt.close(fig)


def _ci(mean: float, low: float, high: float, digits: int = 3) -> str:
    if not math.isfinite(mean):
        return "n/a"
    if not (math.isfinite(low) and math.isfinite(high)):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def report_markdown(results: Dict[str, Any]) -> str:
    """The report: speaker sets, floor and ceiling, the baseline's learning-rate choice, one table
    per metric (mean [95% interval] per step and model) and the steps-to-match ratio."""
    p, names = results["protocol"], list(results["summary"])
    lines = ["# Adaptation to unseen test speakers", "",
             f"Test speakers ({len(results['speakers']['test'])}): {', '.join(results['speakers']['test'])}.  ",
             f"Dev speakers ({len(results['speakers']['dev'])}, learning-rate choice only): "
             f"{', '.join(results['speakers']['dev']) or 'none'}.  ",
             f"{p['shots']} support clips and {p['queries']} unseen query sentences per speaker, seeds "
             f"{', '.join(map(str, p['seeds']))}; "
             f"each cell is the mean with its {p['interval']}.", ""]  # fmt: skip
    for w in results.get("warnings", []):
        lines += [f"**Warning:** {w}.", ""]
    lines += [f"Speaker similarity of real clips: ceiling (own speaker) {_ci(**_c(results['ceiling']))}, "
              f"floor (another test speaker) {_ci(**_c(results['floor']))}.", ""]  # fmt: skip
    for name, model in results["models"].items():
        extra = f", Adam at lr {model['lr']:g}" if name == "baseline" else f", inner lr {model['inner_lr']}"
        lines.append(f"- `{name}`: {model['model_path']} ({model['adapted_tensors']} tensors, "
                     f"{model['adapted_values']:,} values adapted{extra})")  # fmt: skip
    choice = results.get("baseline_lr_choice")
    if choice and not choice.get("given"):
        seeds = ", ".join(map(str, choice["seeds"]))
        lines += ["", f"Baseline learning rate chosen on the dev speakers (seed {seeds}), by "
                  f"{choice['select_by']} after {choice['steps']} steps: **{choice['chosen']:g}**.", "",
                  "| lr | dev speaker_similarity | dev query_loss |", "|---:|---:|---:|"]  # fmt: skip
        for v in choice["lrs"].values():
            mark = " (diverged)" if v["diverged"] else (" (chosen)" if v["lr"] == choice["chosen"] else "")
            lines.append(f"| {v['lr']:g}{mark} | {v['speaker_similarity']:.3f} | {v['query_loss']:.3f} |")
    elif choice:
        lines += ["", f"Baseline learning rate given: {choice['chosen']:g} (not chosen here)."]
    for metric in METRICS:
        lines += ["", f"### {metric}", "", "| step | " + " | ".join(names) + " |", "|---:|" + "---:|" * len(names)]
        for i, step in enumerate(p["steps"]):
            cells = [_ci(**_c(results["summary"][n][metric], i)) for n in names]
            lines.append(f"| {step} | " + " | ".join(cells) + " |")
    match = results.get("steps_to_match") or {}
    if match:
        lines += ["", "### Fine-tuning steps the baseline needs to match the meta-learned model", ""]
        for metric, m in match.items():
            if m["baseline_steps"] is None:
                said = f"not reached within {m['max_step']} steps (ratio > {m['max_step'] / m['reference_step']:g})"
            else:
                said = f"{m['baseline_steps']} steps (ratio {m['ratio']:g})"
            meta_value = f"meta at step {m['reference_step']} = {m['meta_at_reference']:.3f}"
            lines.append(f"- {metric}: {meta_value}; baseline: {said}")
        lines.append("  (the first listed step count at which the baseline's mean is as good; an upper bound)")
    lines += ["", "Lower is better for query_loss, mcd and the F0 errors; higher for speaker_similarity. n/a: no "
              "value (F0 errors: no frame that pYIN calls voiced in both the real and the synthesised clip).", ""]
    lines += [f"![{m}]({m}.png)" for m in METRICS]
    return "\n".join(lines) + "\n"


def _c(d: Dict[str, Any], i: Optional[int] = None) -> Dict[str, float]:
    pick = (lambda k: d[k][i]) if i is not None else (lambda k: d[k])  # noqa: E731
    return {"mean": pick("mean"), "low": pick("low"), "high": pick("high")}
