import os

import pytest

from tts_maml.cli import DEMO_RECIPE, _demo_recipe, build_parser
from tts_maml.demo import run_demo


def test_the_train_demo_finds_the_repository_recipe(tmp_path, monkeypatch):
    # From the repository root (scripts/demo.sh), the recipe is named as a relative path, as in the report.
    monkeypatch.chdir(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    assert _demo_recipe() == DEMO_RECIPE
    # From elsewhere, the checkout the package lives in.
    monkeypatch.chdir(tmp_path)
    assert os.path.isfile(_demo_recipe()) and os.path.isabs(_demo_recipe())


def test_demo_flags():
    args = build_parser().parse_args(["demo", "--out", "o", "--train", "--", "--coqpit.epochs", "1"])
    assert (args.out, args.train, args.recipe_args) == ("o", True, ["--coqpit.epochs", "1"])


def test_the_train_demo_needs_a_recipe(tmp_path):
    with pytest.raises(ValueError, match="recipe"):
        run_demo(str(tmp_path / "out"), train=True)
