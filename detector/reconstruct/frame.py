"""The annotation frame: where a dataset's boxes sit relative to the page's ink.

DSv2 boxes are not drawn exactly on the ink: on the sample page every box sits about 2.4 px
above its ink at the top of the page and 0.8 px above at the bottom (a rendering offset of
the dataset). A 4.5 px high ledger line shifted by 2.4 px has IoU 0.3 with its own ink, so
rebuilt boxes must be emitted in the frame of the input boxes. That frame is measured from
the input noteheads themselves: a notehead's centre lies on a staff line or in a space, so
the residual of its box centre from the nearest half-space of the (ink-traced) staff is the
offset. Fitted as ``dy = a + b * y`` (robust); synthetic pages come out at ~0.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

from detector.reconstruct.rules import EngravingRules
from detector.reconstruct.staff import Staff, locate
from detector.reconstruct.symbols import Symbol, is_notehead


@dataclass(frozen=True)
class BoxFrame:
    """Box y = ink y + ``dy_at(y)``, with ``dy_at(y) = dy0 + dy_slope * y`` (page px)."""

    dy0: float = 0.0
    dy_slope: float = 0.0
    samples: int = 0  # noteheads the fit used (0 = default identity frame)

    def dy_at(self, y: float) -> float:
        return self.dy0 + self.dy_slope * y

    def to_boxes(self, box: Sequence[float]) -> tuple[float, float, float, float]:
        """An ink-frame box in the annotation frame."""
        x0, y0, x1, y1 = box
        dy = self.dy_at(0.5 * (y0 + y1))
        return (float(x0), float(y0 + dy), float(x1), float(y1 + dy))

    def to_ink(self, box: Sequence[float]) -> tuple[float, float, float, float]:
        """An annotation-frame box in the ink frame (the offset is slowly varying: one step suffices)."""
        x0, y0, x1, y1 = box
        dy = self.dy_at(0.5 * (y0 + y1))
        return (float(x0), float(y0 - dy), float(x1), float(y1 - dy))


def estimate_box_frame(staves: list[Staff], symbols: Sequence[Symbol],
                       rules: Optional[EngravingRules] = None) -> BoxFrame:
    """Fit the annotation offset from the noteheads' residuals to the staff grid."""
    rules = rules or EngravingRules()
    reach = rules.frame_position_reach_hs
    ys, resid = [], []
    for s in symbols:
        if not is_notehead(s.class_name):
            continue
        cx, cy = s.center
        loc = locate(staves, cx, cy, rules.notehead_max_outside_sp)
        if loc is None or not -reach <= loc.position <= 8 + reach:
            continue
        staff = staves[loc.staff_index]
        ys.append(cy)
        resid.append(cy - float(staff.y_of_position(round(loc.position), cx)))
    if len(ys) < rules.frame_min_noteheads:
        return BoxFrame()
    ys_arr, res_arr = np.array(ys), np.array(resid)
    keep = np.ones(len(ys_arr), dtype=bool)
    coef = np.array([0.0, float(np.median(res_arr))])
    for _ in range(3):
        if np.ptp(ys_arr[keep]) > 0:
            coef = np.polyfit(ys_arr[keep], res_arr[keep], 1)
        else:
            coef = np.array([0.0, np.median(res_arr[keep])])
        err = np.abs(np.polyval(coef, ys_arr) - res_arr)
        # 1.4826 * median: the robust sigma; half a pixel: the boxes' own rounding
        keep = err <= max(0.5, rules.outlier_sigmas * 1.4826 * float(np.median(err)))
        if keep.sum() < rules.frame_min_noteheads:
            break
    return BoxFrame(float(coef[1]), float(coef[0]), int(keep.sum()))
