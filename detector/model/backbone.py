"""ResNet backbone (1-channel, width multiplier, selectable norm) and its FPN.

The ResNet stages are built from torchvision's own ``BasicBlock`` / ``Bottleneck`` with the
block counts of resnet18/34/50, always from scratch (no weights exist for a 1-channel, narrow
ResNet). Building the stages here rather than calling ``torchvision.models.resnet18`` is what
makes the width multiplier clean: torchvision's ``ResNet`` hard-codes 64 stem channels.
With ``width=1`` the layers are exactly torchvision's, except ``conv1`` takes 1 channel.

Only the stages the FPN needs are built: ``fpn_levels: [2, 3, 4]`` never pays for stage 5.

Normalisation (``ModelConfig.norm``), measured on 2 CPU threads, batch 2, from scratch
(tests/experiments/norm_and_assignment.py, see detector/model/__init__.py for the table):
GroupNorm is the default because BatchNorm's batch statistics at batch 2-4 are noise and the
running averages they leave drift from the training-time ones ("Rethinking ImageNet
Pre-training", He et al. 2019). ``frozen_batch`` is an identity affine from scratch: it only
makes sense for a backbone whose statistics were loaded from elsewhere.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Callable

import torch
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck
from torchvision.ops import FeaturePyramidNetwork, FrozenBatchNorm2d
from torchvision.ops.feature_pyramid_network import LastLevelP6P7

from detector.config import ModelConfig

#: ResNet depth -> (block type, blocks per stage): torchvision's resnet18/34/50.
RESNET_LAYOUTS: dict[str, tuple[type, tuple[int, int, int, int]]] = {
    "resnet18": (BasicBlock, (2, 2, 2, 2)),
    "resnet34": (BasicBlock, (3, 4, 6, 3)),
    "resnet50": (Bottleneck, (3, 4, 6, 3)),
}


def group_count(channels: int) -> int:
    """GroupNorm groups for ``channels``: up to 32, at least 2 channels per group."""
    for groups in (32, 16, 8, 4, 2, 1):
        if channels % groups == 0 and channels // groups >= 2:
            return groups
    return 1


def make_norm_layer(kind: str) -> Callable[[int], nn.Module]:
    """A ``norm_layer(channels)`` factory for ``ModelConfig.norm``."""
    if kind == "group":
        return lambda channels: nn.GroupNorm(group_count(channels), channels)
    if kind == "batch":
        return nn.BatchNorm2d
    if kind == "frozen_batch":
        return FrozenBatchNorm2d
    raise ValueError(f"model.norm: expected group, batch or frozen_batch, got {kind!r}")


def scaled_channels(channels: int, width: float) -> int:
    """``channels * width`` rounded to a multiple of 8 (at least 8), so GroupNorm divides it."""
    return max(8, int(round(channels * width / 8.0)) * 8)


class ResNetBackbone(nn.Module):
    """A 1-channel ResNet returning the stage outputs C2..C{last_level} (strides 4..32).

    Args:
        depth: ``resnet18``, ``resnet34`` or ``resnet50``.
        width: channel multiplier of the stem and every stage (1.0 = torchvision's widths).
        norm: ``group``, ``batch`` or ``frozen_batch``.
        last_level: the deepest stage built (2..5); later stages are skipped entirely.
    """

    def __init__(self, depth: str, width: float = 1.0, norm: str = "group", last_level: int = 5) -> None:
        super().__init__()
        if depth not in RESNET_LAYOUTS:
            raise ValueError(f"model.backbone: expected one of {', '.join(RESNET_LAYOUTS)}, got {depth!r}")
        if width <= 0:
            raise ValueError(f"model.width: must be > 0, got {width}")
        block, blocks_per_stage = RESNET_LAYOUTS[depth]
        norm_layer = make_norm_layer(norm)
        stem_channels = scaled_channels(64, width)
        self.stem = nn.Sequential(
            nn.Conv2d(1, stem_channels, kernel_size=7, stride=2, padding=3, bias=False),
            norm_layer(stem_channels),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
        )
        self.stages = nn.ModuleList()
        self.out_channels: dict[str, int] = {}
        in_channels = stem_channels
        for index, num_blocks in enumerate(blocks_per_stage[: last_level - 1]):
            level = index + 2
            planes = scaled_channels(64 * 2**index, width)
            stride = 1 if level == 2 else 2
            stage, in_channels = self._make_stage(block, in_channels, planes, num_blocks, stride, norm_layer)
            self.stages.append(stage)
            self.out_channels[f"c{level}"] = in_channels
        self._init_weights(norm)

    @staticmethod
    def _make_stage(
        block: type, in_channels: int, planes: int, num_blocks: int, stride: int, norm_layer: Callable
    ) -> tuple[nn.Sequential, int]:
        """One ResNet stage, as torchvision's ``ResNet._make_layer`` builds it."""
        out_channels = planes * block.expansion
        downsample = None
        if stride != 1 or in_channels != out_channels:
            downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False),
                norm_layer(out_channels),
            )
        layers = [block(in_channels, planes, stride, downsample, norm_layer=norm_layer)]
        layers += [block(out_channels, planes, norm_layer=norm_layer) for _ in range(num_blocks - 1)]
        return nn.Sequential(*layers), out_channels

    def _init_weights(self, norm: str) -> None:
        """Kaiming convs; the last norm of each residual branch starts at zero (identity block).

        Zero-init of the residual branch ("Bag of Tricks", He et al. 2019) lets a deep network
        start as a shallow one, which matters most when training from scratch.
        """
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        if norm == "frozen_batch":
            return  # frozen norms have no trainable scale to zero
        for module in self.modules():
            last_norm = getattr(module, "bn3", None) if isinstance(module, Bottleneck) else None
            if isinstance(module, BasicBlock):
                last_norm = module.bn2
            if last_norm is not None:
                nn.init.zeros_(last_norm.weight)

    def forward(self, images: torch.Tensor) -> "OrderedDict[str, torch.Tensor]":
        """``images`` [B, 1, H, W] -> ``{"c2": [B, C2, H/4, W/4], "c3": ..., ...}``."""
        features: "OrderedDict[str, torch.Tensor]" = OrderedDict()
        x = self.stem(images)
        for name, stage in zip(self.out_channels, self.stages):
            x = stage(x)
            features[name] = x
        return features


class BackboneWithFPN(nn.Module):
    """ResNet + torchvision's FeaturePyramidNetwork, returning exactly the requested levels.

    Levels 2..5 come from the ResNet stages (top-down pathway); 6 and 7 are extra stride-2
    convolutions on P5 (``LastLevelP6P7``), as in FCOS. Level 2 (stride 4) is the one that
    matters for DSv2: a 12 px notehead covers about 3x3 stride-4 locations and at most one
    stride-8 location.
    """

    def __init__(self, model_cfg: ModelConfig) -> None:
        super().__init__()
        self.levels = sorted(set(int(level) for level in model_cfg.fpn_levels))
        last_resnet_level = min(max(self.levels), 5)
        first_resnet_level = min(min(self.levels), 5)
        self.body = ResNetBackbone(model_cfg.backbone, model_cfg.width, model_cfg.norm, last_resnet_level)
        self.used_names = [f"c{level}" for level in range(first_resnet_level, last_resnet_level + 1)]
        in_channels = [self.body.out_channels[name] for name in self.used_names]
        channels = model_cfg.fpn_channels
        extra = LastLevelP6P7(channels, channels) if max(self.levels) >= 6 else None
        self.fpn = FeaturePyramidNetwork(in_channels, channels, extra_blocks=extra)
        self.out_channels = channels
        self.strides = [2**level for level in self.levels]

    def forward(self, images: torch.Tensor) -> list[torch.Tensor]:
        """``images`` [B, 1, H, W] -> one map per requested level, [B, C, H/s, W/s], finest first."""
        body = self.body(images)
        pyramid = self.fpn(OrderedDict((name, body[name]) for name in self.used_names))
        computed = list(range(int(self.used_names[0][1:]), int(self.used_names[0][1:]) + len(pyramid)))
        by_level = dict(zip(computed, pyramid.values()))
        return [by_level[level] for level in self.levels]


def build_backbone(model_cfg: ModelConfig) -> BackboneWithFPN:
    """The backbone + FPN described by ``model_cfg`` (random init, never pretrained weights)."""
    return BackboneWithFPN(model_cfg)
