"""Staff-line detection: run-length metrics, strip projections, 5-line staves traced as y(x).

Why strips: a whole-page horizontal projection smears lines as soon as the page is skewed by
a fraction of a degree. Projecting narrow vertical strips (a few staff spaces wide) keeps
each line a sharp peak up to several degrees of skew; linking the strips' 5-line groups from
left to right then follows skew and slight curvature (Fujinaga; Cardoso & Rebelo 2010).

Coordinates are continuous page pixels: pixel row ``r`` covers ``[r, r+1)``, so its centre
is ``r + 0.5``, the convention of the annotation boxes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from detector.reconstruct.binarize import binarize
from detector.reconstruct.rules import EngravingRules


@dataclass
class Staff:
    """One five-line staff, each line as y(x) sampled at ``xs`` (linear in between and beyond)."""

    xs: np.ndarray  # [K] increasing x, page px; xs[0] and xs[-1] are the staff's left and right ends
    line_ys: np.ndarray  # [5, K] y of each line at xs, top line first
    staff_space_px: float  # median distance between neighbouring lines
    line_thickness_px: float  # page-wide most frequent black vertical run

    def y_at(self, line: int, x: float | np.ndarray) -> float | np.ndarray:
        """y of line ``line`` (0 = top, 4 = bottom) at ``x``, extrapolated linearly past the ends."""
        return _interp_extrapolate(x, self.xs, self.line_ys[line])

    def position(self, x: float | np.ndarray, y: float | np.ndarray) -> float | np.ndarray:
        """Staff position of point (x, y) in half spaces: 0 = bottom line, 8 = top line, negative below."""
        top, bottom = self.y_at(0, x), self.y_at(4, x)
        return 8.0 * (bottom - np.asarray(y, dtype=float)) / (bottom - top)

    def y_of_position(self, position: float | np.ndarray, x: float | np.ndarray) -> float | np.ndarray:
        """Inverse of ``position``: y of staff position ``position`` at ``x`` (ledger lines: -2, 10, ...)."""
        top, bottom = self.y_at(0, x), self.y_at(4, x)
        return bottom - np.asarray(position, dtype=float) * (bottom - top) / 8.0

    def slope_at(self, x: float) -> float:
        """dy/dx of the staff's middle line at ``x`` (the page's local skew)."""
        k = int(np.clip(np.searchsorted(self.xs, x), 1, len(self.xs) - 1))
        return float((self.line_ys[2, k] - self.line_ys[2, k - 1]) / max(self.xs[k] - self.xs[k - 1], 1e-6))

    @property
    def x0(self) -> float:
        return float(self.xs[0])

    @property
    def x1(self) -> float:
        return float(self.xs[-1])

    @property
    def box(self) -> tuple[float, float, float, float]:
        """``[x0, y0, x1, y1]``: the staff's extent, outer edges of its top and bottom lines."""
        half = 0.5 * self.line_thickness_px
        return (self.x0, float(self.line_ys[0].min()) - half, self.x1, float(self.line_ys[4].max()) + half)


@dataclass
class StaffDetection:
    """The staves of a page (top to bottom) and, when there are none, why."""

    staves: list[Staff]
    reason: str  # "" when staves were found; otherwise one line saying why not
    staff_space_px: Optional[float] = None  # median of the staves' (run-length estimate when none)
    line_thickness_px: Optional[float] = None
    notes: list[str] = field(default_factory=list)  # counted oddities (partial staves ignored, ...)


def _interp_extrapolate(x, xs: np.ndarray, ys: np.ndarray):
    """np.interp, but continuing the end segments' slopes beyond ``xs`` (skewed lines)."""
    if np.ndim(x) == 0:  # the common scalar call, without array machinery
        x = float(x)
        if len(xs) >= 2 and x < xs[0]:
            return float(ys[0] + (x - xs[0]) * (ys[1] - ys[0]) / max(xs[1] - xs[0], 1e-6))
        if len(xs) >= 2 and x > xs[-1]:
            return float(ys[-1] + (x - xs[-1]) * (ys[-1] - ys[-2]) / max(xs[-1] - xs[-2], 1e-6))
        return float(np.interp(x, xs, ys))
    x_arr = np.asarray(x, dtype=float)
    y = np.interp(x_arr, xs, ys)
    if len(xs) >= 2:
        left_slope = (ys[1] - ys[0]) / max(xs[1] - xs[0], 1e-6)
        right_slope = (ys[-1] - ys[-2]) / max(xs[-1] - xs[-2], 1e-6)
        y = np.where(x_arr < xs[0], ys[0] + (x_arr - xs[0]) * left_slope, y)
        y = np.where(x_arr > xs[-1], ys[-1] + (x_arr - xs[-1]) * right_slope, y)
    return float(y) if np.ndim(y) == 0 else y


# --------------------------------------------------------------------------- run lengths


def vertical_runs(ink: np.ndarray, column_step: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """Lengths of vertical black runs and of the white runs between them, every ``column_step`` columns."""
    cols = ink[:, ::column_step].T  # [C, H]
    padded = np.zeros((cols.shape[0], cols.shape[1] + 2), dtype=np.int8)
    padded[:, 1:-1] = cols
    change = np.diff(padded, axis=1)  # [C, H+1]
    start_c, start_r = np.nonzero(change == 1)
    _, end_r = np.nonzero(change == -1)  # same order: runs alternate start/end within a column
    black = end_r - start_r
    same_column = start_c[1:] == start_c[:-1]
    white = (start_r[1:] - end_r[:-1])[same_column]
    return black, white


def estimate_line_metrics(
    ink: np.ndarray, rules: Optional[EngravingRules] = None,
) -> tuple[Optional[float], Optional[float], str]:
    """(line thickness px, staff space px, reason): the most frequent black and black+white runs.

    The staff space returned is the line-to-line distance (white run + line thickness).
    Returns ``(None, None, reason)`` when the histogram shows no staff-like regularity.
    """
    rules = rules or EngravingRules()
    black, white = vertical_runs(ink)
    if len(black) < rules.staff_min_runs or len(white) < rules.staff_min_runs:
        return None, None, "too little ink for staff lines"
    thickness = float(np.bincount(black).argmax())
    white_mode = float(np.bincount(white).argmax())
    space = white_mode + thickness
    if (not rules.min_staff_space_px <= space <= rules.max_staff_space_px
            or white_mode < rules.staff_min_gap_to_line * thickness):
        return None, None, (
            f"no staff-like run lengths (black run {thickness:.0f} px, white run {white_mode:.0f} px)"
        )
    return thickness, space, ""


# --------------------------------------------------------------------------- strips


def _strip_line_candidates(profile: np.ndarray, max_height: float, rules: EngravingRules) -> np.ndarray:
    """Sub-pixel centres of the line-like peaks of one strip's row profile ``[H]`` (ink share)."""
    on = np.concatenate([[False], profile >= rules.staff_row_fill, [False]])
    change = np.diff(on.astype(np.int8))
    starts, ends = np.flatnonzero(change == 1), np.flatnonzero(change == -1)
    keep = (ends - starts) <= max_height
    centres = []
    for s, e in zip(starts[keep], ends[keep]):
        w = profile[s:e]
        centres.append(float(np.dot(np.arange(s, e) + 0.5, w) / w.sum()))
    return np.array(centres)


def _five_line_groups(centres: np.ndarray, space: float, rules: EngravingRules) -> list[np.ndarray]:
    """Every chain of 5 candidates spaced one staff space apart.

    Ledger lines and beams can continue a staff's spacing, so a strip may hold more than
    five equally spaced lines; all chains are kept and the linking across strips picks the
    one that continues each staff.
    """
    groups: list[np.ndarray] = []
    lo, hi = (1 - rules.staff_spacing_tolerance) * space, (1 + rules.staff_spacing_tolerance) * space
    for i in range(len(centres)):
        chain = [i]
        while len(chain) < 5:
            gaps = centres[chain[-1] + 1:] - centres[chain[-1]]
            ok = np.flatnonzero((gaps >= lo) & (gaps <= hi))
            if len(ok) == 0:
                break
            chain.append(chain[-1] + 1 + ok[np.argmin(np.abs(gaps[ok] - space))])
        if len(chain) == 5:
            groups.append(centres[chain])
    return groups


def _predict_middle(track: list[tuple[float, np.ndarray]], x: float, rules: EngravingRules) -> float:
    """The track's middle-line y extrapolated to ``x`` from its last strips (skew-aware, robust).

    Medians of pairwise slopes and of the projected points: one strip where a beam pulled
    the line's centroid must not throw the prediction off.
    """
    recent = track[-rules.staff_predict_strips:]
    xs = np.array([p[0] for p in recent])
    mids = np.array([p[1][2] for p in recent])
    if len(recent) < 3:
        return float(mids[-1])
    dx = xs[None, :] - xs[:, None]
    pairs = dx > 0
    slopes = (mids[None, :] - mids[:, None])[pairs] / dx[pairs]
    slope = float(np.clip(np.median(slopes), -rules.max_skew_slope, rules.max_skew_slope))
    return float(np.median(mids + slope * (x - xs)))


def _join_broken_tracks(
    tracks: list[list[tuple[float, np.ndarray]]], space: float, rules: EngravingRules,
) -> list[list[tuple[float, np.ndarray]]]:
    """Join a track that ends where another, later one starts on the same lines (a staff broken in two)."""
    tracks = sorted(tracks, key=lambda t: t[0][0])
    joined = True
    while joined:
        joined = False
        for a in tracks:
            for b in tracks:
                if b is a or b[0][0] <= a[-1][0]:
                    continue
                tolerance = rules.staff_link_sp * space + rules.staff_link_drift * (b[0][0] - a[-1][0])
                if abs(_predict_middle(a, b[0][0], rules) - b[0][1][2]) <= tolerance:
                    a.extend(b)
                    tracks.remove(b)
                    joined = True
                    break
            if joined:
                break
    return tracks


def _link_groups(
    groups_by_strip: list[list[np.ndarray]], strip_x: np.ndarray, space: float, rules: EngravingRules,
) -> list[list[tuple[float, np.ndarray]]]:
    """Join the strips' 5-line groups into tracks, left to right, by the predicted middle line.

    Each track takes at most one group per strip, the nearest to its prediction (a chain
    shifted by a line onto ledger lines is a space away and is not taken); groups no track
    takes start new tracks.
    """
    tracks: list[list[tuple[float, np.ndarray]]] = []
    for x, groups in zip(strip_x, groups_by_strip):
        pairs = []
        for t, track in enumerate(tracks):
            tolerance = rules.staff_link_sp * space + rules.staff_link_drift * (x - track[-1][0])
            predicted = _predict_middle(track, x, rules)
            for g, ys in enumerate(groups):
                d = abs(ys[2] - predicted)
                if d <= tolerance:
                    pairs.append((d, t, g))
        used_tracks, used_groups = set(), set()
        for d, t, g in sorted(pairs):
            if t in used_tracks or g in used_groups:
                continue
            used_tracks.add(t)
            used_groups.add(g)
            tracks[t].append((float(x), groups[g]))
        for g, ys in enumerate(groups):
            overlapping = any(_shares_lines(ys, groups[u], space, rules) for u in used_groups)
            if g not in used_groups and not overlapping:
                tracks.append([(float(x), ys)])
    return tracks


def _shares_lines(a: np.ndarray, b: np.ndarray, space: float, rules: EngravingRules) -> bool:
    """Two chains of one strip that overlap (one is the other shifted by a line or two)."""
    margin = rules.staff_chain_overlap_sp * space
    return bool(a[0] < b[4] + margin and b[0] < a[4] + margin)


def _robust_line_fit(
    xs: np.ndarray, ys: np.ndarray, space: float, rules: EngravingRules, degree: int = 2,
) -> tuple[np.ndarray, np.ndarray]:
    """Polynomial y(x) through one line's strip points, dropping outliers (symbols on the line)."""
    keep = np.ones(len(xs), dtype=bool)
    deg = min(degree, max(0, len(xs) - 2))
    coef = np.polyfit(xs, ys, deg)
    for _ in range(3):
        resid = np.abs(np.polyval(coef, xs) - ys)
        # a pixel, a share of the space, or the robust sigmas (1.4826 * median) of the residuals
        floor = rules.staff_fit_residual_sp * space
        new_keep = resid <= max(1.0, floor, rules.outlier_sigmas * np.median(resid[keep]) * 1.4826)
        if new_keep.sum() < deg + 2 or np.array_equal(new_keep, keep):
            break
        keep = new_keep
        coef = np.polyfit(xs[keep], ys[keep], deg)
    return coef, keep


def _horizontal_extent(
    ink: np.ndarray, coefs: list[np.ndarray], seed_xs: np.ndarray, thickness: float, space: float,
    rules: EngravingRules,
) -> tuple[int, int]:
    """First and last column (exclusive end) where enough of the 5 traced lines have ink."""
    height, width = ink.shape
    cols = np.arange(width)
    reach = int(np.ceil(thickness / 2)) + 1
    inked = np.zeros(width, dtype=np.int32)
    for coef in coefs:
        rows = np.floor(np.polyval(coef, cols)).astype(int)
        hit = np.zeros(width, dtype=bool)
        for dr in range(-reach, reach + 1):
            r = np.clip(rows + dr, 0, height - 1)
            hit |= ink[r, cols]
        inked += hit
    on = inked >= rules.staff_extent_lines
    # bridge short breaks (scan dropouts) so that one staff is one run
    gap = int(round(rules.staff_break_sp * space))
    idx = np.flatnonzero(on)
    if len(idx) == 0:
        return int(seed_xs.min()), int(seed_xs.max()) + 1
    breaks = np.flatnonzero(np.diff(idx) > gap)
    run_starts = np.concatenate([[idx[0]], idx[breaks + 1]])
    run_ends = np.concatenate([idx[breaks], [idx[-1]]]) + 1
    centre = np.median(seed_xs)
    overlap = [(min(e, seed_xs.max()) - max(s, seed_xs.min()), s, e) for s, e in zip(run_starts, run_ends)]
    _, s, e = max(overlap, key=lambda t: (t[0], -abs((t[1] + t[2]) / 2 - centre)))
    return int(s), int(e)


def _line_ink_share(ink: np.ndarray, coef: np.ndarray, x0: float, x1: float, thickness: float) -> float:
    """Share of the columns in [x0, x1] where the line y(x) = polyval(coef, x) has ink."""
    height, width = ink.shape
    cols = np.arange(max(0, int(x0)), min(width, int(x1) + 1), 2)
    if len(cols) == 0:
        return 0.0
    rows = np.floor(np.polyval(coef, cols)).astype(int)
    hit = np.zeros(len(cols), dtype=bool)
    for dr in range(-int(np.ceil(thickness / 2)) - 1, int(np.ceil(thickness / 2)) + 2):
        r = rows + dr
        inside = (r >= 0) & (r < height)
        hit[inside] |= ink[r[inside], cols[inside]]
    return float(hit.mean())


def _settle_on_the_staff_lines(
    ink: np.ndarray, coefs: list[np.ndarray], xs: np.ndarray, thickness: float, rules: EngravingRules,
) -> list[np.ndarray]:
    """Shift a five-line fit by whole lines until it sits on the five lines inked end to end.

    Where many notes have ledger lines at the same position, a strip shows six or more
    equally spaced lines and a track may have followed four staff lines plus the ledger
    row. Staff lines are inked along the whole staff, a ledger row only in places.
    """
    for _ in range(2):
        above = coefs[0] - (coefs[1] - coefs[0])
        below = coefs[4] + (coefs[4] - coefs[3])
        share = {name: _line_ink_share(ink, c, xs.min(), xs.max(), thickness)
                 for name, c in (("above", above), ("top", coefs[0]), ("bottom", coefs[4]), ("below", below))}
        inked, margin = rules.staff_line_ink_share, rules.staff_line_ink_margin
        if share["above"] > inked and share["above"] > share["bottom"] + margin:
            coefs = [above] + coefs[:4]
        elif share["below"] > inked and share["below"] > share["top"] + margin:
            coefs = coefs[1:] + [below]
        else:
            break
    return coefs


def _staff_from_track(
    track: list[tuple[float, np.ndarray]], ink: np.ndarray, thickness: float, space: float,
    rules: EngravingRules,
) -> Optional[Staff]:
    """Fit the five lines of one track and measure where the staff starts and ends."""
    xs = np.array([x for x, _ in track])
    ys = np.stack([g for _, g in track], axis=1)  # [5, S]
    fits = [_robust_line_fit(xs, ys[line], space, rules) for line in range(5)]
    coefs = _settle_on_the_staff_lines(ink, [coef for coef, _ in fits], xs, thickness, rules)
    x0, x1 = _horizontal_extent(ink, coefs, xs, thickness, space, rules)
    if x1 - x0 < rules.min_staff_length_sp * space:
        return None
    sample_xs = np.concatenate([[float(x0)], xs[(xs > x0) & (xs < x1)], [float(x1)]])
    line_ys = np.stack([np.polyval(coef, sample_xs) for coef in coefs])  # [5, K]
    if np.any(np.diff(line_ys, axis=0) <= rules.staff_min_line_gap_sp * space):
        return None  # lines crossing: two staves mixed up, or a beam pattern
    staff_space = float(np.median((line_ys[4] - line_ys[0]) / 4.0))
    return Staff(sample_xs, line_ys, staff_space, thickness)


def detect_staves(
    gray: np.ndarray, ink: Optional[np.ndarray] = None, strip_width_sp: Optional[float] = None,
    rules: Optional[EngravingRules] = None,
) -> StaffDetection:
    """Find the page's five-line staves; never raises on blank, noisy or cut-off pages.

    Args:
        gray: ``[H, W] uint8`` page, ink dark.
        ink: its binarisation (``binarize(gray)``) when already computed.
        strip_width_sp: width of the projection strips in staff spaces (narrower follows
            steeper skew, wider is less disturbed by symbols); ``rules.staff_strip_sp`` when None.
        rules: the thresholds (defaults when None).
    """
    rules = rules or EngravingRules()
    strip_width_sp = rules.staff_strip_sp if strip_width_sp is None else strip_width_sp
    ink = binarize(gray) if ink is None else ink
    if not ink.any():
        return StaffDetection([], "no staves found: the page has no ink (blank page)")
    thickness, space, why = estimate_line_metrics(ink, rules)
    if thickness is None:
        return StaffDetection([], f"no staves found: {why}")
    height, width = ink.shape
    strip_w = max(8, int(round(strip_width_sp * space)))
    edges = np.arange(0, width, strip_w)
    widths = np.diff(np.append(edges, width)).astype(np.float32)
    profiles = np.add.reduceat(ink.view(np.uint8), edges, axis=1, dtype=np.int32) / widths  # [H, S]
    strip_x = edges + 0.5 * widths
    max_height = thickness + rules.staff_line_max_height_sp * space
    groups = [
        _five_line_groups(_strip_line_candidates(profiles[:, s], max_height, rules), space, rules)
        for s in range(len(edges))
    ]
    tracks = _join_broken_tracks(_link_groups(groups, strip_x, space, rules), space, rules)
    staves, notes = [], []
    min_strips = rules.min_staff_strips
    fragments = sum(1 for t in tracks if len(t) < min_strips)
    if fragments:
        notes.append(f"{fragments} five-line fragments seen in fewer than {min_strips} strips ignored")
    for track in tracks:
        if len(track) >= min_strips:
            staff = _staff_from_track(track, ink, thickness, space, rules)
            if staff is not None:
                staves.append(staff)
    staves = _drop_overlapping(staves)
    staves.sort(key=lambda s: float(np.mean(s.line_ys[2])))
    reason = "" if staves else (
        f"no staves found: no five equally spaced lines (space {space:.1f} px) in {min_strips}+ strips"
    )
    if staves:  # the traced lines measure the space to a fraction of a pixel
        space = float(np.median([s.staff_space_px for s in staves]))
    return StaffDetection(staves, reason, space, thickness, notes)


def _drop_overlapping(staves: list[Staff]) -> list[Staff]:
    """Keep the longest of staves that overlap: real staves never do, so the shorter one is a track
    broken in two, or ledger lines and beams that happened to line up with a staff's lines."""
    kept: list[Staff] = []
    for staff in sorted(staves, key=lambda s: s.x1 - s.x0, reverse=True):
        if not any(_overlap(staff, k) for k in kept):
            kept.append(staff)
    return kept


def _overlap(a: Staff, b: Staff) -> bool:
    """Whether two staves cover the same page area at some x (skew-aware: compared x by x)."""
    lo, hi = max(a.x0, b.x0), min(a.x1, b.x1)
    if lo >= hi:
        return False
    xs = np.linspace(lo, hi, 9)
    a_top, a_bottom = a.y_at(0, xs), a.y_at(4, xs)
    b_top, b_bottom = b.y_at(0, xs), b.y_at(4, xs)
    return bool(np.any((a_top < b_bottom) & (b_top < a_bottom)))


# --------------------------------------------------------------------------- notes on staves


@dataclass
class StaffLocation:
    """Where a point sits: the staff index (page order) and the staff position in half spaces."""

    staff_index: int
    position: float  # 0 = bottom line, 8 = top line; round() gives the line/space


def locate_candidates(
    staves: list[Staff], x: float, y: float, max_distance_sp: float = 8.0,
) -> list[StaffLocation]:
    """Staves a notehead centre (x, y) may belong to, nearest first (vertical distance at x).

    A staff qualifies when it spans x (within a staff space) and (x, y) is at most
    ``max_distance_sp`` staff spaces above its top line or below its bottom line.
    """
    found = []
    for i, staff in enumerate(staves):
        sp = staff.staff_space_px
        if not staff.x0 - sp <= x <= staff.x1 + sp:
            continue
        top, bottom = float(staff.line_ys[0].min()), float(staff.line_ys[4].max())
        if y < top - (max_distance_sp + 1) * sp or y > bottom + (max_distance_sp + 1) * sp:
            continue
        pos = float(staff.position(x, y))
        outside = max(0.0, -pos, pos - 8.0)  # half spaces outside the staff
        if outside <= 2 * max_distance_sp:
            found.append((outside, StaffLocation(i, pos)))
    return [loc for _, loc in sorted(found, key=lambda t: t[0])]


def locate(staves: list[Staff], x: float, y: float, max_distance_sp: float = 8.0) -> Optional[StaffLocation]:
    """The staff a notehead centre (x, y) belongs to by distance alone: the nearest one at x.

    Between two staves ``structure.place_noteheads`` also asks the ink which staff's ledger
    lines the note stands on; this is the geometric part of that decision.
    """
    found = locate_candidates(staves, x, y, max_distance_sp)
    return found[0] if found else None
