"""Put a meta-trained checkpoint into the package as a shipped model (``tts_maml/models/NAME/``).

Keeps what adaptation and Coqui's ``tts`` read (the weights, the config, the ``maml`` entry and the
step count), drops the optimiser state, and clears the machine paths from the config (run folder,
phoneme cache, dataset paths). Prints the size and sha256 that the model card must state; the card
itself (``MODEL_CARD.md``) is written by hand beside the files, with the commands and measurements.

    python scripts/ship_model.py --model_path RUN/best_model.pth --config_path RUN/config.json --name NAME
"""

import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tts_maml.checkpoint import CHECKPOINT_KEY, load_checkpoint  # noqa: E402
from tts_maml.config import load_config  # noqa: E402
from tts_maml.files import atomic_save, atomic_write_text, sha256_file
from tts_maml.shipped import MODELS_DIR  # noqa: E402

MAX_BYTES = 30 * 2**20
KEPT = ("model", "step", "epoch", CHECKPOINT_KEY)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model_path", required=True)
    parser.add_argument("--config_path", required=True)
    parser.add_argument("--name", required=True)
    args = parser.parse_args()

    config = load_config(args.config_path)
    config.run_name = args.name
    config.output_path = ""
    config.phoneme_cache_path = None
    for dataset in config.datasets:
        dataset.path = os.path.basename(os.path.normpath(dataset.path))
    checkpoint = load_checkpoint(args.model_path)
    state = {k: checkpoint[k] for k in KEPT if k in checkpoint}
    state["model"] = {k: v.float().contiguous() for k, v in state["model"].items()}
    state["config"] = config.to_dict()
    out = os.path.join(MODELS_DIR, args.name)
    os.makedirs(out, exist_ok=True)
    model_path = os.path.join(out, "model.pth")
    atomic_save(state, model_path)
    atomic_write_text(json.dumps(config.to_dict(), indent=4), os.path.join(out, "config.json"))
    size = os.path.getsize(model_path)
    if size > MAX_BYTES:
        os.remove(model_path)
        raise SystemExit(f"{model_path} would be {size / 2**20:.1f} MB, over the {MAX_BYTES / 2**20:.0f} MB limit")
    print(json.dumps({"model": model_path, "bytes": size, "sha256": sha256_file(model_path),
                      "weights": sum(t.numel() for t in state["model"].values())}, indent=2))  # fmt: skip
    torch.load(model_path, weights_only=False)  # it reads back


if __name__ == "__main__":
    main()
