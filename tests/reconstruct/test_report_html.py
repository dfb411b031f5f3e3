"""The HTML report in a real headless browser.

Given the real DSv2 sample page read from its ground-truth symbols with four planted errors,
when its report is written and opened in headless Chromium, then the page loads without a
console error, both systems show both pictures (scan crop and Verovio engraving), and every
planted bar carries a mark on both pictures. Chromium comes from the Debian package
(``.ci/run`` installs it when it can); without it the browser tests are skipped.
"""
from __future__ import annotations

import re
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from detector.benchmarks.headless_chromium import HeadlessChromium, chromium_path
from detector.data.deepscores import load_page_image
from detector.reconstruct.doubts import bar_at, find_doubts
from detector.reconstruct.pipeline import read_detections
from detector.reconstruct.binarize import binarize
from detector.reconstruct.report_html import page_picture, page_section, write_html_report
from tests.reconstruct.test_doubts import _read, plant_errors

needs_chromium = pytest.mark.skipif(
    chromium_path() is None, reason="chromium is not installed (apt-get install chromium; .ci/run does)")


@pytest.fixture(scope="module")
def planted_report(dsv2_sample_image, dsv2_sample_json, tmp_path_factory):
    """The report of the DSv2 page with planted errors, and the (system, page bar number) of each."""
    gray = load_page_image(dsv2_sample_image)
    symbols = read_detections(dsv2_sample_json, dsv2_sample_image)
    broken, planted = plant_errors(_read(gray, symbols), symbols)
    page = _read(gray, broken)
    doubts = find_doubts(page)
    bars = set()
    for staff, x, _ in planted:
        layout = next(lay for lay in doubts.systems if staff in lay.spans)
        bars.add((layout.index, layout.first_bar + bar_at(layout, staff, x)))
    section = page_section(dsv2_sample_image.name, gray, page, doubts=doubts)
    path = write_html_report([section], tmp_path_factory.mktemp("report") / "report.html")
    return path, section, bars


def test_report_is_one_self_contained_file(planted_report):
    path, section, bars = planted_report
    text = path.read_text()
    assert section.systems == 2 and section.bars == 10
    assert not re.search(r'(src|href)="(?!data:|#)', text), "every picture is embedded, every link internal"
    assert "<script" not in text
    assert text.count('<div class="system"') == 2
    assert section.marked_bars == len(bars) < section.bars
    assert path.stat().st_size < 2_000_000


@needs_chromium
def test_report_in_headless_chromium(planted_report, tmp_path):
    path, section, bars = planted_report
    with HeadlessChromium(width=1500, height=1200) as browser:
        seconds = browser.open(path.as_uri())
        systems = browser.evaluate("""[...document.querySelectorAll('div.system')].map(s => ({
            pictures: [...s.querySelectorAll('figure img')].map(i => i.complete ? i.naturalWidth : 0),
            scan: [...s.querySelectorAll('.scan .mark')].map(m => +m.dataset.bar),
            engraved: [...s.querySelectorAll('.engraved .mark')].map(m => +m.dataset.bar),
            marked: +s.dataset.marked}))""")
        shot = browser.screenshot(tmp_path / "report.png")
        errors = [text for level, text in browser.console if level == "error"]

    assert errors == []
    assert seconds < 2.0
    assert len(systems) == 2
    assert all(len(s["pictures"]) == 2 and min(s["pictures"]) > 0 for s in systems), systems
    for system, bar in bars:
        assert bar in systems[system]["scan"] and bar in systems[system]["engraved"], (system, bar, systems)
    assert sum(s["marked"] for s in systems) == len(bars)
    picture = np.asarray(Image.open(shot).convert("RGB")).astype(int)  # [H, W, 3]
    assert picture.shape[1] >= 1400 and picture.shape[0] > 2000  # the whole report, both systems
    red = (picture[..., 0] > 190) & (picture[..., 1] < 60) & (picture[..., 2] < 80)
    assert red.sum() > 500  # the marks and the doubtful bars of the engraving are drawn


def test_reconstruct_cli_writes_the_report(dsv2_sample_image, dsv2_sample_json, tmp_path):
    from reconstruct import main

    status = main([str(dsv2_sample_image), "--detections", str(dsv2_sample_json),
                   "--out", str(tmp_path / "score.musicxml"),
                   "--html", str(tmp_path / "out" / "report.html")])

    assert status == 0
    text = (tmp_path / "out" / "report.html").read_text()
    assert text.count('<div class="system"') == 2 and 'data-marked="0"' in text
    # the names and bar numbers printed on the page (margin_text.py) label the report
    assert "<td>P1 Vc.</td>" in text and "<td>P6 Cb.</td>" in text
    assert "bars 10-14" in text and "bars 15-19" in text


def test_report_picture_is_the_page_the_structure_saw(dsv2_sample_image):
    gray = load_page_image(dsv2_sample_image)
    ink = binarize(gray)
    moved = np.roll(ink, 6, axis=0)  # as if the pipeline had turned or shifted the page

    assert np.array_equal(page_picture(dsv2_sample_image, SimpleNamespace(ink=ink)), gray)
    assert np.array_equal(page_picture(dsv2_sample_image, SimpleNamespace(ink=moved)) == 0, moved)
