"""Systems and parts: which staves are played together, and which belong to one instrument.

Staves of one system are joined at their left end by a vertical line (or a brace) through
the gap between them. A brace joining two staves makes them one grand-staff part. When every
system has the same layout, the k-th part of each system is the same instrument, so a part
runs through the page's systems.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from detector.reconstruct.music import Part, StaffMusic
from detector.reconstruct.rules import EngravingRules


def _joined_at_left(ink: np.ndarray, upper, lower, rules: EngravingRules) -> bool:
    """True when a vertical ink line joins the bottom of `upper` to the top of `lower` near their left end."""
    ss = float(upper.staff_space_px)
    x_left = max(float(upper.xs[0]), float(lower.xs[0]))
    y0, y1 = int(round(upper.y_at(4, x_left))), int(round(lower.y_at(0, x_left)))
    if y1 <= y0:
        return True
    h, w = ink.shape
    reach = rules.system_join_search_sp * ss
    for x in range(int(x_left - reach), int(x_left + reach) + 1):
        if 0 <= x < w and ink[max(0, y0):min(h, y1), x].mean() >= rules.system_join_cover:
            return True
    return False


def _braced(upper, lower, names: Sequence[str], boxes: np.ndarray) -> bool:
    """True when a brace box spans from `upper`'s staff into `lower`'s."""
    for name, box in zip(names, boxes):
        if name != "brace":
            continue
        if box[1] <= np.mean(upper.line_ys[2]) and box[3] >= np.mean(lower.line_ys[2]):
            return True
    return False


def group_systems(ink: np.ndarray, staves: Sequence[StaffMusic], names: Sequence[str],
                  boxes: np.ndarray, rules: Optional[EngravingRules] = None) -> list[list[list[StaffMusic]]]:
    """Systems (top to bottom), each a list of staff groups (one group per part, 1-2 staves).

    ink: the page's [H, W] bool ink mask; names/boxes: the page's symbols (ink frame);
    rules: the thresholds (defaults when None).
    """
    rules = rules or EngravingRules()
    if not staves:
        return []
    systems: list[list[list[StaffMusic]]] = [[[staves[0]]]]
    for prev, cur in zip(staves, staves[1:]):
        braced = _braced(prev.staff, cur.staff, names, boxes)
        if braced and len(systems[-1][-1]) == 1:
            systems[-1][-1].append(cur)
        elif braced or _joined_at_left(ink, prev.staff, cur.staff, rules):
            systems[-1].append([cur])
        else:
            systems.append([[cur]])
    return systems


def group_parts(ink: np.ndarray, staves: Sequence[StaffMusic], names: Sequence[str],
                boxes: np.ndarray, rules: Optional[EngravingRules] = None) -> list[Part]:
    """Parts of the page: the k-th staff group of each system is part k.

    Systems with a different layout than the first (a part tacet, a page of mixed systems)
    add their groups to the part of the same index when the staff counts agree, else start
    a new part, so no staff is ever lost.
    """
    parts: list[Part] = []
    for system in group_systems(ink, staves, names, boxes, rules):
        for k, group in enumerate(system):
            match = parts[k] if k < len(parts) and parts[k].staff_count == len(group) else None
            if match is None:
                match = Part(id=f"P{len(parts) + 1}", staff_count=len(group))
                parts.append(match)
            match.systems.append(group)
    return parts
