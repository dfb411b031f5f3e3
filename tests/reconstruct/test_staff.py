"""Staff-line detection on the real DSv2 page, a skewed copy, and pages without staves."""
from __future__ import annotations

import numpy as np

from detector.benchmarks.structure_bench import ink_line_positions
from detector.benchmarks.box_matching import box_iou
from detector.reconstruct.staff import Staff, detect_staves, locate
from tests.reconstruct.structure_pages import real_page, real_result, rotated_real


def test_real_page_has_its_twelve_staves_where_the_ground_truth_boxes_are():
    # given the real page and its 12 staff boxes; when the staves are detected
    page, _ = real_page()
    result = real_result()
    gt = page.boxes[np.array(page.class_names) == "staff"]
    found = np.array([s.box for s in result.rebuilt("staff")])
    # then each ground-truth staff has exactly one detected staff on it, tightly
    assert len(result.staves) == 12
    iou = box_iou(gt, found)
    assert (iou.max(axis=1) > 0.95).all()
    assert sorted(iou.argmax(axis=1).tolist()) == list(range(12))
    assert 22.0 < result.staff_detection.staff_space_px < 24.0


def test_real_page_line_positions_match_the_ink_to_a_fraction_of_a_pixel():
    # given the line centres measured directly in clean columns of each staff
    page, gray = real_page()
    result = real_result()
    errors = []
    for staff in result.staves:
        box = (staff.x0, staff.y_at(0, staff.x0) - 5, staff.x1, staff.y_at(4, staff.x0) + 5)
        for x, ys in ink_line_positions(gray, box):
            errors += [abs(float(staff.y_at(line, x)) - ys[line]) for line in range(5)]
    # then the traced lines y(x) sit on them
    assert len(errors) > 500
    assert np.median(errors) < 0.4
    assert np.percentile(errors, 95) < 1.0


def test_staff_positions_count_half_spaces_from_the_bottom_line():
    # given a detected staff
    staff = real_result().staves[0]
    x = 0.5 * (staff.x0 + staff.x1)
    # then its lines are positions 8 (top) ... 0 (bottom), and y_of_position inverts position
    positions = [float(staff.position(x, staff.y_at(k, x))) for k in range(5)]
    assert np.allclose(positions, [8, 6, 4, 2, 0], atol=0.1)
    assert abs(float(staff.y_of_position(-2, x)) - (staff.y_at(4, x) + staff.staff_space_px)) < 0.5
    assert abs(float(staff.position(x, staff.y_of_position(-3, x))) + 3) < 1e-6


def test_a_notehead_is_located_on_its_staff():
    # given a notehead of the real page
    page, _ = real_page()
    staves = real_result().staves
    i = page.class_names.index("noteheadBlackOnLine")
    x0, y0, x1, y1 = page.boxes[i]
    # when located; then it belongs to the staff whose box holds it, on a line (even position)
    loc = locate(staves, (x0 + x1) / 2, (y0 + y1) / 2 + 2.0)  # + the page's 2 px box offset
    assert loc is not None
    staff = staves[loc.staff_index]
    assert staff.box[1] - 8 * staff.staff_space_px < (y0 + y1) / 2 < staff.box[3] + 8 * staff.staff_space_px
    assert round(loc.position) % 2 == 0


def test_a_page_turned_by_one_and_a_half_degrees_keeps_all_staves_and_their_slant():
    # given the real page turned by 1.5 degrees; when staves are detected
    turned, boxes, names, result = rotated_real()
    # then all twelve are found, each slanted like the page
    assert len(result.staves) == 12
    slopes = [float(np.polyfit(s.xs, s.line_ys[2], 1)[0]) for s in result.staves]
    assert np.allclose(slopes, -np.tan(np.deg2rad(1.5)), atol=0.003)
    gt = boxes[np.array(names) == "staff"]
    assert (box_iou(gt, np.array([s.box for s in result.rebuilt("staff")])).max(axis=1) > 0.9).all()


def test_blank_page_gives_no_staves_and_says_why():
    detection = detect_staves(np.full((800, 600), 255, dtype=np.uint8))
    assert detection.staves == []
    assert "no staves found" in detection.reason and "blank" in detection.reason


def test_noise_page_gives_no_staves_and_says_why():
    noise = np.random.default_rng(0).integers(0, 256, size=(900, 700)).astype(np.uint8)
    detection = detect_staves(noise)
    assert detection.staves == []
    assert detection.reason.startswith("no staves found:")


def test_a_staff_cut_off_by_the_page_edge_is_left_out_and_the_others_kept():
    # given the real page cut through the middle of its first staff (two lines left)
    _, gray = real_page()
    first = real_result().staves[0]
    cut = int(first.y_at(2, first.x0) + 0.5 * first.staff_space_px)
    detection = detect_staves(gray[cut:])
    # then the 11 whole staves are found and no half staff is made up
    assert len(detection.staves) == 11
    assert all(isinstance(s, Staff) and s.line_ys.shape[0] == 5 for s in detection.staves)
