"""Fuzzing the reader: malformed JSON and images end in the documented error or counted skips."""
from __future__ import annotations

import copy
import io
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from detector.data.deepscores import (
    DeepScoresFormatError,
    ImageReadError,
    load_deepscores,
    load_page_image,
    parse_deepscores,
)

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=8,
)


@pytest.fixture(scope="module")
def small_dsv2(dsv2_sample_json) -> dict:
    """The real sample JSON cut to its first 30 annotations (the real schema, fast to parse)."""
    data = json.loads(Path(dsv2_sample_json).read_text())
    keep = data["images"][0]["ann_ids"][:30]
    data["images"][0]["ann_ids"] = keep
    data["annotations"] = {k: data["annotations"][k] for k in keep}
    return data


def _containers(node, path=()):
    """Every (path, dict-or-list) inside a JSON tree."""
    if isinstance(node, (dict, list)):
        yield path, node
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, child in items:
            yield from _containers(child, path + (key,))


def _parse_or_documented_error(data) -> None:
    """Parsing either works (and every box is sane) or raises DeepScoresFormatError."""
    try:
        split = parse_deepscores(data, Path("fuzz.json"), Path("images"), "stage2", check_images=False)
    except DeepScoresFormatError as err:
        assert "\n" not in str(err)
        return
    for page in split.pages:
        assert np.all(np.isfinite(page.boxes))
        assert np.all(page.boxes[:, 2] > page.boxes[:, 0]) and np.all(page.boxes[:, 3] > page.boxes[:, 1])
        assert np.all(page.boxes >= 0) and np.all(page.boxes[:, [0, 2]] <= page.width)
        assert np.all(page.boxes[:, [1, 3]] <= page.height)


@settings(FUZZ, max_examples=150)
@given(data=st.data(), value=json_values, delete=st.booleans())
def test_random_mutations_of_real_json(small_dsv2, data, value, delete):
    # given the real schema with one node somewhere replaced by a random value, or deleted
    doc = copy.deepcopy(small_dsv2)
    spots = list(_containers(doc))
    _, node = spots[data.draw(st.integers(0, len(spots) - 1), label="node")]
    if not node:
        node_key = None
    elif isinstance(node, dict):
        node_key = data.draw(st.sampled_from(sorted(node, key=str)), label="key")
    else:
        node_key = data.draw(st.integers(0, len(node) - 1), label="index")
    if node_key is not None:
        if delete:
            del node[node_key]
        else:
            node[node_key] = value
    # then the reader returns sane pages or the documented one-line error
    _parse_or_documented_error(doc)


@FUZZ
@given(value=json_values)
def test_arbitrary_json_documents(value):
    _parse_or_documented_error(value)


@FUZZ
@given(box=st.lists(st.floats() | st.integers(-10**30, 10**30), min_size=4, max_size=4))
def test_arbitrary_box_values_are_dropped_or_clipped(small_dsv2, box):
    doc = copy.deepcopy(small_dsv2)
    first = doc["images"][0]["ann_ids"][0]
    doc["annotations"][first]["a_bbox"] = box
    _parse_or_documented_error(doc)


@FUZZ
@given(payload=st.binary(max_size=2000))
def test_json_file_of_random_bytes(tmp_path, payload):
    path = tmp_path / "random.json"
    path.write_bytes(payload)
    try:
        load_deepscores(path, check_images=False)
    except DeepScoresFormatError:
        pass


def _small_png() -> bytes:
    rgba = np.zeros((40, 60, 4), dtype=np.uint8)
    rgba[10:30, 20:25, 3] = 255
    buffer = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buffer, format="PNG")
    return buffer.getvalue()


@FUZZ
@given(
    cut=st.integers(0, len(_small_png()) - 1),
    flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=3),
)
def test_truncated_or_corrupted_png(tmp_path, cut, flips):
    # given a real PNG cut short and with a few bytes overwritten
    payload = bytearray(_small_png()[:cut])
    for where, byte in flips:
        if payload:
            payload[where % len(payload)] = byte
    path = tmp_path / "page.png"
    path.write_bytes(bytes(payload))
    # then it reads as a gray page or raises ImageReadError
    try:
        gray = load_page_image(path)
    except ImageReadError as err:
        assert "\n" not in str(err)
        return
    assert gray.dtype == np.uint8 and gray.ndim == 2


@FUZZ
@given(payload=st.binary(max_size=500))
def test_garbage_image_files(tmp_path, payload):
    path = tmp_path / "page.png"
    path.write_bytes(payload)
    try:
        load_page_image(path)
    except ImageReadError:
        pass


@FUZZ
@given(payload=st.binary(max_size=300))
def test_garbage_images_are_counted_skips_at_load(make_dsv2, tmp_path, payload):
    json_path = make_dsv2([(60, 40, [(6, [20, 10, 25, 30])])])
    (tmp_path / "images" / "page0.png").write_bytes(payload)
    split = load_deepscores(json_path)
    assert split.pages == [] and sum(split.skipped.values()) == 1
