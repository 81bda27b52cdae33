"""Open a page in real headless Chromium and report what a person would notice.

``check_page(html_file, width)`` copies the page next to itself with a small probe script injected
first in ``<head>`` (the page itself has no scripts), loads it with ``chromium --dump-dom`` at the
given window width, and returns what the probe found after the load event: the viewport and the
document's scroll width (horizontal overflow), every ``<img>`` with whether it decoded, the text of
``#headline``, and every error raised (script errors, resources that failed to load, console.error).
``screenshot`` saves a PNG of the first screen. Each Chromium run gets a fresh profile folder.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars"]

_PROBE = """<script>
window.__bb_errors = [];
window.addEventListener('error', function (ev) {
  var t = ev.target;
  __bb_errors.push(t && t !== window && (t.src || t.href) ? 'failed to load ' + (t.src || t.href)
                                                         : String(ev.message));
}, true);
(function () { var orig = console.error; console.error = function () {
  __bb_errors.push(Array.prototype.join.call(arguments, ' ')); return orig.apply(console, arguments); }; })();
window.addEventListener('load', function () {
  var h = document.getElementById('headline');
  var r = {innerWidth: window.innerWidth, scrollWidth: document.documentElement.scrollWidth,
           bodyScrollWidth: document.body.scrollWidth,
           images: Array.prototype.map.call(document.images, function (i) {
             return {src: i.getAttribute('src'), loaded: i.complete && i.naturalWidth > 0,
                     width: i.getBoundingClientRect().width}; }),
           headline: h ? h.textContent : null, errors: __bb_errors};
  var p = document.createElement('pre'); p.id = '__bb_probe'; p.textContent = JSON.stringify(r);
  document.body.appendChild(p);
});
</script>"""


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _run(args: list[str], timeout: float = 60) -> subprocess.CompletedProcess:
    exe = chromium()
    if exe is None:
        raise RuntimeError("chromium is not installed")
    with tempfile.TemporaryDirectory(prefix="bb-chromium-") as profile:
        return subprocess.run([exe, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True,
                              text=True, timeout=timeout, env={**os.environ, "LANG": "C.UTF-8"})


def check_page(page: Path, width: int = 1280, height: int = 900) -> dict:
    page = Path(page).resolve()
    text = page.read_text(encoding="utf-8")
    probed = page.with_name(page.stem + ".__probe.html")
    probed.write_text(re.sub(r"<head>", "<head>" + _PROBE, text, count=1), encoding="utf-8")
    try:
        res = _run([f"--window-size={width},{height}", "--virtual-time-budget=5000", "--dump-dom",
                    probed.as_uri()])
    finally:
        probed.unlink(missing_ok=True)
    m = re.search(r'<pre id="__bb_probe">(.*?)</pre>', res.stdout, re.S)
    if m is None:
        raise AssertionError(f"the probe did not report (chromium exit {res.returncode}):\n{res.stderr[-2000:]}")
    import html

    return json.loads(html.unescape(m.group(1)))


def screenshot(page: Path, out: Path, width: int = 1280, height: int = 900) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    res = _run([f"--window-size={width},{height}", "--virtual-time-budget=5000", f"--screenshot={out}",
                Path(page).resolve().as_uri()])
    if not out.is_file():
        raise AssertionError(f"no screenshot written (chromium exit {res.returncode}):\n{res.stderr[-2000:]}")
    return out
