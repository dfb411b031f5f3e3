"""SymbolDetector: glue of backbone+FPN, shared heads, assignment, loss and decoding.

Input is the gray page convention (``[B, 1, H, W]`` in [0, 1], 1 = white paper). The network
sees ``1 - image`` (ink = 1, paper = 0): convolution zero-padding then looks like paper, so a
symbol at a crop or tile border is not framed by a fake dark edge.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from detector.config import ModelConfig
from detector.model.assignment import assign_atss, assign_fcos
from detector.model.backbone import build_backbone
from detector.model.decode import decode_detections
from detector.model.geometry import make_points
from detector.model.heads import DetectionHead
from detector.model.loss import DetectionLoss


#: ``model.topk_per_level`` counts the candidates per level of an image of this many pixels (a
#: 1024 px tile); a larger image gets proportionally more. Why: the candidates above the score
#: threshold grow with the area, and a fixed count silently dropped real symbols from a large
#: image: the DSv2 page run as one image kept recall 0.845 instead of 0.895 (mAP50 0.732
#: instead of 0.756) with a fixed 1000, while 1024 px tiles come out the same from 500 to 4000.
TOPK_REFERENCE_PIXELS = 1024 * 1024


def topk_for_image(topk_per_level: int, image_size: tuple[int, int]) -> int:
    """Candidates kept per level for an image of ``image_size`` (H, W): at least
    ``topk_per_level``, and that many per ``TOPK_REFERENCE_PIXELS`` of image."""
    height, width = image_size
    return max(topk_per_level, math.ceil(topk_per_level * height * width / TOPK_REFERENCE_PIXELS))


def check_targets(targets: list[dict[str, torch.Tensor]], batch: int) -> None:
    """Raise ValueError naming the first degenerate box (zero or negative width or height)."""
    if len(targets) != batch:
        raise ValueError(f"got {len(targets)} targets for {batch} images")
    for index, target in enumerate(targets):
        boxes = target["boxes"]
        if boxes.ndim != 2 or boxes.shape[-1] != 4 or len(boxes) != len(target["labels"]):
            raise ValueError(f"target {index}: boxes must be [N, 4] with one label each, got {tuple(boxes.shape)}")
        degenerate = (boxes[:, 2:] <= boxes[:, :2]).any(dim=1)
        if degenerate.any():
            box = boxes[torch.nonzero(degenerate)[0, 0]].tolist()
            raise ValueError(
                f"all boxes must have positive width and height; found invalid box {box} in target {index}"
            )


class SymbolDetector(nn.Module):
    """Anchor-free one-stage detector for music symbols (ResNet + FPN + shared heads).

    Args:
        model_cfg: the ``model`` section of the config.
        num_classes: number of classes (label ``i`` means ``class_names[i]``).
    """

    def __init__(self, model_cfg: ModelConfig, num_classes: int) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.model_cfg = model_cfg
        self.num_classes = num_classes
        self.backbone = build_backbone(model_cfg)
        self.strides = self.backbone.strides
        self.head = DetectionHead(
            self.backbone.out_channels, num_classes, model_cfg.head_convs, self.strides, model_cfg.prior_prob,
            model_cfg.head_kernel,
        )
        self.loss = DetectionLoss(num_classes)

    def assign(self, boxes: torch.Tensor, level_shapes: list[tuple[int, int]]) -> torch.Tensor:
        """Matched box index per location for one image ([P], -1 = background)."""
        if self.model_cfg.assignment == "atss":
            return assign_atss(boxes, level_shapes, self.strides)
        return assign_fcos(boxes, level_shapes, self.strides, self.model_cfg.center_sampling_radius)

    def forward(
        self, images: torch.Tensor, targets: list[dict[str, torch.Tensor]] | None = None
    ) -> dict[str, torch.Tensor] | list[dict[str, torch.Tensor]]:
        """Training (with targets): weighted loss terms. Eval: detections in input pixels."""
        if images.ndim != 4 or images.shape[1] != 1:
            raise ValueError(f"images must be [B, 1, H, W] gray in [0, 1], got {tuple(images.shape)}")
        if self.training and targets is None:
            raise ValueError("training mode needs targets; call model.eval() to detect")
        features = self.backbone(1.0 - images)
        level_shapes = [tuple(f.shape[-2:]) for f in features]
        points, _ = make_points(level_shapes, self.strides, images.device)  # [P, 2]
        outputs = self.head(features)
        if self.training:
            check_targets(targets, images.shape[0])
            matched = [self.assign(t["boxes"].float(), level_shapes) for t in targets]
            return self.loss(outputs, points, targets, matched)
        cfg = self.model_cfg
        return decode_detections(
            outputs,
            points,
            [h * w for h, w in level_shapes],
            tuple(images.shape[-2:]),
            cfg.score_thresh,
            cfg.nms_thresh,
            topk_for_image(cfg.topk_per_level, tuple(images.shape[-2:])),
            cfg.max_detections,
            cfg.cross_class_nms_thresh,
        )


def build_model(model_cfg: ModelConfig, num_classes: int) -> SymbolDetector:
    """The detector ``model_cfg`` describes, randomly initialised (never pretrained weights)."""
    return SymbolDetector(model_cfg, num_classes)
