"""The listening page: ``index.html`` beside a ``report.md``, to hear what the numbers measure.

Per voice: the sentence, one ``<audio>`` player per clip (the real clip, the base, the adapted
voice...), the spectrograms, and the judges' numbers with their floor and ceiling. The page is
self-contained: relative paths to files in its own folder, inline CSS, no script and nothing
fetched from the network, so it opens from disk (``file://``) in any browser. ``make demo`` and
``tts-maml evaluate`` write one.

Example:
    >>> from tts_maml.listening_page import Clip, Voice, listening_page
    >>> voice = Voice("sp248", "Did Judy carry the yacht slowly?",
    ...               [Clip("real", "sp248/real.wav"), Clip("adapted", "sp248/adapted.wav")],
    ...               columns=["floor", "real", "adapted", "ceiling"],
    ...               rows={"cer": [0.71, 0.90, 0.77, 0.90]})
    >>> "<audio" in listening_page("demo", "<p>Two voices.</p>", [voice])
    True
"""

import html
import math
import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Union

from tts_maml.files import atomic_write_text

Number = Union[float, int, None]

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 70em; margin: 2em auto; padding: 0 1em; color: #222; }
section { border-top: 1px solid #ccc; padding-top: 1em; margin-top: 1.5em; }
.sentence { font-style: italic; }
.clips { display: flex; flex-wrap: wrap; gap: 1em; }
figure { margin: 0; }
figcaption { font-size: 0.9em; margin-bottom: 0.3em; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
img { max-width: 100%; }
.note { font-size: 0.9em; color: #555; }
"""


@dataclass
class Clip:
    """One player: its ``label`` and the ``path`` of its audio file, relative to the page."""

    label: str
    path: str


@dataclass
class Voice:
    """One voice on the page.

    Args:
        name: the voice's name (a heading).
        sentence: the sentence its clips say.
        clips: the players, in order.
        columns: the numbers table's column headings (e.g. floor, base, adapted, ceiling).
        rows: per measure (a row heading), one number per column (None: not measured).
        image: a spectrogram picture's path, relative to the page (None: no picture).
        note: one line under the table (what the columns mean), as plain text.
    """

    name: str
    sentence: str
    clips: List[Clip]
    columns: Sequence[str] = ()
    rows: Dict[str, Sequence[Number]] = field(default_factory=dict)
    image: Optional[str] = None
    note: str = ""


def _number(value: Number) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _voice_html(voice: Voice) -> str:
    e = html.escape
    players = "\n".join(
        f'<figure><figcaption>{e(c.label)}</figcaption><audio controls preload="metadata" src="{e(c.path)}"></audio>'
        "</figure>"
        for c in voice.clips
    )  # fmt: skip
    table = ""
    if voice.rows:
        head = "".join(f"<th>{e(c)}</th>" for c in ("", *voice.columns))
        body = "\n".join(f"<tr><td>{e(name)}</td>" + "".join(f"<td>{_number(v)}</td>" for v in values) + "</tr>"
                         for name, values in voice.rows.items())  # fmt: skip
        table = f"<table><thead><tr>{head}</tr></thead><tbody>\n{body}\n</tbody></table>"
    image = f'<img src="{e(voice.image)}" alt="spectrograms of {e(voice.name)}">' if voice.image else ""
    note = f'<p class="note">{e(voice.note)}</p>' if voice.note else ""
    return f"""<section>
<h2>{e(voice.name)}</h2>
<p class="sentence">“{e(voice.sentence)}”</p>
<div class="clips">
{players}
</div>
{table}
{note}
{image}
</section>"""


def listening_page(title: str, intro_html: str, voices: Sequence[Voice]) -> str:
    """The page's HTML: ``title``, the ``intro_html`` paragraph(s) (already HTML), one section per voice."""
    sections = "\n".join(_voice_html(v) for v in voices)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{html.escape(title)}</title>
<style>{STYLE}</style>
</head>
<body>
<h1>{html.escape(title)}</h1>
{intro_html}
{sections}
</body>
</html>
"""


def write_listening_page(folder: str, title: str, intro_html: str, voices: Sequence[Voice]) -> str:
    """Write ``folder/index.html`` (atomically) and return its path. Raises FileNotFoundError naming
    the first clip or picture that is not in ``folder``: a page whose players cannot play is a defect."""
    for voice in voices:
        for path in [c.path for c in voice.clips] + ([voice.image] if voice.image else []):
            if os.path.isabs(path) or not os.path.isfile(os.path.join(folder, path)):
                raise FileNotFoundError(f"{voice.name}: {path} is not a file under {folder} (the page links it)")
    path = os.path.join(folder, "index.html")
    atomic_write_text(listening_page(title, intro_html, voices), path)
    return path
