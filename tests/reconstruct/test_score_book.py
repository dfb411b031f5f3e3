"""reconstruct.py on whole scores: folders, lists of pages, PDFs, batches, failed pages, MIDI.

Pages are read from their ground-truth symbols (``--detections``): the detector is too slow
for tests.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

import reconstruct
from detector.data.synth.piece_pages import write_pdf
from detector.reconstruct.page_sources import pages_of, render_pdf_page
from detector.reconstruct.page_scale import measure_staff_space


def _parts(path: Path) -> list[list[int]]:
    """Measure numbers of each part of a written score."""
    parts = ET.parse(path).getroot().findall("part")
    return [[int(m.get("number")) for m in p.findall("measure")] for p in parts]


def test_a_folder_of_pages_becomes_one_score_then_is_skipped_unless_forced(quartet, tmp_path, capsys):
    # given the folder of a quartet's two pages and their symbols
    args = [str(quartet / "images"), "--detections", str(quartet / "deepscores_test.json"),
            "--out-dir", str(tmp_path), "--midi"]
    # when it is read into --out-dir with --midi
    assert reconstruct.main(args) == 0
    out = tmp_path / "images.musicxml"
    # then one score of 4 parts numbered through both pages, and MIDI beside it
    numbers = _parts(out)
    assert len(numbers) == 4 and numbers[0] == list(range(1, len(numbers[0]) + 1)) and len(numbers[0]) > 20
    assert (tmp_path / "images.mid").stat().st_size > 1000
    printed = capsys.readouterr().out
    assert printed.count("[page] ") == 2 and " s, 3 systems, 12 staves" in printed
    # and a second run leaves the result alone unless --force
    before = out.stat().st_mtime_ns
    assert reconstruct.main(args) == 0
    assert "exists, skipped" in capsys.readouterr().out and out.stat().st_mtime_ns == before


def test_a_page_that_fails_is_reported_and_skipped_and_the_rest_is_written(quartet, tmp_path, capsys):
    # given page 1, a broken page, and page 2, in that order
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    pages = sorted((quartet / "images").iterdir())
    args = [str(pages[0]), str(broken), str(pages[1]), "--detections", str(quartet / "deepscores_test.json"),
            "--out", str(tmp_path / "score.musicxml")]
    # when they are read into one score
    status = reconstruct.main(args)
    # then the broken page is reported, the exit status says so, and both good pages are written
    printed = capsys.readouterr().out
    assert status == 1
    assert "broken.png: FAILED" in printed and "2/3 pages" in printed
    single = tmp_path / "one.musicxml"
    assert reconstruct.main([str(pages[0]), "--detections", str(quartet / "deepscores_test.json"),
                             "--out", str(single)]) == 0  # one image: the page path, as before
    assert len(_parts(tmp_path / "score.musicxml")[0]) > len(_parts(single)[0])


def test_a_pdf_page_is_rendered_at_the_detectors_staff_space(quartet, tmp_path):
    # given a raster PDF of the two pages at 300 dpi
    images = sorted((quartet / "images").iterdir())
    pdf = write_pdf(images, tmp_path / "quartet.pdf", dpi=300)
    # when its pages are listed and one is rendered
    sources = pages_of(pdf)
    gray = sources[1].load()
    # then two pages in order, rendered at the resolution that gives the trained staff space
    assert [s.name for s in sources] == ["quartet.pdf#1", "quartet.pdf#2"]
    assert gray.dtype == np.uint8 and 18 <= measure_staff_space(gray) <= 28
    assert abs(gray.shape[1] - 2480) <= 2
    # and PDFs of the page made at 150 and 600 dpi (pages twice and half as large) render alike
    for dpi in (150, 600):
        other = write_pdf(images[:1], tmp_path / f"at{dpi}.pdf", dpi=dpi)
        assert abs(render_pdf_page(other, 0).shape[1] - 2480) <= 4


def test_a_whole_score_gets_one_html_report_with_a_section_per_page(quartet, tmp_path):
    # given the quartet's two pages and their symbols, read as one score with --html
    report = tmp_path / "report.html"
    args = [str(quartet / "images"), "--detections", str(quartet / "deepscores_test.json"),
            "--out", str(tmp_path / "score.musicxml"), "--html", str(report)]
    assert reconstruct.main(args) == 0
    # then the report holds one section per page, each with its systems (scan + engraving)
    text = report.read_text()
    assert text.count('<section class="page"') == 2
    assert 'id="page-1"' in text and 'id="page-2"' in text
    assert text.count("data:image/png;base64,") >= 6 and text.count("data:image/svg+xml") >= 6
    # and --html with --out-dir (one report for many scores) is refused in one line
    assert reconstruct.main([str(quartet / "images"), "--out-dir", str(tmp_path / "many"), "--html",
                             str(report), "--detections", str(quartet / "deepscores_test.json")]) == 2
