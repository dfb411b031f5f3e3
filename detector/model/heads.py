"""Heads shared across FPN levels: class scores, box distances and a centerness branch.

One set of weights serves every level (a notehead looks the same at any position of the
pyramid it is assigned to), with a learnable scale per level so that the shared regression
conv does not have to output stride-dependent magnitudes. Box distances are
``ReLU(scale_l * x) * stride_l``: non-negative by construction and of the level's natural
size, as in the original FCOS with ``norm_reg_targets``.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from detector.model.backbone import group_count


def conv_tower(channels: int, num_convs: int) -> nn.Sequential:
    """``num_convs`` x (3x3 conv, GroupNorm, ReLU): GroupNorm because heads see batch 2-4."""
    layers: list[nn.Module] = []
    for _ in range(num_convs):
        layers += [
            nn.Conv2d(channels, channels, kernel_size=3, padding=1),
            nn.GroupNorm(group_count(channels), channels),
            nn.ReLU(inplace=True),
        ]
    return nn.Sequential(*layers)


class DetectionHead(nn.Module):
    """Classification tower + box tower (box distances and centerness), shared by all levels.

    Args:
        channels: FPN channels.
        num_classes: number of symbol classes (sigmoid per class, no background class).
        num_convs: convs per tower.
        strides: stride of each level, finest first.
        prior_prob: initial foreground probability; ``bias = -log((1-p)/p)`` keeps the focal
            loss of ~100k background locations from swamping the first steps.
        output_kernel: 3 (FCOS) or 1 (``model.head_kernel``: a cheaper head for CPU inference).
    """

    def __init__(
        self, channels: int, num_classes: int, num_convs: int, strides: list[int], prior_prob: float = 0.01,
        output_kernel: int = 3,
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.strides = list(strides)
        self.cls_tower = conv_tower(channels, num_convs)
        self.box_tower = conv_tower(channels, num_convs)
        pad = output_kernel // 2
        self.cls_logits = nn.Conv2d(channels, num_classes, kernel_size=output_kernel, padding=pad)
        self.box_ltrb = nn.Conv2d(channels, 4, kernel_size=output_kernel, padding=pad)
        self.centerness = nn.Conv2d(channels, 1, kernel_size=output_kernel, padding=pad)
        self.scales = nn.Parameter(torch.ones(len(self.strides)))
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.normal_(module.weight, std=0.01)
                nn.init.zeros_(module.bias)
        nn.init.constant_(self.cls_logits.bias, -math.log((1 - prior_prob) / prior_prob))
        # Boxes start about one stride wide rather than empty: every ReLU starts alive.
        nn.init.constant_(self.box_ltrb.bias, 0.5)

    def forward(self, features: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        """Per-level maps -> flattened predictions over all locations, finest level first.

        Returns:
            ``cls_logits`` [B, P, C], ``box_ltrb`` [B, P, 4] (pixels from the location to
            left/top/right/bottom edges), ``centerness_logits`` [B, P]; P = sum of H_l * W_l.
        """
        cls_all, ltrb_all, ctr_all = [], [], []
        for level, (feature, stride) in enumerate(zip(features, self.strides)):
            batch = feature.shape[0]
            cls_feature = self.cls_tower(feature)
            box_feature = self.box_tower(feature)
            cls = self.cls_logits(cls_feature)  # [B, C, H, W]
            ltrb = torch.relu(self.box_ltrb(box_feature) * self.scales[level]) * stride  # [B, 4, H, W]
            ctr = self.centerness(box_feature)  # [B, 1, H, W]
            cls_all.append(cls.permute(0, 2, 3, 1).reshape(batch, -1, self.num_classes))
            ltrb_all.append(ltrb.permute(0, 2, 3, 1).reshape(batch, -1, 4))
            ctr_all.append(ctr.reshape(batch, -1))
        return {
            "cls_logits": torch.cat(cls_all, dim=1),
            "box_ltrb": torch.cat(ltrb_all, dim=1),
            "centerness_logits": torch.cat(ctr_all, dim=1),
        }
