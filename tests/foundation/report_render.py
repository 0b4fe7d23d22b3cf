"""Render an HTML report in headless Chromium and check what a reader would see.

Each image must decode to a non-blank picture, and each report entry (MNE's accordion items)
must show something: a decoded image, a table, a plot or text. The checks run inside the page
(a script appended to a temporary copy of the report); Chromium dumps the DOM with their result.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")

CHECK_JS = r"""
(async () => {
  const result = {images: 0, broken: [], blank: [], empty: [], entries: 0};
  const canvas = document.createElement("canvas");
  canvas.width = 64; canvas.height = 64;
  const context = canvas.getContext("2d", {willReadFrequently: true});
  const title = (el) => {
    const item = el.closest(".accordion-item");
    return (item ? item.id : "") + " / " + (el.getAttribute("alt") || "");
  };
  const images = [...document.querySelectorAll("#content img")];
  result.images = images.length;
  await Promise.all(images.map(async (img) => {
    img.loading = "eager";
    try { await img.decode(); } catch (err) { result.broken.push(title(img)); return; }
    if (!img.naturalWidth || !img.naturalHeight) { result.broken.push(title(img)); return; }
    context.clearRect(0, 0, 64, 64);
    context.drawImage(img, 0, 0, 64, 64);
    const pixels = context.getImageData(0, 0, 64, 64).data;
    const colours = new Set();
    for (let i = 0; i < pixels.length; i += 4) {
      colours.add((pixels[i] << 16) | (pixels[i + 1] << 8) | pixels[i + 2]);
      if (colours.size > 2) break;
    }
    if (colours.size <= 2) result.blank.push(title(img));
  }));
  for (const item of document.querySelectorAll("#content .accordion-item")) {
    result.entries += 1;
    const body = item.querySelector(".accordion-body");
    const shows = body && (body.querySelector("img, svg, canvas, table, iframe, video")
                           || body.textContent.trim().length > 0);
    if (!shows) result.empty.push(item.id);
  }
  const pre = document.createElement("pre");
  pre.id = "neuroopt-check";
  pre.textContent = JSON.stringify(result);
  document.body.appendChild(pre);
})();
"""


def find_chromium():
    """Path of a Chromium (or Chrome) executable, or None."""
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def _chromium(chromium, *args, timeout=300):
    command = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
               "--hide-scrollbars", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env={**os.environ, "HOME": os.environ.get("HOME", "/tmp")})


def check_report(chromium, report, workdir):
    """Open ``report`` in headless Chromium; return the in-page checks (see :data:`CHECK_JS`).

    Returns
    -------
    dict
        ``images`` (count), ``broken`` and ``blank`` (images), ``empty`` (entries without
        content), ``entries`` (count).
    """
    report = Path(report)
    copy = Path(workdir) / f"checked-{report.name}"
    text = report.read_text(encoding="utf-8")
    copy.write_text(text.replace("</body>", f"<script>{CHECK_JS}</script></body>"), encoding="utf-8")
    # the checks decode every image first: on a loaded machine (CI with the other test workers)
    # 10 s of virtual time were once not enough for the subject page, so a page whose checks did
    # not finish is opened again with a longer budget before it counts as a failure
    for budget in (10_000, 60_000):
        result = _chromium(chromium, f"--virtual-time-budget={budget}", "--dump-dom", copy.as_uri())
        match = re.search(r'<pre id="neuroopt-check">(.*?)</pre>', result.stdout, flags=re.S)
        if match is not None:
            break
    if match is None:
        raise RuntimeError(f"Chromium did not run the checks on {report} (exit {result.returncode}): {result.stderr[-2000:]}")
    return json.loads(html.unescape(match.group(1)))


def screenshot(chromium, report, path, width=1280, height=4000):
    """Save a screenshot of the top ``height`` pixels of ``report`` (to look at the page)."""
    _chromium(chromium, f"--window-size={width},{height}", "--virtual-time-budget=20000",
              f"--screenshot={path}", Path(report).as_uri())
    return Path(path)
