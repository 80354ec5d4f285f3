"""The study report as a reader sees it: rendered in headless Chromium.

Needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them) and the
Python package ``selenium``; skips with a message when any is missing.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.report.summary import write_summary


def _browser():
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install selenium)")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if not chromium or not driver_path:
        pytest.skip("headless Chromium is not available: apt-get install chromium chromium-driver")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1280,2000"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    from selenium.webdriver.chrome.service import Service

    return webdriver.Chrome(service=Service(driver_path), options=options)


@pytest.fixture
def report(tmp_path) -> Path:
    from analysis.plots import figures

    rng = np.random.default_rng(0)
    evaluation = pd.DataFrame([{"dataset": "sst2", "model": "minilm", "seed": 0, "accuracy": 0.85, "chance": 0.55,
                                "n_eval": 872, "n_truncated": 0, "max_length": 128}])
    summary = pd.DataFrame([
        {"dataset": "sst2", "model": "minilm", "seed": 0, "method_a": a, "method_b": "loo_delete", "pair_kind": k,
         "variant": "abs", "metric": "kendall_tau", "group_by": "all", "group": "all", "n": 60, "mean": m,
         "mean_low": m - 0.05, "mean_high": m + 0.05, "median": m, "median_low": m - 0.05, "median_high": m + 0.05,
         "share_significant": 0.2}
        for a, k, m in [("attention_last_mean", "attention_vs_causal", 0.2),
                        ("integrated_gradients", "causal_vs_causal", 0.45), ("random", "random_vs_causal", 0.0)]])
    figure = figures.accuracy_bars(evaluation.assign(accuracy=rng.uniform(0.8, 0.9, 1)))
    png = tmp_path / "accuracy.png"
    figure.savefig(png)
    config = {"study": "browser", "title": "Browser check", "agreement": {"reference": "loo_delete"},
              "figures": {"headline_metric": "kendall_tau"}}
    write_summary(config=config, evaluation=evaluation, summary=summary, diagnostics=pd.DataFrame(),
                  data_report=pd.DataFrame([{"dataset": "sst2", "rows_kept": 872}]),
                  figures={"Accuracy of every model.": str(png)}, out_markdown=str(tmp_path / "summary.md"),
                  out_html=str(tmp_path / "summary.html"))
    return tmp_path / "summary.html"


def test_report_renders_without_errors_and_every_figure_loads(report, tmp_path):
    driver = _browser()
    try:
        driver.get(report.as_uri())
        errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
        assert errors == []
        images = driver.execute_script(
            "return Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.alt]);")
        assert images and all(complete and width > 0 for complete, width, _ in images)
        findings = driver.find_element("id", "findings")
        assert "agrees with" in findings.text
        driver.save_screenshot(str(tmp_path / "report.png"))
    finally:
        driver.quit()
    assert (tmp_path / "report.png").stat().st_size > 10_000
