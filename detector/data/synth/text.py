"""Text on the synthetic pages, added to the engraved music as MEI before Verovio lays it out.

Real printed pages carry a lot of text, and a detector that never saw text mistakes letters
and digits for music symbols (a lyric "o" for a notehead, a figured-bass "6" for a time
signature). So each page draws, from its own random stream, which kinds of text it gets:

- a title block (title, subtitle, composer, lyricist), a running header and a footer with a
  page number or a copyright line (MEI ``<pgHead>`` / ``<pgFoot>``);
- instrument names on the first system and their abbreviations after (``<label>``,
  ``<labelAbbr>``);
- a tempo mark with or without a metronome mark ("Allegro ♩ = 100", ``<tempo>``),
  expression words (dolce, rit., a tempo, ``<dir>``) and dynamic words (cresc., dim.,
  ``<dynam>``);
- lyrics, one to three verses, with hyphens and extender lines (``<verse>``/``<syl>``);
- fingerings (``<fing>``), figured bass under the lowest staff (``<harm>``/``<fb>``/``<f>``),
  chord symbols (``<harm>``), rehearsal marks (``<reh>``) and measure numbers (Verovio's
  ``mnumInterval``).

Ground truth: fingering digits 0-5 have DSv2 classes (``fingering0``-``fingering5``) and are
boxed (boxes.py, from the text font's outlines); every other text is background, with no
annotation, which the detector must learn to ignore. Corpus pieces keep their own text
(lyrics, part names, directions) and get only what they lack. Voices (MEI layers) are left
as the corpus has them.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

import numpy as np

MEI_URI = "http://www.music-encoding.org/ns/mei"
MEI_NS = "{" + MEI_URI + "}"
XML_ID = "{http://www.w3.org/XML/1998/namespace}id"
#: Measures that receive text (only the first pages of a piece are ever drawn).
MAX_TEXT_MEASURES = 160

TITLES = ["Sonata", "Sonatina", "Minuet", "Menuetto", "Chorale", "Prelude", "Fugue", "Étude", "Nocturne",
          "Impromptu", "Rondo", "Waltz", "Song without Words", "Bagatelle", "Air", "Gavotte", "Sarabande",
          "Invention", "Romance", "Scherzo", "Lied", "Ave Maria", "Motet", "Canzonetta", "Reel", "Hornpipe"]
KEYS = ["C major", "G major", "D major", "F major", "B♭ major", "A minor", "E minor", "D minor", "G minor",
        "E♭ major"]
SUBTITLES = ["for Piano", "for Violin and Piano", "for String Quartet", "for Voice and Piano",
             "Op. 27 No. 2", "from the Suite in D", "BWV 846", "K. 545", "Hob. XVI:35", "First Movement",
             "Second Set", "Trio"]
COMPOSERS = ["J. S. Bach", "W. A. Mozart", "L. van Beethoven", "J. Haydn", "F. Schubert", "R. Schumann",
             "F. Chopin", "J. Brahms", "G. F. Handel", "F. Mendelssohn", "Traditional", "Anon.", "C. Debussy"]
LYRICISTS = ["Words by J. W. von Goethe", "Text: H. Heine", "Lyrics: Anon.", "Words: Traditional",
             "Text: Psalm 23"]
INSTRUMENTS = [("Violin", "Vln."), ("Viola", "Vla."), ("Violoncello", "Vc."), ("Flute", "Fl."),
               ("Oboe", "Ob."), ("Clarinet in B♭", "Cl."), ("Horn in F", "Hn."), ("Soprano", "S."),
               ("Alto", "A."), ("Tenor", "T."), ("Bass", "B."), ("Voice", "V."), ("Piano", "Pno."),
               ("Cello", "Vc."), ("Trumpet in C", "Tpt.")]
TEMPI = ["Allegro", "Andante", "Adagio", "Moderato", "Presto", "Allegretto", "Largo", "Vivace", "Lento",
         "Allegro ma non troppo", "Andante cantabile", "Tempo di Minuetto", "Grave", "Allegro con brio",
         "Andantino", "Larghetto", "Maestoso", "Con moto"]
METRONOME_UNITS = ["♩", "♩", "♩", "♪", "♩."]
EXPRESSIONS = ["dolce", "espress.", "rit.", "a tempo", "rall.", "legato", "cantabile", "sempre legato",
               "poco rit.", "accel.", "tranquillo", "con fuoco", "sotto voce", "leggiero", "marcato",
               "simile", "ten.", "morendo", "pizz.", "arco", "rubato", "meno mosso", "più mosso",
               "Tempo I"]
DYNAMIC_WORDS = ["cresc.", "dim.", "decresc.", "poco a poco cresc.", "smorz.", "calando", "perdendosi"]
LYRIC_WORDS = ["Glo-ri-a", "in", "ex-cel-sis", "De-o", "Ky-ri-e", "e-lei-son", "A-ve", "Ma-ri-a",
               "gra-ti-a", "ple-na", "Do-mi-nus", "te-cum", "the", "morn-ing", "light", "a-wakes", "my",
               "heart", "to", "sing", "sweet-ly", "flow-ing", "riv-er", "Lieb-chen", "Früh-ling", "kommt",
               "la", "bel-la", "not-te", "and", "ev-er-more", "Hal-le-lu-jah", "o", "come", "all", "ye",
               "faith-ful", "wan-der-ing", "Sanc-tus", "dein", "Herz", "a-mo-re", "mi-o", "shall", "we",
               "gath-er", "at", "the", "wa-ter"]
CHORDS = ["C", "G7", "Am", "Dm7", "F", "Em", "B♭maj7", "E7", "A7", "D", "Gsus4", "C/E", "F♯m7♭5", "Cmaj7",
          "D7", "G/B", "E♭", "Bdim", "A♭6", "Fm"]
FIGURES = [["6"], ["6", "4"], ["7"], ["6", "5"], ["4", "3"], ["4", "2"], ["♯"], ["♭"], ["5", "♯3"], ["♯6"],
           ["9", "7"], ["7", "♭5"], ["8", "6", "4"], ["2"], ["6", "♮4"]]


@dataclass(frozen=True)
class TextPlan:
    """Which kinds of text one page carries (drawn from the page's text stream)."""

    title: bool = False
    running_header: bool = False
    footer: bool = False
    labels: bool = False
    tempo: bool = False
    expressions: bool = False
    dynamic_words: bool = False
    verses: int = 0
    fingering: bool = False
    figured_bass: bool = False
    chord_symbols: bool = False
    rehearsal: bool = False
    measure_number_interval: int = 0  # Verovio mnumInterval (0 = at system starts)

    @classmethod
    def everything(cls, verses: int = 2) -> "TextPlan":
        """Every kind of text (for tests and pictures)."""
        return cls(True, True, True, True, True, True, True, verses, True, True, True, True, 5)


def draw_text_plan(rng: np.random.Generator) -> TextPlan:
    """Kinds of text for one page: each with its own probability, so most pages carry several."""
    chance = lambda p: bool(rng.random() < p)  # noqa: E731
    verses = int(rng.choice([0, 1, 2, 3], p=[0.6, 0.25, 0.1, 0.05]))
    return TextPlan(
        title=chance(0.6), running_header=chance(0.35), footer=chance(0.5), labels=chance(0.6),
        tempo=chance(0.65), expressions=chance(0.55), dynamic_words=chance(0.35), verses=verses,
        fingering=chance(0.3), figured_bass=chance(0.2), chord_symbols=chance(0.2), rehearsal=chance(0.3),
        measure_number_interval=int(rng.choice([0, 0, 1, 5, 10])),
    )


def verovio_options(plan: TextPlan) -> dict:
    """Verovio options that draw the encoded header/footer and the measure numbers."""
    return {"header": "encoded", "footer": "encoded", "mnumInterval": plan.measure_number_interval}


def _el(tag: str, attrib: dict | None = None, text: str | None = None) -> ET.Element:
    el = ET.Element(MEI_NS + tag, attrib or {})
    el.text = text
    return el


def _rend(text: str, **attrib: str) -> ET.Element:
    return _el("rend", attrib, text)


class _Writer:
    """Adds the planned text to one parsed MEI document."""

    def __init__(self, root: ET.Element, rng: np.random.Generator):
        self.root = root
        self.rng = rng
        self.measures = list(root.iter(MEI_NS + "measure"))[:MAX_TEXT_MEASURES]
        self.staff_ns = sorted({int(s.get("n", "1")) for m in self.measures
                                for s in m.findall(MEI_NS + "staff")})
        self.count = 0

    def pick(self, items):
        return items[int(self.rng.integers(len(items)))]

    def chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)

    def new_id(self, prefix: str) -> str:
        self.count += 1
        return f"t{prefix}{self.count:05d}"

    # -- page head and foot -------------------------------------------------------------
    def page_text(self, plan: TextPlan) -> None:
        score_def = self.root.find(f".//{MEI_NS}score/{MEI_NS}scoreDef")
        if score_def is None or score_def.find(MEI_NS + "pgHead") is not None:
            return
        at = 0
        if plan.title:
            head = _el("pgHead", {"func": "first"})
            block = _rend(None, halign="center", valign="top")
            title = self.pick(TITLES) + (f" in {self.pick(KEYS)}" if self.chance(0.4) else "")
            block.append(_rend(title, fontsize=self.pick(["x-large", "xx-large", "large"])))
            if self.chance(0.5):
                block.append(_el("lb"))
                block.append(_rend(self.pick(SUBTITLES), fontsize=self.pick(["small", "medium"])))
            head.append(block)
            if self.chance(0.85):
                head.append(_rend(self.pick(COMPOSERS), halign="right", valign="bottom"))
            if self.chance(0.35):
                head.append(_rend(self.pick(LYRICISTS), halign="left", valign="bottom"))
            score_def.insert(at, head)
            at += 1
        if plan.running_header:
            head = _el("pgHead", {"func": "all"})
            side = self.pick(["left", "right", "center"])
            head.append(_rend(f"{self.pick(TITLES)} — {self.pick(COMPOSERS)}", halign=side, valign="top",
                              fontsize="small"))
            score_def.insert(at, head)
            at += 1
        if plan.footer:
            foot = _el("pgFoot", {"func": "all"})
            if self.chance(0.7):
                foot.append(_rend(str(int(self.rng.integers(1, 60))), halign=self.pick(["center", "right"]),
                                  valign="bottom"))
            if self.chance(0.5):
                year = int(self.rng.integers(1850, 2026))
                foot.append(_rend(f"© {year} Edition Synthetica. All rights reserved.", halign="left",
                                  valign="bottom", fontsize="small"))
            if len(foot):
                score_def.insert(at, foot)

    def labels(self) -> None:
        defs = [sd for sd in self.root.iter(MEI_NS + "staffDef")]
        seen = set()
        for sd in defs:
            n = sd.get("n")
            if n in seen or sd.find(MEI_NS + "label") is not None:
                seen.add(n)
                continue
            seen.add(n)
            name, abbr = self.pick(INSTRUMENTS)
            sd.insert(0, _el("label", {}, name))
            if self.chance(0.5):
                sd.insert(1, _el("labelAbbr", {}, abbr))

    # -- control events -----------------------------------------------------------------
    def events_of(self, measure: ET.Element, staff_n: int, notes_only: bool = False) -> list[ET.Element]:
        staff = next((s for s in measure.findall(MEI_NS + "staff") if s.get("n") == str(staff_n)), None)
        if staff is None:
            return []
        layer = staff.find(MEI_NS + "layer")
        if layer is None:
            return []
        tags = ("note",) if notes_only else ("note", "chord", "rest")
        out = []
        for el in layer.iter():
            tag = el.tag.replace(MEI_NS, "")
            if tag in tags and el.get(XML_ID) and el.get("grace") is None:
                out.append(el)
        return out

    def add(self, measure: ET.Element, tag: str, attrib: dict, text: str | None = None) -> ET.Element:
        el = _el(tag, {XML_ID: self.new_id(tag[:2]), **attrib}, text)
        measure.append(el)
        return el

    def tempo(self) -> None:
        if not self.measures or not self.staff_ns:
            return
        words = self.pick(TEMPI)
        if self.chance(0.6):
            bpm = int(self.rng.integers(8, 36)) * 5
            if self.chance(0.8):
                words = f"{words} {self.pick(METRONOME_UNITS)} = {bpm}"
            else:
                words = f"{words} (♩ = {bpm})"
        elif self.chance(0.25):
            words = f"{self.pick(METRONOME_UNITS)} = {int(self.rng.integers(8, 36)) * 5}"
        attrib = {"staff": str(self.staff_ns[0]), "tstamp": "1", "place": "above"}
        self.add(self.measures[0], "tempo", attrib, words)

    def directions(self, tag: str, words: list[str], per_measure: float) -> None:
        for measure in self.measures:
            if not self.chance(per_measure):
                continue
            staff_n = self.pick(self.staff_ns)
            events = self.events_of(measure, staff_n)
            if not events:
                continue
            place = self.pick(["above", "below", "below"])
            self.add(measure, tag, {"staff": str(staff_n), "startid": "#" + self.pick(events).get(XML_ID),
                                    "place": place}, self.pick(words))

    def fingerings(self) -> None:
        staves = self.staff_ns if self.chance(0.5) else self.staff_ns[:1]
        density = float(self.rng.uniform(0.15, 0.5))
        place = self.pick(["above", "below", None])
        for measure in self.measures:
            for staff_n in staves:
                for note in self.events_of(measure, staff_n, notes_only=True):
                    if self.chance(density):
                        digit = "0" if self.chance(0.03) else str(int(self.rng.integers(1, 6)))
                        attrib = {"staff": str(staff_n), "startid": "#" + note.get(XML_ID)}
                        if place:
                            attrib["place"] = place
                        self.add(measure, "fing", attrib, digit)

    def figured_bass(self) -> None:
        staff_n = self.staff_ns[-1]
        density = float(self.rng.uniform(0.3, 0.7))
        for measure in self.measures:
            for event in self.events_of(measure, staff_n):
                if event.tag == MEI_NS + "rest" or not self.chance(density):
                    continue
                harm = self.add(measure, "harm", {"staff": str(staff_n), "startid": "#" + event.get(XML_ID),
                                                  "place": "below"})
                fb = _el("fb")
                for figure in self.pick(FIGURES):
                    fb.append(_el("f", {}, figure))
                harm.append(fb)

    def chord_symbols(self) -> None:
        staff_n = self.staff_ns[0]
        for measure in self.measures:
            events = self.events_of(measure, staff_n)
            second = [events[len(events) // 2]] if len(events) > 3 and self.chance(0.4) else []
            for event in events[:1] + second:
                self.add(measure, "harm", {"staff": str(staff_n), "startid": "#" + event.get(XML_ID),
                                           "place": "above"}, self.pick(CHORDS))

    def rehearsal(self) -> None:
        every = int(self.rng.integers(4, 13))
        numbered = self.chance(0.3)
        frame = self.pick(["box", "box", "circle", None])
        for i, measure in enumerate(self.measures[every::every]):
            label = str(every * (i + 1) + 1) if numbered else chr(ord("A") + i % 26)
            reh = self.add(measure, "reh", {"staff": str(self.staff_ns[0]), "tstamp": "1", "place": "above"})
            reh.append(_rend(label, rend=frame) if frame else _rend(label))

    # -- lyrics -------------------------------------------------------------------------
    def lyrics(self, verses: int) -> None:
        if any(el.tag in (MEI_NS + "verse", MEI_NS + "syl") for el in self.root.iter()):
            return  # the piece has its own lyrics
        staff_n = self.staff_ns[0] if self.chance(0.7) else self.pick(self.staff_ns)
        notes = [n for m in self.measures for n in self.events_of(m, staff_n, notes_only=True)
                 if not self._in_chord(n)]
        for verse_n in range(1, verses + 1):
            self._verse(notes, verse_n)

    def _in_chord(self, note: ET.Element) -> bool:
        return note.get("_inchord") == "1"

    def _verse(self, notes: list[ET.Element], verse_n: int) -> None:
        i = 0
        while i < len(notes):
            word = self.pick(LYRIC_WORDS).split("-")
            for k, syl in enumerate(word):
                if i >= len(notes):
                    break
                pos = "s" if len(word) == 1 else ("i" if k == 0 else ("t" if k == len(word) - 1 else "m"))
                attrib = {"wordpos": pos}
                if pos in ("i", "m"):
                    attrib["con"] = "d"
                melisma = int(self.rng.integers(1, 3)) if self.chance(0.12) else 0
                if melisma and pos in ("s", "t"):
                    attrib["con"] = "u"  # an extender line over the following notes
                verse = _el("verse", {"n": str(verse_n)})
                verse.append(_el("syl", attrib, syl))
                notes[i].append(verse)
                i += 1 + melisma


def _mark_chord_notes(root: ET.Element) -> None:
    for chord in root.iter(MEI_NS + "chord"):
        for note in chord.iter(MEI_NS + "note"):
            note.set("_inchord", "1")


def _unmark_chord_notes(root: ET.Element) -> None:
    for note in root.iter(MEI_NS + "note"):
        note.attrib.pop("_inchord", None)


def _drop_foreign(root: ET.Element) -> None:
    """Remove elements and attributes of other namespaces (metadata in the header, e.g. MADS
    records from Humdrum files): Verovio would read their prefixes back undeclared."""
    keep = (MEI_NS, "{http://www.w3.org/XML/1998/namespace}", "{http://www.w3.org/1999/xlink}")
    for parent in root.iter():
        for child in list(parent):
            if isinstance(child.tag, str) and child.tag.startswith("{") and not child.tag.startswith(MEI_NS):
                parent.remove(child)
        for name in [a for a in parent.attrib if a.startswith("{") and not a.startswith(keep)]:
            del parent.attrib[name]


def add_text(mei: str, plan: TextPlan, rng: np.random.Generator) -> str:
    """``mei`` with the text of ``plan`` added (ids of existing elements unchanged)."""
    ET.register_namespace("", MEI_URI)
    ET.register_namespace("xlink", "http://www.w3.org/1999/xlink")
    # a corpus file with a mis-decoded byte leaves lone surrogates that no XML parser takes
    root = ET.fromstring(mei.encode("utf-8", "replace"))
    _mark_chord_notes(root)
    writer = _Writer(root, rng)
    if writer.staff_ns:
        writer.page_text(plan)
        if plan.labels:
            writer.labels()
        if plan.tempo:
            writer.tempo()
        if plan.expressions:
            writer.directions("dir", EXPRESSIONS, float(rng.uniform(0.08, 0.3)))
        if plan.dynamic_words:
            writer.directions("dynam", DYNAMIC_WORDS, float(rng.uniform(0.05, 0.2)))
        if plan.verses:
            writer.lyrics(plan.verses)
        if plan.fingering:
            writer.fingerings()
        if plan.figured_bass:
            writer.figured_bass()
        if plan.chord_symbols:
            writer.chord_symbols()
        if plan.rehearsal:
            writer.rehearsal()
    _unmark_chord_notes(root)
    _drop_foreign(root)
    return ET.tostring(root, encoding="unicode")
