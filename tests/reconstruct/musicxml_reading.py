"""Read back the MusicXML the reconstruction wrote, with ElementTree and with music21."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import music21

from detector.reconstruct.musicxml import write_musicxml
from detector.reconstruct.reading import read_score
from detector.reconstruct.structure import reconstruct_structure
from detector.reconstruct.symbols import Symbol


def score_file(page, tmp_path: Path, name: str = "score.musicxml") -> Path:
    """Recognise a HandPage and write its MusicXML."""
    names, boxes = page.arrays()
    symbols = [Symbol(name, tuple(box)) for name, box in zip(names, boxes)]
    score = read_score(reconstruct_structure(page.gray, symbols, staves=page.staves))
    return write_musicxml(score, tmp_path / name)


def xml_notes(path: Path) -> list[dict]:
    """Every <note> of the first part as a dict (pitch name, octave, alter, duration, ...)."""
    root = ET.parse(path).getroot()
    part = root.find("part")
    out = []
    for note in part.iter("note"):
        pitch = note.find("pitch")
        out.append({
            "step": pitch.findtext("step") if pitch is not None else None,
            "octave": int(pitch.findtext("octave")) if pitch is not None else None,
            "alter": int(pitch.findtext("alter") or 0) if pitch is not None else None,
            "rest": note.find("rest") is not None,
            "duration": int(note.findtext("duration")),
            "type": note.findtext("type"),
            "dots": len(note.findall("dot")),
            "chord": note.find("chord") is not None,
            "beams": [b.text for b in note.findall("beam")],
            "accidental": note.findtext("accidental"),
        })
    return out


def divisions(path: Path) -> int:
    return int(ET.parse(path).getroot().find("part/measure/attributes/divisions").text)


def music21_notes(path: Path) -> list[tuple[str, float]]:
    """(name with octave, quarter length) of every note/rest music21 reads, chords expanded."""
    parsed = music21.converter.parse(str(path))
    out = []
    for element in parsed.parts[0].flatten().notesAndRests:
        if element.isChord:
            out.extend((p.nameWithOctave, float(element.quarterLength)) for p in element.pitches)
        elif element.isRest:
            out.append(("rest", float(element.quarterLength)))
        else:
            out.append((element.pitch.nameWithOctave, float(element.quarterLength)))
    return out
