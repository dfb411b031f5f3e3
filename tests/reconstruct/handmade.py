"""Hand-built score pages for the music tests: real ink (staff lines, noteheads, stems, beams,
barlines drawn into a numpy page) plus the symbol boxes a detector would report.

Staff space 20 px; staff k's top line is at y = 100 + 200 k, so on the first staff the
staff position p (half spaces, 0 = bottom line) is at y = 180 - 10 p.
"""
from __future__ import annotations

import numpy as np
from skimage.draw import ellipse, ellipse_perimeter, polygon

from detector.reconstruct.staff import Staff

SS = 20.0
TOP = 100.0
HEAD_W = 1.18 * SS


class HandPage:
    """One staff of hand-placed music: `gray` is the page, `names`/`boxes` its symbols."""

    def __init__(self, width: int = 1400, staves: int = 1):
        height = int(TOP + 200 * staves + 20)
        self.gray = np.full((height, width), 255, dtype=np.uint8)
        self.names: list[str] = []
        self.boxes: list[list[float]] = []
        self.x0, self.x1 = 40.0, width - 40.0
        self.staves = []
        self.current = 0  # the staff that note(), symbol(), barline() draw on
        for s in range(staves):
            line_ys = np.array([[TOP + 200 * s + SS * k] * 2 for k in range(5)])  # [5, 2]
            self.staves.append(Staff(np.array([self.x0, self.x1]), line_ys, SS, 2.0))
            for k in range(5):
                y = int(TOP + 200 * s + SS * k)
                self.gray[y - 1:y + 1, int(self.x0):int(self.x1)] = 0

    @property
    def staff(self) -> Staff:
        return self.staves[self.current]

    def y(self, position: float) -> float:
        return TOP + 200 * self.current + 4 * SS - position * SS / 2

    def symbol(self, name: str, x: float, position: float, w: float = SS, h: float = 2 * SS) -> None:
        """A box-only symbol (clef, key, accidental, rest, time digit...) centred at x, position."""
        cy = self.y(position)
        self.names.append(name)
        self.boxes.append([x - w / 2, cy - h / 2, x + w / 2, cy + h / 2])

    def clef(self, name: str, x: float = 70) -> None:
        """A clef box as engravers draw it (G: 1.5 spaces below the staff to 1.75 above)."""
        centre, height = {"clefG": (4.2, 7.0), "clefF": (5.2, 3.3), "clefCAlto": (4.0, 4.0),
                          "clefCTenor": (6.0, 4.0)}[name]
        self.symbol(name, x, centre, w=1.3 * SS, h=height * SS)

    def note(self, x: float, position: int, kind: str = "Black", stem: str | None = "up",
             stem_len: float = 3.5 * SS) -> tuple[float, float]:
        """Draw a notehead (and its stem) at staff position; return the stem tip (x, y)."""
        cy = self.y(position)
        where = "OnLine" if position % 2 == 0 else "InSpace"
        self.names.append(f"notehead{kind}{where}")
        self.boxes.append([x - HEAD_W / 2, cy - SS / 2, x + HEAD_W / 2, cy + SS / 2])
        if kind == "Black":
            rr, cc = ellipse(cy, x, SS / 2, HEAD_W / 2, shape=self.gray.shape)
        else:
            rr, cc = ellipse_perimeter(int(cy), int(x), int(SS / 2) - 1, int(HEAD_W / 2) - 1, shape=self.gray.shape)
        self.gray[rr, cc] = 0
        if self._ledgers(x, position):
            pass
        if stem is None:
            return x, cy
        sx = x + HEAD_W / 2 - 1 if stem == "up" else x - HEAD_W / 2 + 1
        y0, y1 = (cy - stem_len, cy) if stem == "up" else (cy, cy + stem_len)
        self.gray[int(y0):int(y1), int(sx) - 1:int(sx) + 1] = 0
        self.names.append("stem")
        self.boxes.append([sx - 1, y0, sx + 1, y1])
        return sx, (y0 if stem == "up" else y1)

    def _ledgers(self, x: float, position: int) -> bool:
        """Ledger-line ink for notes outside the staff (not listed: ledgers are rebuilt)."""
        needed = list(range(-2, position - 1, -2)) + list(range(10, position + 1, 2))
        for p in needed:
            y = int(self.y(p))
            self.gray[y - 1:y + 1, int(x - HEAD_W / 2 - 8):int(x + HEAD_W / 2 + 8)] = 0
        return bool(needed)

    def beam(self, tip_a: tuple[float, float], tip_b: tuple[float, float], level: int = 1,
             up: bool = True) -> None:
        """A 0.5 ss thick beam between two stem tips, `level` 2 lying 0.75 ss further in."""
        shift = (level - 1) * 0.75 * SS * (1 if up else -1)
        (xa, ya), (xb, yb) = tip_a, tip_b
        t = 0.5 * SS * (1 if up else -1)
        rows = [ya + shift, yb + shift, yb + shift + t, ya + shift + t]
        rr, cc = polygon(rows, [xa - 1, xb + 1, xb + 1, xa - 1], shape=self.gray.shape)
        self.gray[rr, cc] = 0

    def beamed(self, xs: list[float], positions: list[int], beams: list[int]) -> None:
        """Up-stemmed black notes joined by a level beam 3.5 ss above the highest note.

        beams: beams per note (1 = 8th, 2 = 16th); a level only one note has gets a 1 ss hook
        towards its neighbour.
        """
        tip_y = self.y(max(positions)) - 3.5 * SS
        tips = [self.note(x, p, stem_len=self.y(p) - tip_y) for x, p in zip(xs, positions)]
        for level in range(1, max(beams) + 1):
            for k, (a, b) in enumerate(zip(tips, tips[1:])):
                if beams[k] >= level and beams[k + 1] >= level:
                    self.beam(a, b, level)
            for k, tip in enumerate(tips):
                alone = beams[k] >= level and not any(
                    0 <= j < len(tips) and beams[j] >= level for j in (k - 1, k + 1))
                if alone:
                    other = (tip[0] - SS, tip[1]) if k == len(tips) - 1 else (tip[0] + SS, tip[1])
                    self.beam(min(tip, other), max(tip, other), level)

    def dot(self, x: float, position: float) -> None:
        self.symbol("augmentationDot", x, position, w=0.4 * SS, h=0.4 * SS)
        cy = int(self.y(position))
        self.gray[cy - 3:cy + 3, int(x) - 3:int(x) + 3] = 0

    def barline(self, x: float, through: int = 1) -> None:
        """A barline on the current staff, reaching down through `through` staves (a system)."""
        top = TOP + 200 * self.current
        bottom = TOP + 200 * (self.current + through - 1) + 4 * SS
        self.gray[int(top):int(bottom) + 1, int(x) - 1:int(x) + 1] = 0

    def time(self, x: float, beats: int, beat_type: int) -> None:
        self.symbol(f"timeSig{beats}", x, 6, h=2 * SS)
        self.symbol(f"timeSig{beat_type}", x, 2, h=2 * SS)

    def arrays(self) -> tuple[list[str], np.ndarray]:
        return list(self.names), np.array(self.boxes, dtype=float).reshape(-1, 4)


def two_voice_bar() -> HandPage:
    """Two half notes stemmed up over four quarters stemmed down, each half over a quarter."""
    page = HandPage()
    page.clef("clefG")
    page.time(115, 4, 4)
    page.note(180, 6, "Half", stem="up")
    page.note(330, 5, "Half", stem="up")
    for k, position in enumerate([0, 1, 2, 3]):
        page.note(180 + 75 * k, position, stem="down")
    page.barline(520)
    return page


def triplet_bar() -> HandPage:
    """Three beamed eighths with a 3 about 1.25 spaces above their stem tips, then a quarter."""
    page = HandPage()
    page.clef("clefG")
    page.beamed([170, 215, 260], [2, 3, 4], [1, 1, 1])
    page.symbol("tuplet3", 215, 13.5, w=0.6 * SS, h=0.9 * SS)
    page.note(330, 4, stem="down")
    page.barline(390)
    return page
