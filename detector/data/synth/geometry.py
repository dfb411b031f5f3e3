"""Exact bounding boxes of the SVG shapes Verovio draws: cubic Bezier paths and polylines.

Slurs, ties and braces are filled Bezier outlines, whose control points lie well outside
the ink; their box comes from the curve's extremes (roots of the derivative). Hairpins,
tuplet and octave brackets are stroked polylines; their box comes from the stroke's
outline (segments widened by half the stroke, ends extended by square caps).
"""
from __future__ import annotations

import math
import re

Box = tuple[float, float, float, float]
_TOKEN = re.compile(r"[MLCZmlcz]|-?\d+(?:\.\d+)?(?:e-?\d+)?")


def _cubic_extremes(p0: float, p1: float, p2: float, p3: float) -> list[float]:
    """Values of a 1-D cubic Bezier at t = 0, 1 and where its derivative vanishes."""
    a = -p0 + 3 * p1 - 3 * p2 + p3
    b = 2 * (p0 - 2 * p1 + p2)
    c = p1 - p0
    ts = [0.0, 1.0]
    if abs(a) < 1e-12:
        if abs(b) > 1e-12:
            ts.append(-c / b)
    else:
        disc = b * b - 4 * a * c
        if disc >= 0:
            root = math.sqrt(disc)
            ts += [(-b + root) / (2 * a), (-b - root) / (2 * a)]

    def at(t: float) -> float:
        u = 1 - t
        return u * u * u * p0 + 3 * u * u * t * p1 + 3 * u * t * t * p2 + t * t * t * p3

    return [at(t) for t in ts if 0.0 <= t <= 1.0]


def path_box(d: str) -> Box | None:
    """Box of an absolute ``M/L/C/Z`` path's outline (no stroke), or None if it has no points."""
    tokens = _TOKEN.findall(d)
    xs, ys = [], []
    command, cursor, i = "M", (0.0, 0.0), 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.isalpha():
            command, i = tok.upper(), i + 1
            continue
        if command in ("M", "L"):
            cursor = (float(tokens[i]), float(tokens[i + 1]))
            xs.append(cursor[0])
            ys.append(cursor[1])
            i += 2
        elif command == "C":
            (x1, y1), (x2, y2), (x3, y3) = ((float(tokens[i + k]), float(tokens[i + k + 1])) for k in (0, 2, 4))
            xs += _cubic_extremes(cursor[0], x1, x2, x3)
            ys += _cubic_extremes(cursor[1], y1, y2, y3)
            cursor, i = (x3, y3), i + 6
        else:
            i += 1
    if not xs:
        return None
    return min(xs), min(ys), max(xs), max(ys)


def polyline_box(points: list[tuple[float, float]], stroke_width: float, square_caps: bool) -> Box | None:
    """Box of a stroked polyline with bevel-like joins: each segment is a rectangle of the
    stroke's width; square caps lengthen the first and last segment by half the width."""
    if len(points) < 2:
        return None
    half = stroke_width / 2.0
    xs, ys = [], []
    last = len(points) - 2
    for k, ((xa, ya), (xb, yb)) in enumerate(zip(points, points[1:])):
        length = math.hypot(xb - xa, yb - ya)
        if length == 0:
            continue
        ux, uy = (xb - xa) / length, (yb - ya) / length
        if square_caps and k == 0:
            xa, ya = xa - ux * half, ya - uy * half
        if square_caps and k == last:
            xb, yb = xb + ux * half, yb + uy * half
        nx, ny = -uy * half, ux * half
        for x, y in ((xa, ya), (xb, yb)):
            xs += [x + nx, x - nx]
            ys += [y + ny, y - ny]
    if not xs:
        return None
    return min(xs), min(ys), max(xs), max(ys)


def parse_points(text: str) -> list[tuple[float, float]]:
    """``"x1,y1 x2,y2 ..."`` -> [(x1, y1), ...]."""
    values = [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?(?:e-?\d+)?", text)]
    return list(zip(values[0::2], values[1::2]))


def union(a: Box | None, b: Box) -> Box:
    """The smallest box holding both (``a`` may be None)."""
    if a is None:
        return b
    return min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])
