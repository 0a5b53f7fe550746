"""The built-in offline corpus of the recipes, the demo and the tests: built once into a cache
folder (``$TTS_MAML_CACHE`` or ``~/.cache/tts_maml``) and reused.

Example:
    >>> from tts_maml.corpus.offline import corpus_cache_dir
    >>> corpus_cache_dir().endswith("tts_maml")
    True
"""

import json
import logging
import os
from typing import Optional, Sequence

from tts_maml.corpus.build import HELD_OUT_DIR, MANIFEST_FILE, build_corpus, build_family_corpus, family_voices

logger = logging.getLogger(__name__)

# The built-in corpus of the recipes and the demo: 20 speakers x 30 clips, 4 held-out speakers.
OFFLINE_SPEAKERS = 20
OFFLINE_UTTERANCES = 30
OFFLINE_HELD_OUT = 4
OFFLINE_SEED = 0
# The pre-training corpus: many more, cheaper speakers (a speaker space learnt from 20 speakers does
# not hold a new one), and 16 held-out speakers: 8 dev (choices) + 8 test (reported numbers).
PRETRAIN_CORPUS = {"speakers": 240, "utterances": 20, "held_out": 16, "seed": OFFLINE_SEED}
# The same sizes with the clear recipes (the say-the-words issue): what a base that speaks clearly trains on.
CLEAR_PRETRAIN_CORPUS = {**PRETRAIN_CORPUS, "clear": True}
# The voice families' corpora (RHVoice, MBROLA, flite; split by source speaker): pre-training's
# voices, to train on beside PRETRAIN_CORPUS; meta-training's, with dev and test voices held out.
FAMILY_CORPORA = {
    "pretrain": {"role": "pretrain", "held_out_roles": (), "utterances": 20, "seed": OFFLINE_SEED},
    "meta_train": {"role": "meta_train", "held_out_roles": ("dev", "test"), "utterances": 20, "seed": OFFLINE_SEED},
}



def corpus_cache_dir() -> str:
    """Where the offline corpus is cached: ``$TTS_MAML_CACHE`` or ``~/.cache/tts_maml``."""
    return os.environ.get("TTS_MAML_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "tts_maml")


def offline_corpus(
    speakers: int = OFFLINE_SPEAKERS,
    utterances: int = OFFLINE_UTTERANCES,
    held_out: int = OFFLINE_HELD_OUT,
    seed: int = OFFLINE_SEED,
    cache_dir: Optional[str] = None,
    clear: bool = False,
) -> str:
    """The offline corpus folder, built on first use (the build is atomic, so a cache folder
    with a ``corpus.json`` is complete); ``clear``: of the clear recipes (its name ends ``-clear``)."""
    name = f"corpus-{speakers}x{utterances}-h{held_out}-s{seed}" + ("-clear" if clear else "")
    root = os.path.join(cache_dir or corpus_cache_dir(), name)
    if os.path.isfile(os.path.join(root, MANIFEST_FILE)):
        logger.info("using the offline corpus in %s", root)
        return root
    logger.info("building the offline corpus into %s (once)", root)
    build_corpus(root, speakers=speakers, utterances=utterances, seed=seed, held_out=held_out, overwrite=True,
                 clear=clear)  # fmt: skip
    return root


def family_corpus(role: str, held_out_roles: Sequence[str] = (), utterances: int = 20, seed: int = OFFLINE_SEED,
                  cache_dir: Optional[str] = None) -> str:  # fmt: skip
    """A voice-family corpus folder (:func:`tts_maml.corpus.build.build_family_corpus`), built on first
    use into the cache, as :func:`offline_corpus` is, and again when its recorded recipes are no longer
    the families' (a voice added to a role); ``family_corpus(**FAMILY_CORPORA["meta_train"])``."""
    held = "".join(f"-{r}" for r in held_out_roles)
    root = os.path.join(cache_dir or corpus_cache_dir(), f"families-{role}{held}-u{utterances}-s{seed}")
    manifest = os.path.join(root, MANIFEST_FILE)
    if os.path.isfile(manifest):
        with open(manifest, encoding="utf-8") as f:
            built = json.load(f).get("recipes")
        if built == {spk: r.describe() for spk, _, r in family_voices(role, held_out_roles, seed)}:
            logger.info("using the family corpus in %s", root)
            return root
        logger.info("the family corpus in %s has other voices than the families now have: building it again", root)
    logger.info("building the family corpus into %s (once)", root)
    build_family_corpus(root, role, held_out_roles, utterances=utterances, seed=seed, overwrite=True)
    return root


def held_out_dir(corpus: str) -> str:
    """The held-out speakers' folder of an offline corpus."""
    return os.path.join(corpus, HELD_OUT_DIR)


def own_held_out(corpus: str) -> Optional[str]:
    """A corpus's own ``held_out/`` folder (the built-in corpora, a family corpus: its dev and test
    voices), or None (real VCTK: the recipes draw ``--held-out-speakers`` out of it instead)."""
    folder = held_out_dir(corpus)
    return folder if os.path.isdir(folder) else None
