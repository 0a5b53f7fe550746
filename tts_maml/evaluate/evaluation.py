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
  (:class:`tts_maml.evaluate.subject.Subject`: :func:`tts_maml.adapt.adaptation.load_for_adaptation`,
  then the step ``tts-maml adapt`` runs, :func:`tts_maml.adapt.adaptation.adapt_steps`, kept at the
  listed step counts): with ``maml.voice_start = "d_vector"`` the voice slot starts from the
  *support* clips' d-vector, and the query clips are scored with the weights that came from the
  support clips.
- **The baseline** is what a Coqui user would do instead: the pre-trained multi-speaker model the
  meta-learning started from (converted to one voice slot), fine-tuned on the same support clips
  with Adam (:func:`tts_maml.adapt.fine_tuning.fine_tune`, as
  :class:`tts_maml.evaluate.baseline.FineTuned`) at the learning rate of ``baseline_lrs`` that
  scores best on the dev speakers (:func:`tts_maml.evaluate.baseline.choose_baseline_lr`).
- **Measures** at each listed step, and once before any clip is used (*no clips*: the model's own
  voice slot, the base that adaptation is judged against), on the query clips (sentences
  adaptation never saw):
  ``speaker_similarity`` (Resemblyzer cosine of the synthesised sentence to the centroid of the
  speaker's real clips other than the query clips), ``query_loss`` (Coqui's own loss of the backbone,
  without the terms tts_maml may add to a model's task loss, so that both models are scored by the
  same function), ``mcd``
  (mel-cepstral distortion with DTW against the real clip of the same sentence, dB), ``f0_rmse``
  / ``f0_mean_error`` (Hz, pYIN voicing). Beside them the **ceiling** (a real query clip against
  its own speaker's centroid), the **Griffin-Lim ceiling** (the same clip through the meta model's
  own mel spectrogram and Griffin-Lim, :mod:`tts_maml.evaluate.vocoder_ceiling`: the most a perfect
  acoustic model scores through this vocoder) and the **floor** (a real query clip of speaker A
  against the centroid of another test speaker B, over all pairs).
- **Intervals.** Every number is the mean over test speakers of the per-speaker mean over seeds,
  with a 95% Student t-interval over the speakers (:func:`mean_interval`; seeds of one speaker are
  not independent samples, so they are averaged first).
- **Steps to match.** The first listed step at which the baseline's mean reaches the meta-learned
  model's mean at ``reference_step`` (5), for similarity and query loss, and that count divided by
  ``reference_step`` (the literature's ratio is about 20).

Writes ``results.json`` (every number), one PNG per metric (mean and 95% interval per step, one
line per model; floor and ceiling on the similarity plot) and ``report.md``, each atomically, and the
listening page ``index.html`` with its clips in ``listen/`` (:mod:`tts_maml.evaluate.listening`).

Example:
    >>> from tts_maml.evaluate.evaluation import mean_interval
    >>> r = mean_interval([1.0, 2.0, 3.0, 4.0, 5.0])
    >>> round(r["mean"], 3), round(r["low"], 3), round(r["high"], 3)
    (3.0, 1.037, 4.963)
"""

import json
import logging
import math
import os
import tempfile
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np

from tts_maml import judges
from tts_maml.corpus.speaker_split import held_out_samples, split_dev_test
from tts_maml.evaluate.baseline import FineTuned, choose_baseline_lr
from tts_maml.evaluate.protocol import (BASELINE_LRS, DEFAULT_STEPS, MIN_SEEDS, MIN_TEST_SPEAKERS, QUERIES,
                                        REFERENCE_STEP, SELECT_BY, SHOTS)  # fmt: skip
from tts_maml.evaluate.listening import Listening
from tts_maml.evaluate.subject import LOWER_IS_BETTER, METRICS, Listen, Subject
from tts_maml.evaluate.trials import Trial, make_trials, voice_folder_samples
from tts_maml.evaluate.vocoder_ceiling import vocoder_scores
from tts_maml.files import atomic_write_text, check_output_folder
from tts_maml.plots import plot_metric
from tts_maml.speakers.similarity import cosine

logger = logging.getLogger(__name__)

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


def floor_and_ceiling(episodes: Sequence[Trial], rivals: Optional[Sequence[Trial]] = None,
                      unit: Callable[[Trial], Any] = lambda e: e.speaker) -> Dict[str, Dict[str, Dict[str, float]]]:  # fmt: skip
    """``{metric: {"ceiling": ..., "floor": ...}}`` for every judge's metric, as
    :func:`speaker_interval` over ``unit(episode)`` (the speaker; a voice of a clips folder takes its
    seeds). Ceiling: the real query clips as the judges score them (their own speaker's centroid,
    their own sentences). Floor of a similarity: the real query clips against the centroid of each
    other speaker of ``rivals`` (default: ``episodes``) under the same seed (NaN without one); floor
    of an error rate: what Whisper heard in each real query clip against the *other* query
    sentences of its episode (a real clip saying the wrong words)."""
    rivals = episodes if rivals is None else rivals
    ceiling, floor = [], []
    for e in episodes:
        ceiling.append({"speaker": unit(e), **{m: float(np.mean([s[m] for s in e.real_scores])) for m in judges.METRICS}})
        others = [o for o in rivals if o.seed == e.seed and o.speaker != e.speaker]
        row: Dict[str, Any] = {"speaker": unit(e)}
        for m in judges.SIMILARITY_METRICS:
            row[m] = float(np.mean([cosine(x[m], o.centroids[m]) for o in others for x in e.real_embeddings])
                           if others else math.nan)  # fmt: skip
        wrong = [judges.error_rates(c["text"], heard) for i, heard in enumerate(e.real_transcripts)
                 for j, c in enumerate(e.query) if j != i]  # fmt: skip
        for m in judges.TEXT_METRICS:
            row[m] = float(np.mean([w[m] for w in wrong])) if wrong else math.nan
        floor.append(row)
    return {m: {"ceiling": speaker_interval(ceiling, m), "floor": speaker_interval(floor, m)} for m in judges.METRICS}


def with_vocoder_ceiling(bounds: Dict[str, Dict[str, Any]], scores: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
    """``bounds`` (:func:`floor_and_ceiling`) with each judge's ``"vocoder_ceiling"``:
    :func:`speaker_interval` of :func:`tts_maml.evaluate.vocoder_ceiling.vocoder_scores`' rows."""
    return {m: {**b, "vocoder_ceiling": speaker_interval(scores, m)} for m, b in bounds.items()}


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


def no_clips_summary(rows: Sequence[Dict[str, Any]]) -> Dict[str, Dict[str, Dict[str, float]]]:
    """``{model: {metric: interval}}`` (:func:`speaker_interval`) of the rows measured before any
    clip was used (``"step": None``: the model's own voice slot, no d-vector, no step)."""
    before = [r for r in rows if r["step"] is None]
    return {name: {metric: speaker_interval([r for r in before if r["model"] == name], metric) for metric in METRICS}
            for name in dict.fromkeys(r["model"] for r in before)}  # fmt: skip


def voice_summary(rows: Sequence[Dict[str, Any]], name: str, steps: Sequence[int], test_episodes: Sequence[Trial],
                  voice_episodes: Sequence[Trial]) -> Dict[str, Any]:  # fmt: skip
    """One voice of a clips folder: :func:`summarise` and :func:`no_clips_summary` of its rows, each
    seed (support/query draw) taken as a unit of the interval; its ceiling (its real query clips
    against its centroid) and floor (against the test speakers' centroids, same seed; NaN without)."""
    mine = [{**r, "speaker": f"{name}#{r['seed']}"} for r in rows if r["speaker"] == name]
    own = [e for e in voice_episodes if e.speaker == name]
    return {"summary": summarise(mine, steps), "no_clips": no_clips_summary(mine),
            "bounds": floor_and_ceiling(own, test_episodes, unit=lambda e: e.seed)}  # fmt: skip


def steps_to_match(summary: Dict[str, Any], steps: Sequence[int], reference_step: int = REFERENCE_STEP,
                   meta: str = "meta", baseline: str = "baseline") -> Dict[str, Dict[str, Any]]:  # fmt: skip
    """Per metric (each encoder's similarity, the query loss; those ``summary`` has): the meta model's
    mean at ``reference_step``, the first listed step at which the baseline's mean is as good, and that
    step / ``reference_step`` (None when the baseline does not get there within the listed steps)."""
    steps = list(steps)
    if reference_step not in steps or meta not in summary or baseline not in summary:
        return {}
    out = {}
    for metric in ("speaker_similarity", "campplus_similarity", "query_loss"):
        if metric not in summary[meta] or metric not in summary[baseline]:
            continue
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
    corpus: Optional[str],
    out: str,
    baseline_model_path: Optional[str] = None,
    baseline_config_path: Optional[str] = None,
    baseline_lr: Optional[float] = None,
    baseline_lrs: Sequence[float] = BASELINE_LRS,
    baseline_select_by: str = SELECT_BY[0],
    baseline_adapter_preset: Optional[str] = None,
    held_out_speakers: Optional[int] = None,
    shots: int = SHOTS,
    queries: int = QUERIES,
    steps: Sequence[int] = DEFAULT_STEPS,
    seeds: int = MIN_SEEDS,
    reference_step: int = REFERENCE_STEP,
    lr: Optional[float] = None,
    device: str = "cpu",
    overwrite: bool = False,
    progress: bool = True,
    voices: Sequence[str] = (),
    adapter_preset: Optional[str] = None,
    fit_griffin_lim: bool = False,
    speakers: str = "test",
) -> Dict[str, Any]:
    """Run the protocol (module docstring) and write the report into ``out``; returns the results.

    Args:
        model_path, config_path: the meta-learned checkpoint and its config.json.
        corpus: the VCTK-layout corpus whose held-out speakers are split into dev and test (None:
            ``voices`` only, with ``baseline_lr`` given).
        out: report folder (created; must be empty unless ``overwrite``).
        baseline_model_path, baseline_config_path: the starting checkpoint to fine-tune (the
            converted pre-trained model the meta-learning started from); none: no baseline.
        baseline_lr: the baseline's Adam rate; None: chosen on the dev speakers from ``baseline_lrs``
            by ``baseline_select_by`` after ``max(steps)`` steps.
        baseline_adapter_preset: fine-tune this preset (``generator``: every weight) instead of the
            baseline config's own selection.
        held_out_speakers: for a corpus without a ``held_out/`` folder (see :func:`tts_maml.corpus.speaker_split.held_out_samples`).
        shots, queries: support and query clips per episode.
        steps: the step counts measured (0 = before adaptation; 0 is added, and ``reference_step``
            when there is a baseline to match it).
        seeds: the number of seeds (0..seeds-1).
        reference_step: the meta model's step that the baseline has to match.
        lr: the meta model's inner learning rate (default: its own).
        device, overwrite, progress: as in ``tts-maml adapt``.
        voices: clips folders (as ``tts-maml adapt`` reads them), each one more voice measured by the
            same protocol and reported on its own (``results["voices"]``), its interval over seeds.
        adapter_preset: adapt this preset of the meta model instead of the tensors it was
            meta-trained on (as ``tts-maml adapt --adapter-preset`` does).
        fit_griffin_lim: both models speak each step's query sentences at the Griffin-Lim exponent
            fitted to the episode's support clips (as ``tts-maml adapt --fit-griffin-lim`` does).
        speakers: ``"test"``, or ``"dev"`` to measure on the dev speakers instead: for choices (an
            adapter, a rate) that must never be made on the test speakers. The report's summary is of
            the speakers measured (``results["protocol"]["measured_on"]``).
    """
    steps = _checked_steps(steps, reference_step, baseline_model_path)
    _check_arguments(corpus, voices, speakers, seeds, shots, queries, baseline_model_path, baseline_config_path,
                     baseline_lr)  # fmt: skip
    check_output_folder(out, overwrite)
    listening = Listening(steps)
    with tempfile.TemporaryDirectory(prefix="tts_maml_evaluate_") as work:
        results = _protocol(model_path, config_path, corpus, baseline_model_path, baseline_config_path, baseline_lr,
                            baseline_lrs, baseline_select_by, baseline_adapter_preset, held_out_speakers, shots,
                            queries, steps, seeds, reference_step, lr, device, progress, work, voices,
                            adapter_preset, fit_griffin_lim, listening, speakers)  # fmt: skip
    os.makedirs(out, exist_ok=True)
    atomic_write_text(json.dumps(results, indent=2), os.path.join(out, "results.json"))
    for metric in METRICS if results["summary"] else ():  # the plots are of the test speakers
        plot_metric(results, metric, os.path.join(out, f"{metric}.png"))
    atomic_write_text(report_markdown(results), os.path.join(out, "report.md"))
    listening.write(out, results)
    return results


def _checked_steps(steps: Sequence[int], reference_step: int, baseline_model_path: Optional[str]) -> List[int]:
    # The steps measured: 0 always, the reference step when a baseline must match it.
    steps = sorted(set(int(s) for s in steps) | {0} | ({int(reference_step)} if baseline_model_path else set()))
    if steps[0] < 0:
        raise ValueError(f"--steps must be >= 0, got {steps[0]}")
    if reference_step < 1:  # the steps-to-match ratio divides by it
        raise ValueError(f"--reference-step must be >= 1, got {reference_step}")
    return steps


def _check_arguments(corpus, voices, speakers, seeds, shots, queries, baseline_model_path, baseline_config_path,
                     baseline_lr) -> None:  # fmt: skip
    # evaluate()'s arguments that cannot go together, each refused with the flag's name.
    if speakers not in ("dev", "test"):
        raise ValueError(f"--speakers must be dev or test, got {speakers!r}")
    if (baseline_model_path is None) != (baseline_config_path is None):
        raise ValueError("--baseline_model_path and --baseline_config_path go together")
    if seeds < 1 or shots < 1 or queries < 1:
        raise ValueError(f"--seeds, --shots and --queries must be >= 1, got {seeds}, {shots}, {queries}")
    if corpus is None and not voices:
        raise ValueError("--corpus or --voice is needed: nothing to evaluate on")
    if corpus is None and baseline_model_path is not None and baseline_lr is None:
        raise ValueError("without --corpus there are no dev speakers to choose the baseline's rate on: pass --baseline_lr")


def _protocol(model_path, config_path, corpus, baseline_model_path, baseline_config_path, baseline_lr, baseline_lrs,
              baseline_select_by, baseline_adapter_preset, held_out_speakers, shots, queries, steps, seeds,
              reference_step, lr, device, progress, work, voices, adapter_preset,
              fit_griffin_lim, listening, speakers="test") -> Dict[str, Any]:  # fmt: skip
    # evaluate() without the output files; ``work`` holds the phonemes and wavs of the evaluated clips.
    meta = Subject("meta", model_path, config_path, adapter_preset=adapter_preset, lr=lr, device=device,
                   phoneme_cache=work, fit_griffin_lim=fit_griffin_lim)  # fmt: skip
    samples = held_out_samples(corpus, held_out_speakers, seed=meta.loaded.config.maml.seed) if corpus else []
    dev, test = split_dev_test(s["speaker_name"] for s in samples)
    measured = test if speakers == "test" else dev  # the summary's speakers
    if corpus and not measured:
        raise ValueError(f"{corpus}: no held-out {speakers} speakers to measure on")
    voice_samples = voice_folder_samples(meta.loaded, voices, work)
    voice_names = list(dict.fromkeys(s["speaker_name"] for s in voice_samples))
    clash = sorted(set(voice_names) & set(dev + test))
    if clash:
        raise ValueError(f"--voice {clash[0]}: a held-out speaker of {corpus} has the same name")
    cache: Dict[str, np.ndarray] = {}
    test_episodes = make_trials(samples, measured, range(seeds), shots, queries, cache)
    voice_episodes = make_trials(voice_samples, voice_names, range(seeds), shots, queries, cache)
    results: Dict[str, Any] = {
        "protocol": {"shots": shots, "queries": queries, "seeds": list(range(seeds)), "steps": steps,
                     "reference_step": reference_step, "interval": INTERVAL,
                     "split": "tts_maml.corpus.speaker_split.split_dev_test: held-out speakers sorted, first half "
                              "(rounded down) dev, the rest test; ids that say their role (dev000, test000) "
                              "by it",
                     "measured_on": speakers},
        "corpus": os.path.abspath(corpus) if corpus else None,
        "speakers": {"dev": dev, "test": test, "voices": voice_names},
        "models": {"meta": {"model_path": os.path.abspath(model_path), **meta.describe()}},
        "bounds": with_vocoder_ceiling(floor_and_ceiling(test_episodes), vocoder_scores(test_episodes, meta.model.ap)),
    }  # fmt: skip
    voice_vocoder = {name: vocoder_scores([e for e in voice_episodes if e.speaker == name], meta.model.ap,
                                          unit=lambda e: e.seed) for name in voice_names}  # fmt: skip
    rows = meta.run(test_episodes + voice_episodes, steps, progress=progress, listen=listening.hears("meta"))
    del meta  # one model in memory at a time
    if baseline_model_path is not None:
        base = FineTuned(baseline_model_path, baseline_config_path, adapter_preset=baseline_adapter_preset,
                         device=device, phoneme_cache=work, fit_griffin_lim=fit_griffin_lim)  # fmt: skip
        if baseline_lr is None:
            if not dev:
                raise ValueError(f"{corpus}: no dev speakers to choose the baseline's learning rate on; "
                                 "pass --baseline_lr")  # fmt: skip
            dev_episodes = make_trials(samples, dev, [0], shots, queries, cache)
            choice = choose_baseline_lr(base, dev_episodes, baseline_lrs, steps[-1], baseline_select_by, progress)
        else:
            choice = {"chosen": float(baseline_lr), "given": True}
        rows += _baseline_rows(results, base, choice, baseline_model_path, test_episodes + voice_episodes, steps,
                               progress, listening.hears("baseline"))  # fmt: skip
    results["runs"] = rows
    # What Whisper heard of the real query clips (the error rates' ceiling), beside their sentences.
    results["real_clips"] = [{"speaker": e.speaker, "seed": e.seed, "texts": [c["text"] for c in e.query],
                              "heard": e.real_transcripts} for e in test_episodes + voice_episodes]  # fmt: skip
    test_set = set(measured)
    tested = [r for r in rows if r["speaker"] in test_set]
    results["summary"] = summarise(tested, steps)
    results["no_clips"] = no_clips_summary(tested)
    results["steps_to_match"] = steps_to_match(results["summary"], steps, reference_step)
    results["voices"] = {}
    for name in voice_names:
        voice = voice_summary(rows, name, steps, test_episodes, voice_episodes)
        results["voices"][name] = {**voice, "bounds": with_vocoder_ceiling(voice["bounds"], voice_vocoder[name])}
    results["warnings"] = _shortfalls(len(measured), seeds) if corpus else []
    for w in results["warnings"]:
        logger.warning(w)
    return results


def _baseline_rows(results: Dict[str, Any], base: FineTuned, choice: Dict[str, Any], model_path: str,
                   episodes: Sequence[Trial], steps: Sequence[int], progress: bool,
                   listen: Listen) -> List[Dict[str, Any]]:  # fmt: skip
    # The baseline fine-tuned at the chosen (or given) rate on the test episodes; its learning-rate
    # choice and description go into ``results``.
    results["baseline_lr_choice"] = choice
    results["models"]["baseline"] = {"model_path": os.path.abspath(model_path), **base.describe(),
                                     "optimizer": "adam", "lr": float(choice["chosen"]), "inner_lr": None}  # fmt: skip
    return base.at(choice["chosen"]).run(episodes, steps, progress=progress, listen=listen)


def _shortfalls(test_speakers: int, seeds: int) -> List[str]:
    notes = []
    if test_speakers < MIN_TEST_SPEAKERS:
        notes.append(f"only {test_speakers} test speakers (the protocol asks for at least {MIN_TEST_SPEAKERS})")
    if seeds < MIN_SEEDS:
        notes.append(f"only {seeds} seed{'s' if seeds != 1 else ''} (the protocol asks for at least {MIN_SEEDS})")
    return notes


def _ci(mean: float, low: float, high: float, digits: int = 3) -> str:
    if not math.isfinite(mean):
        return "n/a"
    if not (math.isfinite(low) and math.isfinite(high)):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def report_markdown(results: Dict[str, Any]) -> str:
    """The report: speaker sets, floor and ceiling, the baseline's learning-rate choice, one table
    per metric (mean [95% interval] per step and model), the steps-to-match ratio, and the voices
    of clips folders."""
    p = results["protocol"]
    test = results["speakers"][p.get("measured_on", "test")]  # the speakers the tables are of
    lines = ["# Adaptation to unseen test speakers" if test else "# Adaptation to voices of clips folders", ""]
    if p.get("measured_on") == "dev":  # every table below is of the dev speakers
        lines += ["**Measured on the dev speakers** (`--speakers dev`): for choices, not a test result; "
                  "\"test\" below means the speakers measured.", ""]  # fmt: skip
    if test:
        lines += [f"{p.get('measured_on', 'test').capitalize()} speakers ({len(test)}): {', '.join(test)}.  ",
                  f"Dev speakers ({len(results['speakers']['dev'])}, learning-rate choice only): "
                  f"{', '.join(results['speakers']['dev']) or 'none'}.  "]  # fmt: skip
    voices = results["speakers"].get("voices") or []
    if voices:
        lines.append(f"Voices of clips folders ({len(voices)}): {', '.join(voices)}.  ")
    lines += [f"{p['shots']} support clips and {p['queries']} unseen query sentences per speaker, seeds "
              f"{', '.join(map(str, p['seeds']))}" + (f"; each cell is the mean with its {p['interval']}." if test
                                                      else "."), ""]  # fmt: skip
    for w in results.get("warnings", []):
        lines += [f"**Warning:** {w}.", ""]
    if test:
        lines += ["The judges on real clips of the test speakers:", ""] + _bounds_table(results["bounds"], "another test speaker") + [""]
    lines += _model_lines(results)
    if test:
        for name in results["summary"]:
            lines += ["", f"### `{name}` by every judge", ""] + _glance_table(results["summary"][name],
                                                                            (results.get("no_clips") or {}).get(name),
                                                                            results["bounds"], p["steps"])  # fmt: skip
        for metric in METRICS:
            lines += ["", f"### {_title(metric)}", ""] + _metric_table(results["summary"], results.get("no_clips"),
                                                                        metric, p)  # fmt: skip
        lines += _match_lines(results.get("steps_to_match") or {})
    for name in voices:
        lines += _voice_lines(name, results["voices"][name], p)
    lines += ["", "*no clips*: the model as it is, before any clip is used (its own voice slot); step 0 is where "
              "adaptation starts (with `voice_start = \"d_vector\"` the slot already holds the support clips' "
              "d-vector). query_loss is Coqui's own loss of the backbone for every model (without the terms a "
              "task loss may add, such as `maml.global_variance_weight`, and on the clips as they are: no "
              "`maml.floor_noise`)."]
    lines += ["", "The judges (`tts_maml.judges`): speaker_similarity is the cosine of Resemblyzer embeddings (the "
              "encoder whose d-vectors condition the model and start its voice slot: not independent of that start), "
              "campplus_similarity the cosine of CAM++ embeddings (an encoder the model never saw), cer and wer "
              "Whisper tiny.en's character and word error rates against the sentence, on lower-case text without "
              "punctuation. Lower is better for cer, wer, query_loss, mcd and the F0 errors; higher for the two "
              "similarities. n/a: no value (F0 errors: no frame that pYIN calls voiced in both the real and the "
              "synthesised clip).", ""]
    if test:
        lines += [f"![{m}]({m}.png)" for m in METRICS]
    return "\n".join(lines) + "\n"


def _model_lines(results: Dict[str, Any]) -> List[str]:
    lines = []
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
    return lines


def _metric_table(summary: Dict[str, Any], before: Optional[Dict[str, Any]], metric: str,
                  protocol: Dict[str, Any]) -> List[str]:  # fmt: skip
    names = list(summary)
    lines = ["| step | " + " | ".join(names) + " |", "|---:|" + "---:|" * len(names)]
    if before:
        lines.append("| no clips | " + " | ".join(_ci(**_c(before[n][metric])) if n in before else "n/a"
                                                 for n in names) + " |")  # fmt: skip
    for i, step in enumerate(protocol["steps"]):
        lines.append(f"| {step} | " + " | ".join(_ci(**_c(summary[n][metric], i)) for n in names) + " |")
    return lines


def _match_lines(match: Dict[str, Any]) -> List[str]:
    if not match:
        return []
    lines = ["", "### Fine-tuning steps the baseline needs to match the meta-learned model", ""]
    for metric, m in match.items():
        if m["baseline_steps"] is None:
            said = f"not reached within {m['max_step']} steps (ratio > {m['max_step'] / m['reference_step']:g})"
        else:
            said = f"{m['baseline_steps']} steps (ratio {m['ratio']:g})"
        lines.append(f"- {metric}: meta at step {m['reference_step']} = {m['meta_at_reference']:.3f}; baseline: {said}")
    return lines + ["  (the first listed step count at which the baseline's mean is as good; an upper bound)"]


def _voice_lines(name: str, voice: Dict[str, Any], protocol: Dict[str, Any]) -> List[str]:
    lines = ["", f"## Voice `{name}` (a clips folder)", "",
             "Each cell: the mean over seeds (support/query draws) with its 95% Student t-interval over them. "
             "The judges on its real clips:", ""] + _bounds_table(voice["bounds"], "the test speakers")  # fmt: skip
    for model in voice["summary"]:
        lines += ["", f"### {name}: `{model}` by every judge", ""] + _glance_table(
            voice["summary"][model], voice["no_clips"].get(model), voice["bounds"], protocol["steps"])  # fmt: skip
    for metric in judges.METRICS + ("query_loss", "mcd"):
        lines += ["", f"### {name}: {_title(metric)}", ""] + _metric_table(voice["summary"], voice["no_clips"], metric,
                                                                            protocol)  # fmt: skip
    return lines


def _glance_table(summary: Dict[str, Any], before: Optional[Dict[str, Any]], bounds: Dict[str, Any],
                  steps: Sequence[int]) -> List[str]:  # fmt: skip
    # One model at a glance: a row per step (and no clips) between the judges' floor and ceilings,
    # a column per judge's metric and MCD.
    cols = judges.METRICS + ("mcd",)
    lines = ["| | " + " | ".join(_title(m) for m in cols) + " |", "|---|" + "---:|" * len(cols)]

    def row(label: str, cell: Callable[[str], str]) -> str:
        return f"| {label} | " + " | ".join(cell(m) for m in cols) + " |"

    bound = lambda key: (lambda m: _ci(**_c(bounds[m][key])) if m in bounds else "")  # noqa: E731
    lines.append(row("floor", bound("floor")))
    if before:
        lines.append(row("no clips", lambda m: _ci(**_c(before[m]))))
    lines += [row(f"step {step}", lambda m, i=i: _ci(**_c(summary[m], i))) for i, step in enumerate(steps)]
    lines += [row("Griffin-Lim ceiling", bound("vocoder_ceiling")), row("ceiling (real clips)", bound("ceiling"))]
    return lines


def _title(metric: str) -> str:
    if metric in judges.JUDGE_OF:
        better = "lower" if metric in judges.LOWER_IS_BETTER else "higher"
        return f"{metric} ({judges.JUDGE_OF[metric]}; {better} is better)"
    return metric


def _bounds_table(bounds: Dict[str, Any], rivals: str) -> List[str]:
    # One row per judge's metric: floor, Griffin-Lim ceiling and ceiling of the real query clips.
    lines = [f"| judge | floor (similarity: against {rivals}; error rates: another sentence) | Griffin-Lim ceiling "
             "(the real clips through the model's mel spectrogram and Griffin-Lim) | ceiling (the real clips) |",
             "|---|---:|---:|---:|"]  # fmt: skip
    for metric, b in bounds.items():
        lines.append(f"| {_title(metric)} | {_ci(**_c(b['floor']))} | {_ci(**_c(b['vocoder_ceiling']))} | "
                     f"{_ci(**_c(b['ceiling']))} |")  # fmt: skip
    return lines


def _c(d: Dict[str, Any], i: Optional[int] = None) -> Dict[str, float]:
    pick = (lambda k: d[k][i]) if i is not None else (lambda k: d[k])  # noqa: E731
    return {"mean": pick("mean"), "low": pick("low"), "high": pick("high")}
