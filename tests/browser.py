"""Headless Chromium (Debian ``chromium``, installed by ``make setup``) for the listening-page checks:
load a page from disk, read every ``<audio>`` element's duration, save a screenshot.

The page itself has no script: the durations are read by a copy of it, beside it (so its relative
paths resolve), with a probe script added, whose DOM Chromium dumps once every player has loaded
its metadata or failed. Missing Chromium fails under CI (``CI`` set, as ``.ci/run`` runs) and
skips, with the reason, elsewhere.
"""

import json
import os
import re
import shutil
import subprocess

import pytest

# As the machine's own headless checks run it: no sandbox (root), no GPU, nothing from the network.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars"]  # fmt: skip
PROBE = """<script>
const players = [...document.querySelectorAll('audio')];
Promise.all(players.map(a => new Promise(done => {
  if (a.readyState >= 1 || a.error) done();
  a.addEventListener('loadedmetadata', done); a.addEventListener('error', done);
}))).then(() => {
  const out = document.createElement('pre'); out.id = 'probe';
  out.textContent = JSON.stringify(players.map(a => [a.getAttribute('src'), a.duration, a.error ? a.error.code : null]));
  document.body.appendChild(out);
});
</script>"""


def chromium() -> str:
    """The Chromium executable; fails under CI, skips elsewhere, when there is none."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        message = "headless Chromium is needed for the listening-page check: `make setup` installs Debian's chromium"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


def _run(args, profile):
    return subprocess.run([chromium(), *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True,
                          timeout=120, check=True)  # fmt: skip


def audio_durations(page, profile):
    """``[(src, duration in seconds or None, media error code or None)]`` of every ``<audio>`` of ``page``
    (a file) as Chromium loads it from disk; ``profile``: an empty folder for Chromium's profile."""
    probe = os.path.join(os.path.dirname(os.path.abspath(page)), "_probe_" + os.path.basename(page))
    with open(page, encoding="utf-8") as f:
        text = f.read()
    with open(probe, "w", encoding="utf-8") as f:
        f.write(text.replace("</body>", PROBE + "</body>"))
    try:
        dom = _run(["--virtual-time-budget=20000", "--dump-dom", "file://" + probe], profile).stdout
    finally:
        os.remove(probe)
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    assert found, f"{page}: Chromium's DOM has no probe result (the page did not load?)"
    return [tuple(x) for x in json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))]


def screenshot(page, png, profile, size="1280,2400"):
    """Save Chromium's rendering of ``page`` (a file) to ``png``."""
    _run([f"--screenshot={os.path.abspath(png)}", f"--window-size={size}", "file://" + os.path.abspath(page)], profile)
    assert os.path.getsize(png) > 0, png
