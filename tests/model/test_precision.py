"""Inference in bfloat16 (model/precision.py) and the cheaper head a trained one can start
(``model.head_kernel``, ``train.init_adapt_head``: model_io.adapt_head_state)."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from torchvision.ops import box_iou

from detector.benchmarks import page_inference
from detector.config import ModelConfig
from detector.data.deepscores import load_page_image
from detector.model.detector import build_model
from detector.model.model_io import DEFAULT_WEIGHTS, adapt_head_state, load_model
from detector.model.precision import cpu_has_fast_bf16, resolve_precision
from detector.model.tiled import detect_pages

#: A CPU-sized detector (quarter-width ResNet-18 cut after stage 3, P2-P3, 32 channels).
TINY = ModelConfig(backbone="resnet18", width=0.25, fpn_levels=[2, 3], fpn_channels=32)


def test_precision_names_resolve_and_a_wrong_one_is_refused() -> None:
    assert resolve_precision("fp32", "cpu") == "fp32"
    assert resolve_precision("bf16", "cpu") == "bf16"  # asked for: given, fast or not
    assert resolve_precision("auto", "cpu") == ("bf16" if cpu_has_fast_bf16() else "fp32")
    with pytest.raises(ValueError, match="auto, fp32, bf16"):
        resolve_precision("fp16", "cpu")


def test_bf16_finds_what_fp32_finds_on_the_real_page(dsv2_sample_image) -> None:
    # the top half of the real page (two systems' worth of symbols), shipped model
    page = np.ascontiguousarray(load_page_image(dsv2_sample_image)[:1900])
    model, cfg, _ = load_model(DEFAULT_WEIGHTS)
    model.float()
    full, half = (detect_pages(model, [page], cfg.model, precision=p)[0] for p in ("fp32", "bf16"))
    confident = [d["scores"] >= cfg.eval.score_thresh for d in (full, half)]
    assert confident[0].sum() > 150
    assert abs(int(confident[0].sum()) - int(confident[1].sum())) <= 3
    # every confident fp32 detection but a few has a bf16 one of the same class on the same box
    iou = box_iou(torch.from_numpy(full["boxes"][confident[0]]),
                  torch.from_numpy(half["boxes"][confident[1]]))
    same_class = torch.from_numpy(full["labels"][confident[0]])[:, None] == torch.from_numpy(
        half["labels"][confident[1]])[None, :]
    matched = ((iou >= 0.9) & same_class).any(dim=1).float().mean().item()
    assert matched >= 0.98


def test_a_3x3_head_adapted_to_1x1_gives_the_same_scores_on_flat_features() -> None:
    # given a head with two tower convs and 3x3 outputs, and a cheaper one (1 conv, 1x1)
    torch.manual_seed(0)
    rich_cfg = dataclasses.replace(TINY, head_convs=2, head_kernel=3)
    cheap_cfg = dataclasses.replace(TINY, head_convs=1, head_kernel=1)
    rich, cheap = build_model(rich_cfg, 5), build_model(cheap_cfg, 5)
    for p in rich.head.parameters():  # away from the near-zero init, so the check means something
        torch.nn.init.normal_(p, std=0.1)
    # when the cheap one starts from the rich one's weights
    state, adapted = adapt_head_state(rich.state_dict(), cheap.state_dict())
    cheap.load_state_dict(state)
    assert any("dropped" in a for a in adapted) and any("-> 1x1" in a for a in adapted)
    # then on a feature map constant in space, its outputs equal the rich output convs' two
    # locations away from the border (zero padding makes the tower's border ring differ)
    feature = torch.ones(1, 32, 12, 12) * torch.randn(1, 32, 1, 1)
    tower = rich.head.cls_tower[:3](feature)  # the first conv block, shared by both
    assert torch.allclose(cheap.head.cls_tower(feature), tower)
    inner = (slice(None), slice(None), slice(2, -2), slice(2, -2))
    assert torch.allclose(cheap.head.cls_logits(tower)[inner], rich.head.cls_logits(tower)[inner], atol=1e-5)


def test_page_inference_benchmark_writes_its_rows(dsv2_sample_image, tmp_path) -> None:
    crop = tmp_path / "crop.png"
    from PIL import Image

    Image.fromarray(load_page_image(dsv2_sample_image)[:700, :900]).save(crop)
    out = tmp_path / "rows.json"
    assert page_inference.main(["--pages", str(crop), "--precision", "fp32,bf16", "--repeats", "1",
                                "--out", str(out)]) == 0
    rows = json.loads(out.read_text())
    assert [r["precision"] for r in rows] == ["fp32", "bf16"]
    assert all(r["wall_s"] > 0 and r["resnet18_fp32_s"] > 0 and r["tiles"] >= 1 for r in rows)
    assert abs(rows[0]["detections"] - rows[1]["detections"]) <= 2
