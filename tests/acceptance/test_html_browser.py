"""The HTML report in a real browser: it renders, shows plots and tables, and report data
cannot inject script. Needs Debian's ``chromium`` package (``apt-get install chromium``);
skipped without it."""

from __future__ import annotations

import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from pytest_llmselect.report import render_html, write_report
from tests.report_samples import HOSTILE_NAME, HOSTILE_OUTPUT, sample_report

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# CI sets LLMSELECT_REQUIRE_BROWSER=1: there a missing browser is a failed install and must
# fail the run, not hide as a skip among hundreds of passes.
REQUIRED = os.environ.get("LLMSELECT_REQUIRE_BROWSER", "") not in ("", "0")
_MISSING = "headless browser test needs `chromium` on PATH (apt-get install chromium)"


@pytest.fixture(autouse=True)
def _browser_present() -> None:
    if CHROMIUM is None:
        if REQUIRED:
            pytest.fail(f"LLMSELECT_REQUIRE_BROWSER is set but chromium is missing: {_MISSING}", pytrace=False)
        pytest.skip(_MISSING)

# Flags that keep a headless run offline, quiet and independent of any user profile.
_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
          "--disable-background-networking", "--disable-component-update", "--disable-sync",
          "--hide-scrollbars"]


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    profile.mkdir()
    return subprocess.run([CHROMIUM, *_FLAGS, f"--user-data-dir={profile}", *args],  # type: ignore[list-item]
                          capture_output=True, text=True, timeout=180, check=False)


class _Dom(HTMLParser):
    """Element counts and text of the DOM chromium dumped (entities decoded, as displayed)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: dict[str, int] = {}
        self.img_src: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] = self.tags.get(tag, 0) + 1
        if tag == "img":
            self.img_src.append(dict(attrs).get("src") or "")

    def handle_data(self, data: str) -> None:
        self.text.append(data)


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_report(sample_report(), tmp_path_factory.mktemp("html") / "report.html")


def test_dom_has_tables_plots_and_no_injected_script(page: Path, tmp_path: Path) -> None:
    result = _chromium(tmp_path, "--dump-dom", page.as_uri())
    assert result.returncode == 0, result.stderr[-2000:]
    dom = _Dom()
    dom.feed(result.stdout)
    text = "".join(dom.text)
    assert dom.tags.get("table", 0) == 9  # the picks, six section tables, two per-case tables
    assert dom.tags.get("details", 0) == 2
    # Plots are inline SVG (text stays text), one per task and one overall; no image fetched.
    assert dom.tags.get("svg", 0) == 3 and dom.img_src == []
    # The model output and the hostile name are shown as text, and never became elements.
    assert "script" not in dom.tags and "b" not in dom.tags
    assert HOSTILE_OUTPUT in text
    assert HOSTILE_NAME in text
    assert "Selected overall: zoo:small" in text
    assert "[0.0164, \u221e)" in text and "never" in text


def test_screenshot_is_a_real_rendering(page: Path, tmp_path: Path) -> None:
    from matplotlib.image import imread

    shot = tmp_path / "report.png"
    result = _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1400,2000", page.as_uri())
    assert result.returncode == 0 and shot.exists(), result.stderr[-2000:]
    assert shot.stat().st_size > 30_000
    pixels = imread(str(shot))[..., :3]
    assert pixels.shape[:2] == (2000, 1400)
    colours = {tuple(p) for p in pixels[::7, ::7].reshape(-1, 3).round(2).tolist()}
    assert len(colours) > 20, "screenshot is (nearly) one flat colour"
    # The plots are near the top: the upper half must not be blank either.
    assert pixels[:1000].std() > 0.05


# Measures the laid-out page: elements past the viewport's right edge, scroll boxes whose
# content is wider than they are (a column hidden behind a scrollbar), and pairs of plot
# labels (and legends) whose boxes intersect. Run on a copy of the page whose
# Content-Security-Policy is lifted for this script alone; the report itself has none.
_MEASURE_JS = """
<script>
const vw = document.documentElement.clientWidth;
const wide = [];
for (const el of document.body.querySelectorAll('*')) {
  const r = el.getBoundingClientRect();
  if (r.width === 0 && r.height === 0) continue;
  if (r.right > vw + 0.5 || r.left < -0.5) wide.push(el.tagName + ' ' + (el.id || el.className && el.className.baseVal !== undefined ? el.id : el.className) + ' ' + Math.round(r.left) + '..' + Math.round(r.right));
}
const hidden = [...document.querySelectorAll('.scroll')].filter(d => d.getClientRects().length && d.scrollWidth > d.clientWidth + 1)
  .map(d => d.scrollWidth + '>' + d.clientWidth);
const overlaps = []; let labels = 0;
for (const svg of document.querySelectorAll('figure svg')) {
  const boxes = [...svg.querySelectorAll('g[id*="-label-"], g[id$="-legend"]')].map(g => [g.id, g.getBoundingClientRect()]);
  labels += boxes.length;
  for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
    const [a, ra] = boxes[i], [b, rb] = boxes[j];
    if (ra.left < rb.right && rb.left < ra.right && ra.top < rb.bottom && rb.top < ra.bottom) overlaps.push(a + ' x ' + b);
  }
}
const out = document.createElement('pre'); out.id = 'measured';
out.textContent = JSON.stringify({viewport: vw, page: document.documentElement.scrollWidth, wide, hidden, overlaps, labels,
                                  figures: document.querySelectorAll('figure svg').length});
document.body.appendChild(out);
</script>
"""


def measure_page(html_text: str, tmp_path: Path, width: int = 1280) -> dict:
    """The page laid out by headless Chromium at ``width`` px, measured (see _MEASURE_JS)."""
    import json
    import re

    probe = tmp_path / "measured.html"
    text = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", html_text)
    probe.write_text(text.replace("</body>", _MEASURE_JS + "</body>"), encoding="utf-8")
    result = _chromium(tmp_path, f"--window-size={width},900", "--virtual-time-budget=5000", "--dump-dom",
                       probe.as_uri())
    assert result.returncode == 0, result.stderr[-2000:]
    found = re.search(r'<pre id="measured">(.*?)</pre>', result.stdout, flags=re.S)
    assert found, result.stdout[-2000:]
    import html as _html

    return json.loads(_html.unescape(found.group(1)))


@pytest.mark.parametrize("width", [1280, 1400])
def test_page_fits_the_window_and_no_plot_labels_overlap(page: Path, tmp_path: Path, width: int) -> None:
    measured = measure_page(page.read_text(encoding="utf-8"), tmp_path, width)
    assert measured["figures"] == 3 and measured["labels"] >= 3 * 3
    assert measured["page"] <= measured["viewport"], measured
    assert measured["wide"] == [], measured["wide"][:10]
    assert measured["hidden"] == [], measured["hidden"]
    assert measured["overlaps"] == [], measured["overlaps"]


def test_crowded_plot_labels_are_moved_apart(tmp_path: Path) -> None:
    # Eight candidates at nearly the same cost and quality: labels drawn beside their points
    # would all land on each other.
    report = sample_report(hostile=False)
    task = report["tasks"][0]
    base = task["results"][0]
    task["results"] = [{**base, "candidate": f"zoo:model-{i}+knn:{i}", "cost": 0.004 + 1e-5 * i,
                        "quality": 0.5 + 0.002 * i} for i in range(8)]
    measured = measure_page(render_html(report), tmp_path)
    assert measured["labels"] >= 8
    assert measured["overlaps"] == [], measured["overlaps"]
    assert measured["wide"] == [], measured["wide"][:10]
