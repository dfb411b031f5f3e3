"""Locations and the box <-> ltrb coding."""
from __future__ import annotations

import torch

from detector.model.geometry import centerness_target, decode_ltrb, encode_ltrb, make_points


def test_locations_sit_at_cell_centres_level_by_level_row_major():
    points, strides = make_points([(2, 3), (1, 2)], [4, 8])
    assert points[:3].tolist() == [[2.0, 2.0], [6.0, 2.0], [10.0, 2.0]]
    assert points[3].tolist() == [2.0, 6.0]
    assert points[6:].tolist() == [[4.0, 4.0], [12.0, 4.0]]
    assert strides.tolist() == [4.0] * 6 + [8.0] * 2


def test_encode_then_decode_gives_back_the_boxes():
    generator = torch.Generator().manual_seed(0)
    top_left = torch.rand(100, 2, generator=generator) * 500
    boxes = torch.cat([top_left, top_left + 1 + torch.rand(100, 2, generator=generator) * 80], dim=1)
    points = top_left + torch.rand(100, 2, generator=generator) * 40
    assert torch.allclose(decode_ltrb(points, encode_ltrb(points, boxes)), boxes, atol=1e-4)


def test_centerness_is_one_at_the_centre_and_falls_towards_the_edges():
    box = torch.tensor([0.0, 0.0, 20.0, 10.0])
    centre, off_centre, outside = torch.tensor([10.0, 5.0]), torch.tensor([15.0, 5.0]), torch.tensor([25.0, 5.0])
    assert float(centerness_target(encode_ltrb(centre, box))) == 1.0
    assert abs(float(centerness_target(encode_ltrb(off_centre, box))) - (5 / 15) ** 0.5) < 1e-6
    assert float(centerness_target(encode_ltrb(outside, box))) == 0.0
