"""The report and the dashboard as a person sees them: headless Chromium (Debian's), driven by Playwright."""

import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import tuner
from test_deploy import free_port
from test_report import tune_small_study

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PLOTS_DRAWN = """() => {
  const plots = [...document.querySelectorAll('.js-plotly-plot')];
  return plots.length > 0 && plots.every(p => p.querySelector('svg.main-svg') && p.querySelector('.trace'));
}"""

if not CHROMIUM.exists():
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium; .ci/run does)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[test]')")


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    """A page that records console errors and uncaught exceptions in `page.errors`."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.errors = []
    page.on("console", lambda message: page.errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    yield page
    context.close()


@pytest.fixture(scope="module")
def tuned(tmp_path_factory) -> tuple[Path, Path]:
    return tune_small_study(tmp_path_factory.mktemp("browser"))


def test_report_renders_every_plot_offline(tuned, page, tmp_path):
    config, model = tuned
    report = tmp_path / "report.html"
    run = tuner("report", str(config), "-o", str(report), "--model", str(model))
    assert run.returncode == 0, run.stderr
    fetched = []
    page.route(re.compile(r"^(?!file:)"), lambda route: (fetched.append(route.request.url), route.abort()))
    page.goto(report.as_uri())
    page.wait_for_function(PLOTS_DRAWN, timeout=30_000)
    for anchor in ("summary", "best", "history", "importances", "curves", "parallel", "models", "forecast"):
        assert page.locator(f"section#{anchor} h2").is_visible(), anchor
    plots = page.locator(".js-plotly-plot")
    assert plots.count() == 6  # history, importances, curves, parallel, model types, forecast
    for index in range(6):
        box = plots.nth(index).bounding_box()
        assert box["width"] > 300 and box["height"] > 300, box
    assert fetched == [] and page.errors == []
    shot = tmp_path / "report.png"
    page.screenshot(path=str(shot), full_page=True)
    assert_not_blank(shot)


def assert_not_blank(png: Path) -> None:
    """Many colours and real contrast: text and plots, not an empty page."""
    from matplotlib.image import imread

    pixels = imread(png)[..., :3].reshape(-1, 3)
    assert pixels.std() > 0.05
    assert len(np.unique((pixels * 255).astype(np.uint8), axis=0)) > 200


def test_dashboard_shows_the_study_and_its_trial_count(tuned, page):
    config, _ = tuned
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "tuner.cli.parser", "dashboard", str(config), "--port", str(port)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = re.search(r"http://\S+/studies/\d+", process.stdout.readline()).group(0)
        goto_when_up(page, url)
        page.get_by_text("small (id=").wait_for(timeout=30_000)
        page.goto(url + "/trials")
        page.get_by_text("4 Trials").wait_for(timeout=30_000)
        assert page.errors == []
    finally:
        process.terminate()
        process.wait(timeout=10)


def goto_when_up(page, url: str, seconds: float = 30) -> None:
    """Open `url`, retrying while the server is still starting."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            page.goto(url)
            return
        except sync_api.Error:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)
