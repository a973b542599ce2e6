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

from pytest_llmselect.report import write_report
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
    assert dom.tags.get("table", 0) == 8
    assert dom.tags.get("details", 0) == 2
    plots = [s for s in dom.img_src if s.startswith("data:image/png;base64,")]
    assert len(plots) == 3 and len(plots) == len(dom.img_src)
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
