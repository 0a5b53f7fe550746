"""Conversion: a Coqui multi-speaker checkpoint → a tts_maml model with one voice slot.

The second half of pre-training (:mod:`tts_maml.training.pretraining`). Meta-training and adaptation work on
a model whose speaker table has one row, the voice slot. A multi-speaker Coqui model (one trained by
``recipes/vctk/pretrain_glow_tts.py``, or one a user already has, e.g. their own VCTK VITS) becomes
one by keeping every weight and collapsing its speakers into that slot:

- a speaker table (``use_speaker_embedding``): the slot is the mean of the rows;
- d-vectors (``use_d_vector_file``): the slot is the mean of the speakers' d-vectors, and when the
  d-vectors' projection is given (:class:`tts_maml.speakers.d_vectors.DVectorProjection`), the config
  records it with ``maml.voice_start = "d_vector"``: every new voice then starts from the projected
  d-vector of its own clips.

Glow-TTS L2-normalises both a table row and a d-vector before use, so the converted model with a
speaker's vector in its slot computes exactly what the original computes for that speaker. VITS
normalises d-vectors only, so the slot holds normalised vectors.

Example:
    >>> from tts_maml.training.conversion import convert
    >>> summary = convert("run/checkpoint_9000.pth", "run/config.json", "base/")  # doctest: +SKIP
    >>> summary["speakers"]  # doctest: +SKIP
    240
"""

import json
import logging
import os
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

import numpy as np
import torch
import torch.nn.functional as F
from TTS.config import get_from_config_or_model_args

from tts_maml.backbones import VOICE_NAME, get_backbone
from tts_maml.checkpoint import load_checkpoint
from tts_maml.config import load_config
from tts_maml.files import atomic_save, atomic_write_text, check_output_folder, sha256_file
from tts_maml.speakers.d_vectors import DVectorProjection

logger = logging.getLogger(__name__)

SLOT = "emb_g.weight"
CONVERSION_KEY = "conversion"
OUTPUT_FILES = ("model.pth", "config.json")


def _set(config: Any, name: str, value: Any) -> None:
    """Set a field in the config and in its ``model_args`` (VITS keeps the speaker fields there)."""
    if name in config:
        setattr(config, name, value)
    if "model_args" in config and name in config.model_args:
        setattr(config.model_args, name, value)


def speaker_d_vectors_from_file(path: str) -> Dict[str, np.ndarray]:
    """Each speaker's mean vector in a Coqui d-vector file (JSON or ``.pth``)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"d-vector file {path} does not exist (pass --d_vector_file)")
    if path.endswith(".json"):
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    else:
        data = torch.load(path, map_location="cpu", weights_only=False)
    by_speaker: Dict[str, List[Any]] = {}
    for key, entry in data.items():
        if not isinstance(entry, dict) or "name" not in entry or "embedding" not in entry:
            raise ValueError(f"{path}: entry {key!r} is not a Coqui d-vector entry (name, embedding)")
        by_speaker.setdefault(entry["name"], []).append(np.asarray(entry["embedding"], dtype=np.float32))
    if not by_speaker:
        raise ValueError(f"{path}: no d-vectors")
    return {spk: np.mean(v, axis=0) for spk, v in sorted(by_speaker.items())}


def _slot_from_table(table: torch.Tensor) -> torch.Tensor:
    return table.float().mean(dim=0, keepdim=True)


def _slot_from_d_vectors(vectors: Dict[str, np.ndarray]) -> torch.Tensor:
    # Each speaker's vector as the model sees it (normalised), then their mean, normalised again:
    # the centre of the speakers on the sphere the conditioning lives on.
    stacked = F.normalize(torch.tensor(np.stack(list(vectors.values()))), dim=1)
    return F.normalize(stacked.mean(dim=0, keepdim=True), dim=1)


def _misfits(model: torch.nn.Module, state: Dict[str, torch.Tensor]) -> List[str]:
    own = model.state_dict()
    problems = [f"{n}: missing" for n in own if n not in state]
    problems += [
        f"{n}: shape {tuple(state[n].shape)} in the checkpoint, {tuple(t.shape)} in the converted model"
        for n, t in own.items()
        if n in state and tuple(state[n].shape) != tuple(t.shape)
    ]
    problems += [f"{n}: not part of the converted model" for n in state if n not in own]
    return problems


@dataclass
class _VoiceSlot:
    """The source's speakers collapsed into one row, and how new voices start."""

    vector: torch.Tensor
    kind: str
    speakers: int
    voice_start: str = "learned"
    projection: Optional[Dict[str, Any]] = None


def _slot_of_d_vectors(config: Any, config_path: str, d_vector_file: Optional[str],
                       projection: Optional[str]) -> _VoiceSlot:  # fmt: skip
    """A d-vector model's slot: the speakers' mean d-vector, with the projection when there is one."""
    d_vector_file = d_vector_file or get_from_config_or_model_args(config, "d_vector_file")
    if isinstance(d_vector_file, list):
        d_vector_file = d_vector_file[0]
    if not d_vector_file:
        raise ValueError(f"{config_path}: use_d_vector_file is set but no d_vector_file is named (pass --d_vector_file)")
    vectors = speaker_d_vectors_from_file(d_vector_file)
    width = get_from_config_or_model_args(config, "d_vector_dim")
    slot = _VoiceSlot(_slot_from_d_vectors(vectors), "d_vectors", len(vectors))
    if slot.vector.shape[1] != width:
        raise ValueError(f"{d_vector_file}: d-vectors have {slot.vector.shape[1]} values, config.d_vector_dim is {width}")
    projection = projection or os.path.join(os.path.dirname(d_vector_file), "d_vector_projection.json")
    if os.path.isfile(projection):
        p = DVectorProjection.load(projection)
        if p.dim != width:
            raise ValueError(f"{projection}: projects to {p.dim} values, the d-vectors have {width}")
        slot.voice_start, slot.projection = "d_vector", p.to_dict()
    else:
        logger.info("no d-vector projection at %s: new voices start from the mean voice", projection)
    return slot


def _voice_slot(config: Any, config_path: str, model_path: str, state: Dict[str, torch.Tensor],
                d_vector_file: Optional[str], projection: Optional[str]) -> _VoiceSlot:  # fmt: skip
    """The slot of a d-vector model or of a speaker-table model; anything else is refused."""
    if get_from_config_or_model_args(config, "use_d_vector_file"):
        return _slot_of_d_vectors(config, config_path, d_vector_file, projection)
    if get_from_config_or_model_args(config, "use_speaker_embedding"):
        if SLOT not in state:
            raise ValueError(f"{model_path}: use_speaker_embedding is set but the checkpoint has no {SLOT!r}")
        return _VoiceSlot(_slot_from_table(state[SLOT]), "speaker_table", int(state[SLOT].shape[0]))
    raise ValueError(f"{config_path}: not a multi-speaker model (neither use_speaker_embedding nor use_d_vector_file)")


def _one_slot_config(config: Any, config_path: str, slot: _VoiceSlot) -> None:
    """Turn ``config`` into the one-voice-slot config: a speaker table of one row, nothing else changed."""
    _set(config, "use_d_vector_file", False)
    _set(config, "d_vector_file", None)
    _set(config, "speakers_file", None)
    _set(config, "num_speakers", 1)
    _set(config, "use_speaker_embedding", True)
    _set(config, "data_dep_init_steps", 0)  # Glow-TTS: tts_maml keeps ActNorm locked
    config.speakers = [VOICE_NAME]
    width = slot.vector.shape[1]
    if config.model == "vits":
        _set(config, "speaker_embedding_channels", int(width))
    elif config.hidden_channels_enc != width:
        raise ValueError(
            f"{config_path}: the voice slot of a Glow-TTS has hidden_channels_enc = {config.hidden_channels_enc} "
            f"values, the speakers' vectors have {width} (d_vector_dim must equal hidden_channels_enc)"
        )
    config.maml.voice_start = slot.voice_start
    config.maml.d_vector_projection = slot.projection


def _task_loss_terms(config: Any, config_path: str, **terms: float) -> None:
    """Write the pre-training loss terms into ``config.maml``; refuses them for a model other than Glow-TTS."""
    given = {name: value for name, value in terms.items() if value}
    if given and config.model != "glow_tts":
        raise ValueError(f"{config_path}: {', '.join(sorted(given))} are Glow-TTS terms; this is a {config.model} model")
    for name, value in terms.items():
        setattr(config.maml, name, float(value))
    config.maml.check_values()


def _converted_model(config: Any, model_path: str, state: Dict[str, torch.Tensor], slot: _VoiceSlot) -> torch.nn.Module:
    """The one-voice-slot model holding the checkpoint's weights and the slot; raises naming every misfit."""
    model = get_backbone(config).build_model()
    state[SLOT] = slot.vector.to(next(iter(model.state_dict().values())).dtype)
    problems = _misfits(model, state)
    if problems:
        raise ValueError(f"{model_path}: {len(problems)} tensor(s) do not fit the converted model:\n  " + "\n  ".join(problems))
    model.load_state_dict(state)
    return model


def convert(
    model_path: str,
    config_path: str,
    out: str,
    d_vector_file: Optional[str] = None,
    projection: Optional[str] = None,
    overwrite: bool = False,
    global_variance_weight: float = 0.0,
    floor_noise: float = 0.0,
) -> Dict[str, Any]:
    """Convert a Coqui multi-speaker checkpoint into a one-voice-slot tts_maml model in ``out``
    (``model.pth`` + ``config.json``, each written atomically).

    Args:
        model_path: the Coqui checkpoint (a Glow-TTS or VITS with a speaker table or d-vectors).
        config_path: its ``config.json``.
        out: output folder (must be empty unless ``overwrite``).
        d_vector_file: a d-vector model's d-vector file (default: the config's ``d_vector_file``).
        projection: the d-vectors' :class:`~tts_maml.speakers.d_vectors.DVectorProjection` JSON (default:
            ``d_vector_projection.json`` beside the d-vector file, if there). With it, new voices
            start from their clips' d-vector.
        overwrite: replace the files of a non-empty ``out``.
        global_variance_weight, floor_noise: Glow-TTS only. The terms the checkpoint was pre-trained
            with (``--global-variance-weight``, ``--floor-noise``), written into ``maml`` so that the
            task loss of meta-training and adaptation sees the data and loss pre-training saw.

    Returns:
        A summary: source kind, number of speakers, the voice start, the output files.

    Raises:
        ValueError: naming every tensor of the checkpoint that does not fit the converted model.
    """
    check_output_folder(out, overwrite)
    config = load_config(config_path)
    state = dict(load_checkpoint(model_path)["model"])
    slot = _voice_slot(config, config_path, model_path, state, d_vector_file, projection)
    _one_slot_config(config, config_path, slot)
    _task_loss_terms(config, config_path, global_variance_weight=global_variance_weight, floor_noise=floor_noise)
    model = _converted_model(config, model_path, state, slot)

    os.makedirs(out, exist_ok=True)
    files = {f: os.path.join(out, f) for f in OUTPUT_FILES}
    summary = {
        "source": os.path.abspath(model_path),
        "source_sha256": sha256_file(model_path),
        "kind": slot.kind,
        "speakers": slot.speakers,
        "voice_start": slot.voice_start,
        "weights": sum(t.numel() for t in model.state_dict().values()),
    }
    atomic_save({"model": model.state_dict(), "config": config.to_dict(), "step": 0, "epoch": 0,
                 CONVERSION_KEY: summary}, files["model.pth"])  # fmt: skip
    atomic_write_text(json.dumps(config.to_dict(), indent=4), files["config.json"])
    logger.info("converted %s (%s, %d speakers) into a one-voice-slot %s model in %s; voices start from %s",
                model_path, slot.kind, slot.speakers, config.model, out,
                "their clips' d-vector" if slot.voice_start == "d_vector" else "the mean voice")  # fmt: skip
    return {**summary, "files": files}
