"""Shared test fixtures: paths to the real DSv2 sample page."""
from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
DSV2_SAMPLE_DIR = REPO_ROOT / "tests" / "fixtures" / "deepscores_v2_sample"
DSV2_SAMPLE_JSON = DSV2_SAMPLE_DIR / "deepscores_v2_sample.json"
DSV2_SAMPLE_IMAGE = DSV2_SAMPLE_DIR / "images" / "lg-5230237-aug-emmentaler--page-2.png"


@pytest.fixture(scope="session")
def dsv2_sample_dir() -> Path:
    """Folder of the real DeepScoresV2 sample page (JSON + images/)."""
    return DSV2_SAMPLE_DIR


@pytest.fixture(scope="session")
def dsv2_sample_json() -> Path:
    """The real DSv2 OBB annotation file (547 annotations on one page)."""
    return DSV2_SAMPLE_JSON


@pytest.fixture(scope="session")
def dsv2_sample_image() -> Path:
    """The real DSv2 page image (2707 x 3828 RGBA, transparent background)."""
    return DSV2_SAMPLE_IMAGE


@pytest.fixture(scope="session")
def synthetic_dataset(tmp_path_factory) -> Path:
    """A small synthetic DSv2-format dataset (6 pages, seed 0), generated once per test session.

    Layout as the real dataset: images/, deepscores_train.json, deepscores_test.json, music/.
    """
    from detector.data.synth import ensure_synthetic_dataset

    out_dir = tmp_path_factory.mktemp("synthetic")
    return ensure_synthetic_dataset(out_dir, pages=6, seed=0)
