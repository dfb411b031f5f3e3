"""Target assignment on hand-made boxes: which location learns which box, at which level."""
from __future__ import annotations

import torch

from detector.model.assignment import assign_atss, assign_fcos, level_size_ranges

STRIDES = [4, 8]
SHAPES = [(32, 32), (16, 16)]  # a 128 x 128 input
P2_SIZE = 32 * 32


def locations_of(matched: torch.Tensor, box: int) -> set[tuple[int, float, float]]:
    """(level, x, y) of the locations matched to ``box``."""
    found = set()
    for index in torch.nonzero(matched == box).flatten().tolist():
        level = 0 if index < P2_SIZE else 1
        local = index if level == 0 else index - P2_SIZE
        width = SHAPES[level][1]
        stride = STRIDES[level]
        found.add((level, (local % width + 0.5) * stride, (local // width + 0.5) * stride))
    return found


def test_size_ranges_start_at_zero_double_per_level_and_end_open():
    assert level_size_ranges([4, 8, 16]) == [(0.0, 32.0), (32.0, 64.0), (64.0, float("inf"))]


def test_fcos_puts_a_notehead_on_p2_within_the_centre_radius():
    # given a 12 px notehead centred at (26, 26)
    boxes = torch.tensor([[20.0, 20.0, 32.0, 32.0]])
    # when assigned with radius 1.5 strides (6 px on P2)
    matched = assign_fcos(boxes, SHAPES, STRIDES, radius=1.5)
    # then exactly the 3 x 3 stride-4 locations within 6 px of the centre are positive, on P2 only
    expected = {(0, x, y) for x in (22.0, 26.0, 30.0) for y in (22.0, 26.0, 30.0)}
    assert locations_of(matched, 0) == expected


def test_fcos_radius_controls_how_many_locations_a_box_gets():
    boxes = torch.tensor([[10.0, 10.0, 50.0, 40.0]])  # 40 x 30: largest distance 20 -> P2
    narrow = assign_fcos(boxes, SHAPES, STRIDES, radius=0.5)
    wide = assign_fcos(boxes, SHAPES, STRIDES, radius=2.5)
    on_p2 = lambda matched: {(x, y) for level, x, y in locations_of(matched, 0) if level == 0}  # noqa: E731
    assert on_p2(narrow) == {(30.0, 26.0)}  # the one location within 2 px of the centre (30, 25)
    assert len(on_p2(wide)) == 25  # 5 x 5 locations within 10 px of the centre


def test_fcos_sends_a_large_symbol_to_p3_by_its_size_range():
    # given an 80 x 40 box centred at (80, 80): edge distances near the centre exceed 32 px
    boxes = torch.tensor([[40.0, 60.0, 120.0, 100.0]])
    matched = assign_fcos(boxes, SHAPES, STRIDES, radius=1.5)
    # then its locations are the 2 x 2 stride-8 locations within 12 px of the centre
    assert locations_of(matched, 0) == {(1, x, y) for x in (76.0, 84.0) for y in (76.0, 84.0)}


def test_a_location_inside_two_boxes_goes_to_the_smaller_one_but_none_is_left_empty():
    # given a small box inside a larger one whose every centre location it also covers
    small = [20.0, 20.0, 32.0, 32.0]
    large = [18.0, 16.0, 38.0, 36.0]
    matched = assign_fcos(torch.tensor([large, small]), SHAPES, STRIDES, radius=1.5)
    # then shared locations go to the small box, and the large one takes back its centre cell
    assert (0, 26.0, 26.0) in locations_of(matched, 1)
    assert locations_of(matched, 0) == {(0, 30.0, 26.0)}
    assert len(locations_of(matched, 1)) == 8


def test_a_hair_thin_barline_between_grid_columns_still_gets_one_location():
    # given a 2 px wide, 40 px tall line that no stride-4 column centre falls inside (50, 54)
    boxes = torch.tensor([[50.5, 15.0, 52.5, 55.0]])
    matched = assign_fcos(boxes, SHAPES, STRIDES, radius=1.5)
    # then the location nearest its centre (51.5, 35) on its level (half-height 20 -> P2) is kept
    assert locations_of(matched, 0) == {(0, 50.0, 34.0)}


def test_images_without_boxes_are_all_background():
    empty = torch.zeros((0, 4))
    assert (assign_fcos(empty, SHAPES, STRIDES) == -1).all()
    assert (assign_atss(empty, SHAPES, STRIDES) == -1).all()
    assert len(assign_fcos(empty, SHAPES, STRIDES)) == 32 * 32 + 16 * 16


def test_atss_picks_locations_inside_the_box_on_the_level_that_fits():
    # given a 12 px notehead and a 60 x 60 clef-sized box
    boxes = torch.tensor([[20.0, 20.0, 32.0, 32.0], [40.0, 50.0, 100.0, 110.0]])
    matched = assign_atss(boxes, SHAPES, STRIDES, topk=9)
    notehead, clef = locations_of(matched, 0), locations_of(matched, 1)
    # then the notehead is learnt on P2 near its centre, the clef on P3, all inside their boxes
    assert notehead and {level for level, _, _ in notehead} == {0}
    assert all(20 < x < 32 and 20 < y < 32 for _, x, y in notehead)
    assert clef and {level for level, _, _ in clef} == {1}
    assert all(40 < x < 100 and 50 < y < 110 for _, x, y in clef)
