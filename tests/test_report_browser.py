"""The study report as a reader sees it: rendered in headless Chromium.

Needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them) and the
Python package ``selenium``; skips with a message when any is missing. The study is the small
synthetic one of ``report_fixtures`` (two datasets, two models, two seeds, three claims).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from report_fixtures import write_study

FIRST_SCREEN_PX = 1000
PUBLISHED = Path(__file__).resolve().parent.parent / "reports" / "study" / "summary.html"


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
                 "--window-size=1280,1200"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    from selenium.webdriver.chrome.service import Service

    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_window_size(1280, 1200)
    return driver


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> dict:
    return write_study(tmp_path_factory.mktemp("small"))


@pytest.fixture(scope="module")
def browser():
    driver = _browser()
    yield driver
    driver.quit()


def _box(driver, selector: str) -> dict:
    return driver.execute_script(
        "var r=document.querySelector(arguments[0]).getBoundingClientRect();"
        "return {top:r.top+window.scrollY,bottom:r.bottom+window.scrollY,height:r.height};", selector)


def assert_first_screen(browser, page: Path, screenshot: Path) -> None:
    """The answer on the first screen: the lead, the verdict table and the forest plot end above 1,000 px."""
    browser.get(page.as_uri())
    assert browser.execute_script("return window.innerHeight") >= FIRST_SCREEN_PX
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
    verdicts, forest = _box(browser, "#verdicts"), _box(browser, "#forest img")
    assert verdicts["bottom"] <= FIRST_SCREEN_PX and verdicts["height"] > 50, verdicts
    assert forest["bottom"] <= FIRST_SCREEN_PX and forest["height"] > 200, forest
    table = browser.find_element("id", "verdicts").text
    assert "causal methods agree more" in table and "replication" in table and "extension" in table
    lead = browser.find_element("css selector", "p.lead").text
    assert "Leave-one-out (delete)" in lead and "published claims" in table  # the totals open its caption
    browser.save_screenshot(str(screenshot))
    assert screenshot.stat().st_size > 10_000


def assert_links_and_images(browser, page: Path) -> None:
    """Every TOC link and in-page anchor lands on an element; no image (folded ones opened) is broken."""
    browser.get(page.as_uri())
    toc = browser.execute_script("return Array.from(document.querySelectorAll('nav#toc a')).map(a => a.hash)")
    assert len(toc) >= 8 and "#answer" in toc and "#methods" in toc and "#published" in toc
    anchors = browser.execute_script(
        "return Array.from(document.querySelectorAll('a[href^=\"#\"]')).map(a => a.getAttribute('href'))")
    missing = browser.execute_script(
        "return arguments[0].filter(h => !document.getElementById(decodeURIComponent(h.slice(1))))", anchors)
    assert missing == []
    for link in browser.find_elements("css selector", "nav#toc a")[:4]:  # following a link scrolls to its section
        link.click()
        target = browser.execute_script("return document.getElementById(location.hash.slice(1))"
                                        ".getBoundingClientRect().top")
        assert -5 <= target <= 60
    images = browser.execute_script(
        "document.querySelectorAll('details').forEach(d => d.open = true);"
        "return Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.alt]);")
    assert len(images) >= 3 and all(complete and width > 0 and alt for complete, width, alt in images)


def test_first_screen_holds_the_verdict_table_and_the_forest_plot(study, browser, tmp_path):
    assert_first_screen(browser, study["html"], tmp_path / "first-screen.png")


def test_every_toc_link_and_anchor_lands_on_an_element_and_no_image_is_broken(study, browser):
    assert_links_and_images(browser, study["html"])


def published_report() -> Path:
    """The committed study report, or a skip while it predates the first-screen layout."""
    if not PUBLISHED.exists() or 'id="verdicts"' not in PUBLISHED.read_text(errors="ignore"):
        pytest.skip("reports/study predates the first-screen layout; regenerate it: "
                    "snakemake publish --cores all --configfile config/study.yaml")
    return PUBLISHED


def test_the_published_study_report_answers_on_its_first_screen_with_working_links(browser, tmp_path):
    """The same checks on the committed report of the real study (sixteen claim rows, five datasets)."""
    page = published_report()
    assert_first_screen(browser, page, tmp_path / "published-first-screen.png")
    assert_links_and_images(browser, page)


def test_tables_sort_and_filter(study, browser):
    browser.get(study["html"].as_uri())
    browser.execute_script("document.querySelectorAll('details').forEach(d => d.open = true)")
    box = browser.find_element("css selector", "#agreement div.filtered")
    rows = box.find_elements("css selector", "tbody tr")
    box.find_element("css selector", "input.filter").send_keys("hatexplain minilm")
    shown = [r for r in rows if r.is_displayed()]
    assert 0 < len(shown) < len(rows) and all("minilm" in r.text for r in shown)
    header = box.find_elements("css selector", "thead th")[2]  # seed
    header.click()
    seeds = browser.execute_script("return Array.from(arguments[0].querySelectorAll('tbody tr'))"
                                   ".map(r => Number(r.cells[2].textContent))", box)
    assert seeds == sorted(seeds) and len(set(seeds)) == 2
    header.click()
    seeds = browser.execute_script("return Array.from(arguments[0].querySelectorAll('tbody tr'))"
                                   ".map(r => Number(r.cells[2].textContent))", box)
    assert seeds == sorted(seeds, reverse=True)


def test_the_per_example_view_colours_words_and_follows_the_content_switch(study, browser):
    browser.get(study["examples"].as_uri())
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
    datasets = [o.get_attribute("value") for o in browser.find_elements("css selector", "#dataset option")]
    assert datasets == ["sst2"]  # hatexplain is under a content warning
    assert "Left out under a content warning: hatexplain" in browser.page_source
    words = browser.find_elements("css selector", "#view .w span")
    assert words and all(w.get_attribute("title") for w in words)
    assert any("<wonderful>:" in w.get_attribute("title") for w in words)  # a word is text, never markup
    outcome = browser.find_element("id", "outcome").text
    assert "Predicted:" in outcome and "label:" in outcome
    from selenium.webdriver.support.ui import Select

    Select(browser.find_element("id", "model")).select_by_value("minilm")
    Select(browser.find_element("id", "example")).select_by_index(1)
    methods = [e.text.split("\n")[0] for e in browser.find_elements("css selector", "#view .m")]
    assert "Attention (last layer, head mean)" in methods and "Leave-one-out (delete)" in methods
    negative = browser.execute_script(
        "return Array.from(document.querySelectorAll('#view .w span')).some(s => s.style.background.includes('33, 102'))")
    assert negative  # signed scores below zero are blue
