"""evaluate_model: tiled inference of a real (untrained) model, COCO scoring, TensorBoard logging."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch.utils.tensorboard import SummaryWriter

from detector.config import Config
from detector.data.classes import STAGE2_CLASSES
from detector.data.deepscores import PageAnnotations, load_deepscores
from detector.evaluation.inference import evaluate_model, page_as_trained, to_coco_results
from detector.model import build_model


def test_model_outputs_become_coco_results_with_dsv2_ids():
    # given label indices into the model's class list and [x0, y0, x1, y1] boxes
    boxes = np.array([[10.0, 20.0, 30.0, 36.0], [0.0, 0.0, 5.0, 5.0]])
    results = to_coco_results(7, boxes, np.array([0.9, 0.2]), np.array([0, 2]), ["clefG", "clefF", "keyFlat"])
    # then category ids are DSv2 deepscores ids and boxes [x, y, w, h]
    assert results[0] == {"image_id": 7, "category_id": 6, "bbox": [10.0, 20.0, 20.0, 16.0], "score": 0.9}
    assert results[1]["category_id"] == 68 and results[1]["bbox"] == [0.0, 0.0, 5.0, 5.0]


@pytest.fixture(scope="module")
def small_page(corner_dataset) -> PageAnnotations:
    """The top-left corner of the real sample page (one tile), with its Stage-2 boxes."""
    return load_deepscores(corner_dataset / "deepscores_test.json", classes="stage2").pages[0]


def test_evaluate_model_scores_and_logs_to_tensorboard(tmp_path, small_page):
    # given an untrained CPU-sized model and a config whose one tile covers the page
    torch.manual_seed(0)
    cfg = Config()
    cfg.model.width, cfg.model.fpn_channels, cfg.model.fpn_levels = 0.25, 32, [2, 3, 4]
    cfg.model.tile_size, cfg.model.tile_overlap = 512, 64
    cfg.eval.overlay_pages = 1
    model = build_model(cfg.model, len(STAGE2_CLASSES)).train()
    writer = SummaryWriter(str(tmp_path))
    # when it is evaluated as the training loop does
    report = evaluate_model(model, [small_page], list(STAGE2_CLASSES), cfg, "cpu", writer=writer, step=5)
    writer.close()
    # then the report counts the page's ground truth, AP is defined (near 0 for random weights)
    assert report.summary["instances"] == len(small_page.boxes) > 0
    assert 0.0 <= report.summary["map"] < 0.1
    # the model is back in training mode
    assert model.training
    # and TensorBoard holds the summary scalars at the step, per-group mAP and an overlay
    events = EventAccumulator(str(tmp_path)).Reload()
    assert events.Scalars("val/map")[0].step == 5
    assert "val/map50" in events.Tags()["scalars"]
    assert any(tag.startswith("val_group_map/") for tag in events.Tags()["scalars"])
    assert events.Tags()["images"] == ["val_overlay/0"]


def test_a_resize_mode_model_sees_the_page_shrunk_as_in_training():
    # given a 3800 x 2700 page and a model trained on pages resized to a 1024 long side
    cfg = Config()
    cfg.data.mode, cfg.data.imgsz = "resize", 1024
    page = np.full((3800, 2700), 255, dtype=np.uint8)
    # then it gets the page at 1024 x 728 and factors that map its boxes back to page pixels
    small, scale_x, scale_y = page_as_trained(page, cfg.data)
    assert small.shape == (1024, 728)
    assert scale_x == pytest.approx(2700 / 728) and scale_y == pytest.approx(3800 / 1024)
    # while a crop-mode model sees the page untouched
    cfg.data.mode = "crop"
    assert page_as_trained(page, cfg.data)[0] is page
