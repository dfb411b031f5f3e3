"""Fixtures of the reconstruct tests: consecutive pages of one synthetic piece."""
from __future__ import annotations

from pathlib import Path

import pytest

#: A string quartet (4 single-staff parts, 3 systems a page) and how many of its pages.
QUARTET, QUARTET_PAGES = "haydn/opus74no1/movement3", 2


@pytest.fixture(scope="session")
def quartet(tmp_path_factory) -> Path:
    """Pages 1-2 of the quartet engraved in one layout (staff space 22 px), with their true
    music: ``images/``, ``deepscores_test.json``, ``music/`` (about 7 s)."""
    from detector.data.synth.piece_pages import corpus_piece, fixed_layout, generate_piece_pages

    root = tmp_path_factory.mktemp("quartet")
    generate_piece_pages(root, corpus_piece(QUARTET), fixed_layout(22.0), pages=QUARTET_PAGES)
    return root
