"""A corpus score Verovio cannot read (UTF-16 MusicXML inside an .mxl) fails quietly: no line
of Verovio's on stderr, where it landed inside the generator's progress bar."""
from __future__ import annotations

import pytest

from detector.data.synth.corpus import Piece, _corpus_root
from detector.data.synth.engrave import EngraveError, engrave, make_toolkit
from detector.data.synth.piece_pages import fixed_layout


def test_a_utf16_mxl_is_refused_without_a_word_on_stderr(capfd):
    path = _corpus_root() / "beethoven" / "opus18no5.mxl"  # one of the 42 such files in music21
    with pytest.raises(EngraveError, match="UTF-16"):
        engrave(make_toolkit(), Piece(key="corpus/beethoven/opus18no5.mxl", path=path), fixed_layout(22.0))
    assert "UTF-16" not in capfd.readouterr().err
