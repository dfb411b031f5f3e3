"""The detector's loss: focal classification, IoU box loss, BCE centerness.

Normaliser: every term is divided by a moving average of the number of positive locations
(detectron2's FCOS), not by this batch's count. With batch 2-4 a crop can hold 3 symbols or
300; dividing by the raw count makes the loss scale (and so the effective learning rate) jump
by 100x between steps. The average starts at the first batch's count and moves with
momentum 0.9; it lives in a buffer so a resumed run continues with the same scale.

All loss arithmetic runs in float32 even under autocast: focal loss sums ~100k tiny terms and
IoU losses divide small areas, both of which lose precision in float16.
"""
from __future__ import annotations

import torch
from torch import nn
from torchvision.ops import distance_box_iou_loss, generalized_box_iou_loss, sigmoid_focal_loss

from detector.model.geometry import centerness_target, decode_ltrb, encode_ltrb

#: Weights of the three terms (FCOS's defaults: all 1).
LOSS_WEIGHTS = {"loss_cls": 1.0, "loss_box": 1.0, "loss_ctr": 1.0}


class DetectionLoss(nn.Module):
    """Computes ``{'loss_cls', 'loss_box', 'loss_ctr'}`` from head outputs and assignments.

    Args:
        num_classes: number of classes.
        box_loss: ``giou`` or ``diou`` (DIoU also pulls centres together when boxes do not
            overlap, which helps the hair-thin boxes of barlines and ties).
        momentum: of the positive-count moving average.
    """

    def __init__(self, num_classes: int, box_loss: str = "giou", momentum: float = 0.9) -> None:
        super().__init__()
        if box_loss not in ("giou", "diou"):
            raise ValueError(f"box_loss: expected giou or diou, got {box_loss!r}")
        self.num_classes = num_classes
        self.box_loss = box_loss
        self.momentum = momentum
        self.register_buffer("num_positive_avg", torch.tensor(-1.0))  # -1: not yet seen a batch

    def update_normaliser(self, num_positive: int) -> float:
        """Fold this batch's positive count into the moving average; return the normaliser.

        Under DDP the count is averaged over ranks (as FCOS does), so W processes with batch B
        compute the same gradient as one process with batch W * B.
        """
        if self.training and torch.distributed.is_available() and torch.distributed.is_initialized():
            count = torch.tensor([float(num_positive)], device=self.num_positive_avg.device)
            torch.distributed.all_reduce(count)
            num_positive = float(count.item()) / torch.distributed.get_world_size()
        if self.training:
            if self.num_positive_avg.item() < 0:
                self.num_positive_avg.fill_(float(num_positive))
            else:
                self.num_positive_avg.mul_(self.momentum).add_((1 - self.momentum) * num_positive)
        return max(float(self.num_positive_avg.item()), 1.0)

    def forward(
        self,
        head_outputs: dict[str, torch.Tensor],
        points: torch.Tensor,
        targets: list[dict[str, torch.Tensor]],
        matched: list[torch.Tensor],
    ) -> dict[str, torch.Tensor]:
        """Args: head outputs ([B, P, C], [B, P, 4], [B, P]), points [P, 2], targets, matched [B][P]."""
        device_type = points.device.type
        with torch.autocast(device_type=device_type, enabled=False):
            cls_logits = head_outputs["cls_logits"].float()
            box_ltrb = head_outputs["box_ltrb"].float()
            ctr_logits = head_outputs["centerness_logits"].float()
            cls_target = torch.zeros_like(cls_logits)  # [B, P, C]
            gt_boxes = torch.zeros_like(box_ltrb)  # [B, P, 4]
            for image, (target, matched_image) in enumerate(zip(targets, matched)):
                positive = matched_image >= 0
                if positive.any():
                    boxes = target["boxes"].float()[matched_image[positive]]
                    labels = target["labels"][matched_image[positive]]
                    gt_boxes[image, positive] = boxes
                    cls_target[image, positive.nonzero().flatten(), labels] = 1.0
            foreground = torch.stack(matched) >= 0  # [B, P]
            normaliser = self.update_normaliser(int(foreground.sum()))

            loss_cls = sigmoid_focal_loss(cls_logits, cls_target, reduction="sum") / normaliser
            points_fg = points[None].expand(len(targets), -1, -1)[foreground]  # [F, 2]
            pred_boxes = decode_ltrb(points_fg, box_ltrb[foreground])  # [F, 4]
            target_boxes = gt_boxes[foreground]
            if self.box_loss == "giou":
                box_terms = generalized_box_iou_loss(pred_boxes, target_boxes, reduction="none")
            else:
                box_terms = distance_box_iou_loss(pred_boxes, target_boxes, reduction="none")
            loss_box = box_terms.sum() / normaliser
            ctr_target = centerness_target(encode_ltrb(points_fg, target_boxes))
            loss_ctr = nn.functional.binary_cross_entropy_with_logits(
                ctr_logits[foreground], ctr_target, reduction="sum"
            ) / normaliser
        return {
            "loss_cls": LOSS_WEIGHTS["loss_cls"] * loss_cls,
            "loss_box": LOSS_WEIGHTS["loss_box"] * loss_box,
            "loss_ctr": LOSS_WEIGHTS["loss_ctr"] * loss_ctr,
        }
