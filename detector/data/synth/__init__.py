"""The synthetic DeepScoresV2-format page generator (``python -m detector.synth``).

Real music (music21's corpus) and procedural passages for rare symbols, with the text printed
music carries (titles, lyrics, tempo marks, fingerings, figured bass, ...: text.py), engraved
by Verovio in its five music fonts, rasterised by resvg with the project's own text fonts,
boxed from the engraver's geometry, and written in exactly the DSv2 layout so that nothing
downstream can tell it from the real dataset.
"""
from detector.data.synth.generate import ensure_synthetic_dataset, generate_dataset

__all__ = ["ensure_synthetic_dataset", "generate_dataset"]
