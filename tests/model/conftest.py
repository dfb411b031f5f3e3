"""Fixtures of the model tests: the real DSv2 page, gray, with its stage-2 boxes."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch

from detector.config import ModelConfig
from detector.data.deepscores import load_deepscores, load_page_image
from detector.model import build_model


@dataclass
class GrayPage:
    """A page image (uint8 [H, W], ink 0) and its boxes [N, 4] with class names."""

    image: np.ndarray
    boxes: np.ndarray
    class_names: list[str]

    def crop(self, x0: int, y0: int, size: int, classes: list[str]) -> tuple[torch.Tensor, dict]:
        """A ``size`` square at (x0, y0) as model input [1, S, S] plus the boxes wholly inside it."""
        pixels = self.image[y0 : y0 + size, x0 : x0 + size]
        image = torch.from_numpy(pixels.astype(np.float32) / 255.0)[None]
        inside = (
            (self.boxes[:, 0] >= x0) & (self.boxes[:, 1] >= y0)
            & (self.boxes[:, 2] <= x0 + size) & (self.boxes[:, 3] <= y0 + size)
        )
        keep = [i for i in np.nonzero(inside)[0] if self.class_names[i] in classes]
        boxes = torch.from_numpy(self.boxes[keep] - np.array([x0, y0, x0, y0], dtype=np.float32))
        labels = torch.tensor([classes.index(self.class_names[i]) for i in keep], dtype=torch.long)
        return image, {"boxes": boxes.float(), "labels": labels}


@pytest.fixture(scope="session")
def dsv2_gray_page(dsv2_sample_json, dsv2_sample_dir) -> GrayPage:
    """The real DSv2 sample page (2707 x 3828) with its stage-2 annotations."""
    split = load_deepscores(dsv2_sample_json, dsv2_sample_dir / "images", classes="stage2")
    page = split.pages[0]
    return GrayPage(load_page_image(page.path), page.boxes.astype(np.float32), list(page.class_names))


#: Classes and two 160 px windows of the real page holding noteheads, a dot and a flag.
OVERFIT_CLASSES = ["noteheadBlackOnLine", "noteheadBlackInSpace", "augmentationDot", "flag8thDown"]
OVERFIT_WINDOWS = [(2256, 112), (1248, 160)]


def tiny_model_config(assignment: str = "fcos") -> ModelConfig:
    """A CPU-sized detector: quarter-width ResNet-18 cut after stage 3, P2-P3, 32 channels."""
    return ModelConfig(
        backbone="resnet18", width=0.25, fpn_levels=[2, 3], fpn_channels=32, head_convs=1,
        assignment=assignment, score_thresh=0.05, tile_size=160, tile_overlap=64,
    )


@dataclass
class OverfitRun:
    """A tiny model trained on two real crops alone, with its loss before and after."""

    model: torch.nn.Module
    model_cfg: ModelConfig
    images: torch.Tensor  # [2, 1, 160, 160]
    targets: list[dict]
    first_losses: dict[str, float]
    last_losses: dict[str, float]
    mosaic: torch.Tensor  # [1, 320, 320]: the 2 x 2 page of the crops it trained on
    mosaic_target: dict


def mosaic_page(crops: list[tuple[torch.Tensor, dict]]) -> tuple[torch.Tensor, dict]:
    """A 2 x 2 page of the two crops ([[a, b], [b, a]]) with all their boxes."""
    (a, target_a), (b, target_b) = crops
    size = a.shape[-1]
    page = torch.cat([torch.cat([a, b], dim=2), torch.cat([b, a], dim=2)], dim=1)  # [1, 2S, 2S]
    boxes, labels = [], []
    for (dx, dy), target in zip([(0, 0), (size, 0), (0, size), (size, size)], [target_a, target_b, target_b, target_a]):
        boxes.append(target["boxes"] + torch.tensor([dx, dy, dx, dy], dtype=torch.float32))
        labels.append(target["labels"])
    return page, {"boxes": torch.cat(boxes), "labels": torch.cat(labels)}


def random_windows(page: torch.Tensor, target: dict, size: int, count: int, rng: np.random.Generator):
    """``count`` random ``size`` windows of the mosaic with the boxes at least 60% inside, clipped.

    Random windows keep the tiny model from memorising where each symbol sits relative to the
    crop border, so what it learns holds for any tile of the mosaic page.
    """
    images, targets = [], []
    for _ in range(count):
        x0, y0 = (int(v) for v in rng.integers(0, page.shape[-1] - size + 1, size=2))
        images.append(page[:, y0 : y0 + size, x0 : x0 + size])
        shifted = target["boxes"] - torch.tensor([x0, y0, x0, y0], dtype=torch.float32)
        clipped = shifted.clamp(0, size)
        area = lambda b: (b[:, 2] - b[:, 0]).clamp(min=0) * (b[:, 3] - b[:, 1]).clamp(min=0)  # noqa: E731
        keep = area(clipped) >= 0.6 * area(shifted)
        targets.append({"boxes": clipped[keep], "labels": target["labels"][keep]})
    return torch.stack(images), targets


def overfit_two_crops(page: GrayPage, assignment: str, steps: int = 120) -> OverfitRun:
    """Train a tiny model with Adam on random windows of a mosaic of two real crops."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    crops = [page.crop(x, y, 160, OVERFIT_CLASSES) for x, y in OVERFIT_WINDOWS]
    mosaic, mosaic_target = mosaic_page(crops)
    model_cfg = tiny_model_config(assignment)
    model = build_model(model_cfg, num_classes=len(OVERFIT_CLASSES))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    first = None
    for _ in range(steps):
        images, targets = random_windows(mosaic, mosaic_target, 160, 2, rng)
        losses = model(images, targets)
        first = first or {name: float(value.detach()) for name, value in losses.items()}
        optimizer.zero_grad()
        sum(losses.values()).backward()
        optimizer.step()
    last = {name: float(value.detach()) for name, value in losses.items()}
    images = torch.stack([image for image, _ in crops])
    return OverfitRun(model.eval(), model_cfg, images, [target for _, target in crops], first, last, mosaic, mosaic_target)


@pytest.fixture(scope="session")
def overfit_fcos(dsv2_gray_page) -> OverfitRun:
    """The tiny FCOS-assigned model memorising two real crops (trained once per session)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return overfit_two_crops(dsv2_gray_page, "fcos")
    finally:
        torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def overfit_atss(dsv2_gray_page) -> OverfitRun:
    """As ``overfit_fcos`` with ATSS assignment."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return overfit_two_crops(dsv2_gray_page, "atss")
    finally:
        torch.set_num_threads(previous)


@pytest.fixture(autouse=True)
def one_thread():
    """The machine is shared: model tests run on one CPU thread."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
