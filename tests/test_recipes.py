"""Each recipe runs a couple of meta-steps through runpy with the tiny preset on a small corpus."""

import glob
import json
import os
import runpy
import sys

import pytest
import soundfile as sf

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEPS = ["--coqpit.epochs", "1", "--coqpit.maml.meta_steps_per_epoch", "2", "--coqpit.maml.meta_batch_size", "2",
         "--coqpit.maml.n_support", "2", "--coqpit.maml.n_query", "2", "--coqpit.maml.inner_steps", "1"]  # fmt: skip


def run_recipe(path, args, monkeypatch):
    monkeypatch.setattr(sys, "argv", [path, *args, *STEPS])
    runpy.run_path(path, run_name="__main__")


def run_folder(output):
    (folder,) = [d for d in glob.glob(os.path.join(output, "*")) if os.path.isfile(os.path.join(d, "config.json"))]
    return folder


@pytest.mark.slow
@pytest.mark.parametrize("name", ["vctk/meta_train_vits.py", "vctk/meta_train_glow_tts.py", "custom/meta_train_vits.py"])
def test_recipe_runs_on_a_small_corpus(name, adapt_corpus, tmp_path, monkeypatch):
    data = adapt_corpus.out if name.startswith("vctk") else os.path.join(adapt_corpus.out, "wav48_silence_trimmed")
    out = str(tmp_path / "output")
    run_recipe(os.path.join(ROOT, "recipes", name), ["--data-path", data, "--size", "tiny", "--held-out-speakers", "2",
                                                    "--output-path", out], monkeypatch)  # fmt: skip
    folder = run_folder(out)
    assert os.path.isfile(os.path.join(folder, "best_model.pth"))


@pytest.mark.slow
def test_libritts_recipe(adapt_corpus, tmp_path, monkeypatch):
    # A LibriTTS-layout copy of the small corpus: <spk>/<chapter>/<spk>_<chapter>_<utt>.wav at 24 kHz + trans.tsv
    import librosa

    root = tmp_path / "LibriTTS"
    for flac in sorted(glob.glob(os.path.join(adapt_corpus.out, "wav48_silence_trimmed", "*", "*.flac"))):
        spk = "1" + os.path.basename(flac)[2:5]
        utt = os.path.basename(flac)[6:9]
        folder = root / spk / "100"
        folder.mkdir(parents=True, exist_ok=True)
        wav, rate = sf.read(flac)
        sf.write(folder / f"{spk}_100_000{utt}_000000.wav", librosa.resample(wav, orig_sr=rate, target_sr=24000), 24000)
        text = open(flac.replace("wav48_silence_trimmed", "txt").replace("_mic1.flac", ".txt")).read().strip()
        with open(folder / f"{spk}_100.trans.tsv", "a", encoding="utf-8") as f:
            f.write(f"{spk}_100_000{utt}_000000\t{text}\t{text}\n")
    out = str(tmp_path / "output")
    run_recipe(os.path.join(ROOT, "recipes", "libritts", "meta_train_vits.py"),
               ["--data-path", str(root), "--size", "tiny", "--held-out-speakers", "2", "--output-path", out],
               monkeypatch)  # fmt: skip
    folder = run_folder(out)
    import json

    assert json.load(open(os.path.join(folder, "config.json")))["audio"]["sample_rate"] == 24000


def test_recipes_are_not_a_package():
    assert not glob.glob(os.path.join(ROOT, "recipes", "**", "__init__.py"), recursive=True)


def test_each_recipe_starts_with_the_command_that_runs_it():
    for path in glob.glob(os.path.join(ROOT, "recipes", "*", "*.py")):
        head = open(path, encoding="utf-8").read().splitlines()[:6]
        rel = os.path.relpath(path, ROOT)
        assert any(f"python {rel}" in line for line in head), rel


@pytest.mark.slow
def test_pretrain_recipe_then_fine_tuning_with_drawn_d_vectors(tmp_path, monkeypatch):
    import torch

    from tts_maml.corpus.build import build_corpus

    # The d-vector projection keeps 96 directions, so pre-training needs at least 96 embedded clips.
    corpus = build_corpus(str(tmp_path / "corpus"), speakers=12, utterances=8, seed=5, held_out=1, workers=2,
                          progress=False)  # fmt: skip
    recipe = os.path.join(ROOT, "recipes", "vctk", "pretrain_glow_tts.py")
    out = str(tmp_path / "output")
    common = ["--data-path", corpus.out, "--output-path", out, "--coqpit.batch_size", "8",
              "--coqpit.test_sentences", "[]", "--coqpit.print_step", "1"]  # fmt: skip
    # A second VCTK-layout folder (two of the speakers under new names) is trained on beside the first.
    extra = tmp_path / "extra"
    for old, new in (("sp000", "xa000"), ("sp001", "xa001")):
        for kind, suffix in (("wav48_silence_trimmed", "_mic1.flac"), ("txt", ".txt")):
            (extra / kind / new).mkdir(parents=True)
            for path in glob.glob(os.path.join(corpus.out, kind, old, f"*{suffix}")):
                name = os.path.basename(path).replace(old, new)
                (extra / kind / new / name).write_bytes(open(path, "rb").read())
    monkeypatch.setattr(sys, "argv", [recipe, *common, "--coqpit.epochs", "1", "--coqpit.run_name", "first",
                                      "--extra-data-path", str(extra)])  # fmt: skip
    runpy.run_path(recipe, run_name="__main__")
    (first,) = glob.glob(os.path.join(out, "first-*"))
    with open(os.path.join(out, "d_vectors", "d_vectors.json"), encoding="utf-8") as f:
        conditioned = json.load(f)
    assert sum("xa000" in name for name in conditioned) == 8 and len(conditioned) == 12 * 8 + 2 * 8
    with open(os.path.join(first, "config.json"), encoding="utf-8") as f:
        assert [d["path"] for d in json.load(f)["datasets"]] == [corpus.out, str(extra)]
    # A folder whose speakers are already in the training data is refused before anything trains.
    monkeypatch.setattr(sys, "argv", [recipe, *common, "--extra-data-path", corpus.out])
    with pytest.raises(SystemExit, match="sp000.*already in the training data"):
        runpy.run_path(recipe, run_name="__main__")
    last = torch.load(max(glob.glob(os.path.join(first, "checkpoint_*.pth")), key=os.path.getmtime),
                      map_location="cpu", weights_only=False)  # fmt: skip
    assert last["step"] == torch.load(os.path.join(first, "best_model.pth"), weights_only=False)["step"] > 0
    # On from its last weights, each clip conditioned on the mean of 2 of its speaker's clips, with the
    # global-variance term and the mel floor dequantised.
    args = [recipe, *common, "--coqpit.epochs", "2", "--coqpit.run_name", "second", "--d-vector-clips", "2",
            "--from-checkpoint", os.path.join(first, f"checkpoint_{last['step']}.pth"), "--global-variance-weight", "1",
            "--floor-noise", "0.5", "--extra-data-path", str(extra)]  # fmt: skip
    monkeypatch.setattr(sys, "argv", args)
    runpy.run_path(recipe, run_name="__main__")
    (second,) = glob.glob(os.path.join(out, "second-*"))
    with open(os.path.join(second, "config.json"), encoding="utf-8") as f:
        config = json.load(f)
    assert config["lr_scheduler"] is None and config["d_vector_file"].endswith(os.path.join("d_vectors_mean2", "d_vectors.json"))
    final = torch.load(os.path.join(second, f"checkpoint_{2 * last['step']}.pth"), map_location="cpu", weights_only=False)
    assert final["epoch"] == 1  # the second epoch's weights are saved whatever its mean loss
