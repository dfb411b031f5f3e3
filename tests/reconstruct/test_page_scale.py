"""Any scan resolution: a page outside the detector's staff-space range is resampled into it."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from detector.data.deepscores import load_page_image
from detector.reconstruct import pipeline
from detector.reconstruct.page_scale import choose_factor, measure_staff_space, normalise_page, resample


@pytest.fixture(scope="module")
def page(quartet):
    """Page 1 of the quartet (staff space 22 px)."""
    return load_page_image(sorted((quartet / "images").iterdir())[0])


def test_a_page_in_the_trained_range_is_left_as_it_is(page):
    work, scale = normalise_page(page)
    assert work is page and scale.factor == 1.0 and scale.staff_space_px == 22.0
    assert choose_factor(None) == 1.0  # no staff found: nothing to scale by


@pytest.mark.parametrize("size", [0.5, 2.0])
def test_a_page_at_half_or_twice_the_size_is_brought_back_to_22_px(page, size):
    # given the page as a 150-dpi or a 600-dpi scan of a 300-dpi page
    scan = resample(page, size)
    # when it is normalised, then its staff space is the trained one and its size the original
    work, scale = normalise_page(scan)
    assert 21.0 <= measure_staff_space(work) <= 23.0
    assert abs(work.shape[1] - page.shape[1]) <= 0.05 * page.shape[1]
    assert scale.to_page(scale.to_work((10.0, 20.0, 30.0, 40.0))) == pytest.approx((10.0, 20.0, 30.0, 40.0))


def test_the_detector_sees_the_resampled_page_and_its_boxes_come_back_in_page_pixels(page, monkeypatch):
    # given a 600-dpi scan and a stand-in detector that finds one box at work pixel (220, 440)
    seen = []

    def detect_pages(model, pages, model_cfg, device, **options):
        seen.append(pages[0])
        return [{"boxes": np.array([[220.0, 440.0, 242.0, 458.0]], dtype=np.float32),
                 "scores": np.array([0.9], dtype=np.float32), "labels": np.array([0])}]

    monkeypatch.setattr("detector.model.tiled.detect_pages", detect_pages)
    cfg = SimpleNamespace(model=None, eval=SimpleNamespace(score_thresh=0.5))
    monkeypatch.setattr(pipeline, "load_model", lambda *a, **k: (None, cfg, ["noteheadBlackOnLine"]))
    scan = resample(page, 2.0)
    # when symbols are detected on it
    symbols = pipeline.detect_symbols(scan, pipeline.DEFAULT_WEIGHTS)
    # then the detector got the page at the trained staff space, the box is in the scan's pixels
    assert 21.0 <= measure_staff_space(seen[0]) <= 23.0
    assert symbols[0].box == pytest.approx((440.0, 880.0, 484.0, 916.0), rel=0.03)
