import json
import os

from tts_maml.corpus import offline


def test_corpora_are_cached_under_names_that_say_what_they_hold(tmp_path, monkeypatch):
    built = []
    monkeypatch.setattr(offline, "build_corpus", lambda root, **kw: built.append((root, kw)))
    monkeypatch.setattr(offline, "build_family_corpus", lambda root, *a, **kw: built.append((root, a)))
    offline.offline_corpus(**offline.CLEAR_PRETRAIN_CORPUS, cache_dir=str(tmp_path))
    offline.family_corpus(**offline.FAMILY_CORPORA["meta_train"], cache_dir=str(tmp_path))
    assert os.path.basename(built[0][0]) == "corpus-240x20-h16-s0-clear" and built[0][1]["clear"] is True
    assert os.path.basename(built[1][0]) == "families-meta_train-dev-test-u20-s0" and built[1][1] == ("meta_train", ("dev", "test"))
    # A corpus whose manifest records the families' voices is reused; one of other voices is built again.
    folder = tmp_path / "families-pretrain-u20-s0"
    folder.mkdir()
    recipes = {spk: r.describe() for spk, _, r in offline.family_voices("pretrain", (), 0)}
    (folder / "corpus.json").write_text(json.dumps({"recipes": recipes}))
    assert offline.family_corpus(**offline.FAMILY_CORPORA["pretrain"], cache_dir=str(tmp_path)) == str(folder)
    assert len(built) == 2
    (folder / "corpus.json").write_text(json.dumps({"recipes": dict(list(recipes.items())[:-1])}))
    offline.family_corpus(**offline.FAMILY_CORPORA["pretrain"], cache_dir=str(tmp_path))
    assert len(built) == 3 and built[2][0] == str(folder)


def test_own_held_out_is_the_corpus_folder_when_there_is_one(tmp_path):
    assert offline.own_held_out(str(tmp_path)) is None  # real VCTK: the recipes draw speakers instead
    (tmp_path / "held_out").mkdir()
    assert offline.own_held_out(str(tmp_path)) == str(tmp_path / "held_out")
