import numpy as np
import pytest
import soundfile as sf
import torch

from tts_maml.adapt.adaptation import adapt_with_early_stopping
from tts_maml.backbones import VitsBackbone
from tts_maml.evaluate.baseline import FineTuned
from tts_maml.evaluate.subject import Subject
from tts_maml.evaluate.trials import Trial


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """An untrained tiny VITS (checkpoint, config.json), an episode of 3 support clips, a phoneme cache."""
    folder = tmp_path_factory.mktemp("tiny_eval")
    config = VitsBackbone.tiny_config(phoneme_cache_path=str(folder / "phonemes"))
    torch.manual_seed(0)
    torch.save({"model": VitsBackbone(config).build_model().state_dict()}, folder / "model.pth")
    config.save_json(str(folder / "config.json"))
    t = np.arange(22050) / 22050
    support = []
    for i, text in enumerate(["A first sentence.", "The second one.", "And a third."]):
        path = str(folder / f"c{i}.wav")
        sf.write(path, (0.3 * np.sin(2 * np.pi * (150 + 20 * i) * t)).astype(np.float32), 22050)
        support.append({"text": text, "audio_file": path, "speaker_name": "sp", "root_path": str(folder),
                        "audio_unique_name": f"sp#c{i}", "language": ""})  # fmt: skip
    episode = Trial(seed=0, speaker="sp", support=support, query=[], centroids={}, reals=[], real_f0=[],
                    real_embeddings=[])  # fmt: skip
    return str(folder / "model.pth"), str(folder / "config.json"), episode, str(folder / "cache")


def test_evaluation_adapts_by_the_step_users_run(tiny):
    """The weights evaluated at step k are those `tts-maml adapt` exports after k steps."""
    model_path, config_path, episode, cache = tiny
    meta = Subject("meta", model_path, config_path, phoneme_cache=cache)
    kept = meta.trajectory(episode, [0, 1, 3])
    assert set(kept) == {0, 1, 3} and all(kept[s] is not None for s in kept)
    support = meta.loaded.backbone.make_batch(meta.model, episode.support)
    users = adapt_with_early_stopping(meta.loaded, support, 3, progress=False)
    assert users.best_step == 3 and all(torch.equal(kept[3][n], users.fast[n]) for n in users.fast)
    start = meta.loaded.learner.start_weights(support)
    assert all(torch.equal(kept[0][n], start[n]) for n in start)
    assert meta.describe()["inner_lr"] == meta.loaded.config.maml.inner_lr


def test_the_baseline_fine_tunes_from_where_adapt_starts(tiny):
    model_path, config_path, episode, cache = tiny
    base = FineTuned(model_path, config_path, phoneme_cache=cache)
    assert base.name == "baseline"
    with pytest.raises(ValueError, match="learning rate is not set"):
        base.trajectory(episode, [0, 1])
    tuned = base.at(1e-2)
    assert tuned.adam_lr == 1e-2 and base.adam_lr is None and tuned.model is base.model
    kept = tuned.trajectory(episode, [0, 2])
    meta = Subject("meta", model_path, config_path, phoneme_cache=cache).trajectory(episode, [0, 2])
    assert all(torch.equal(kept[0][n], meta[0][n]) for n in meta[0])  # the same start
    assert any(not torch.equal(kept[2][n], meta[2][n]) for n in meta[2])  # Adam, not the inner loop
