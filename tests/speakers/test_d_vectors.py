"""tts_maml.speakers.d_vectors: the projection, Coqui's d-vector file, speaker means."""

import json
import os

import numpy as np
import pytest

from tts_maml.speakers.d_vectors import DVectorProjection, prepare_d_vectors, voice_vector


def test_projection_keeps_the_principal_directions_and_round_trips():
    rng = np.random.default_rng(0)
    # 3 strong directions + small noise in 20 dimensions
    basis = rng.normal(size=(3, 20))
    x = rng.normal(size=(200, 3)) @ basis * 5 + rng.normal(size=(200, 20)) * 0.01
    p = DVectorProjection.fit(x, dim=3)
    assert p.dim == 3 and p.explained > 0.999
    again = DVectorProjection.from_dict(json.loads(json.dumps(p.to_dict())))
    assert np.allclose(again.project(x[:4]), p.project(x[:4]))
    assert p.project(x[0]).shape == (3,)


def test_projection_refuses_bad_input_by_name():
    with pytest.raises(ValueError, match="cannot fit"):
        DVectorProjection.fit(np.zeros((4, 8)), dim=5)
    with pytest.raises(ValueError, match="missing field 'components'"):
        DVectorProjection.from_dict({"encoder": "resemblyzer", "mean": [0.0]})
    with pytest.raises(ValueError, match="encoder 'other'"):
        DVectorProjection.from_dict({"encoder": "other", "mean": [0.0], "components": [[0.0]]})


def test_prepare_d_vectors_writes_coqui_files_with_one_vector_per_speaker(small_samples, tmp_path):
    paths = prepare_d_vectors(small_samples, str(tmp_path), dim=4)
    with open(paths["d_vector_file"], encoding="utf-8") as f:
        mapping = json.load(f)
    assert sorted(mapping) == sorted(s["audio_unique_name"] for s in small_samples)
    by_speaker = {}
    for s in small_samples:
        entry = mapping[s["audio_unique_name"]]
        assert entry["name"] == s["speaker_name"] and len(entry["embedding"]) == 4
        by_speaker.setdefault(s["speaker_name"], set()).add(tuple(entry["embedding"]))
    assert all(len(v) == 1 for v in by_speaker.values()) and len(by_speaker) == 3
    # Coqui's SpeakerManager reads the file as it is.
    from TTS.tts.utils.speakers import SpeakerManager

    manager = SpeakerManager(d_vectors_file_path=paths["d_vector_file"])
    assert sorted(manager.speaker_names) == sorted(by_speaker)
    # A second call reuses the files.
    stamp = os.path.getmtime(paths["d_vector_file"])
    assert prepare_d_vectors(small_samples, str(tmp_path), dim=4) == paths
    assert os.path.getmtime(paths["d_vector_file"]) == stamp
    # A voice's vector is its clips' projected mean embedding.
    projection = DVectorProjection.load(paths["projection"])
    clips = [s["audio_file"] for s in small_samples[:2]]
    assert voice_vector(clips, projection).shape == (4,)


def test_d_vectors_drawn_per_clip_spread_around_the_speaker_and_share_the_projection(small_samples, tmp_path):
    from tts_maml.speakers.d_vectors import d_vector_mapping, speaker_embeddings

    one = prepare_d_vectors(small_samples, str(tmp_path / "one"), dim=4)
    drawn = prepare_d_vectors(small_samples, str(tmp_path / "drawn"), dim=4, clips_per_vector=2)
    projection = DVectorProjection.load(drawn["projection"])
    assert np.allclose(projection.components, DVectorProjection.load(one["projection"]).components)
    with open(drawn["d_vector_file"], encoding="utf-8") as f:
        mapping = json.load(f)
    embeddings = speaker_embeddings(small_samples, progress=False)
    for s in small_samples:
        clips = embeddings[s["speaker_name"]]
        vector = np.asarray(mapping[s["audio_unique_name"]]["embedding"])
        # the projected mean of 2 of its speaker's clips
        pairs = [projection.project(clips[[i, j]].mean(axis=0)) for i in range(len(clips)) for j in range(i + 1, len(clips))]
        assert min(np.abs(p - vector).max() for p in pairs) < 1e-5
    per_speaker = {}
    for s in small_samples:
        per_speaker.setdefault(s["speaker_name"], set()).add(tuple(mapping[s["audio_unique_name"]]["embedding"]))
    assert all(len(v) > 1 for v in per_speaker.values())
    # the draws depend on the sample's name, not on the order of the samples
    assert d_vector_mapping(small_samples[::-1], embeddings, projection, 2) == mapping
    # k >= a speaker's clips: the speaker's mean, as without drawing
    assert d_vector_mapping(small_samples, embeddings, projection, 99) == d_vector_mapping(small_samples, embeddings, projection)
    with pytest.raises(ValueError, match="clips_per_vector"):
        d_vector_mapping(small_samples, embeddings, projection, 0)


def test_prepare_d_vectors_makes_the_files_again_for_other_settings(small_samples, tmp_path):
    prepare_d_vectors(small_samples, str(tmp_path), dim=4)
    paths = prepare_d_vectors(small_samples, str(tmp_path), dim=4, clips_per_vector=2)
    with open(paths["d_vector_file"], encoding="utf-8") as f:
        mapping = json.load(f)
    vectors = {tuple(e["embedding"]) for e in mapping.values()}
    assert len(vectors) > 3  # no longer one per speaker
    with open(os.path.join(str(tmp_path), "d_vector_settings.json"), encoding="utf-8") as f:
        assert json.load(f)["clips_per_vector"] == 2
