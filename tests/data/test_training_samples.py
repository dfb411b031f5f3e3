"""Training samples: crops and resized pages, reproducible, with boxes on their ink."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from detector.config import AugmentConfig, DataConfig, config_from_dict
from detector.data.classes import DSV2_ID_BY_NAME
from detector.data.crops import clip_to_crop
from detector.data.dataset import (
    CropDataset,
    PageImageCache,
    ResizeDataset,
    build_dataset,
    collate_batch,
    resolve_data_root,
)
from detector.data.deepscores import ImageReadError, filter_classes, load_deepscores

GEOMETRY_ONLY = AugmentConfig(rotation_deg=2.0, scale_jitter=0.2, blur_prob=0.0, noise_prob=0.0,
                              binarize_prob=0.0, jpeg_prob=0.0, contrast_prob=0.0)
EVERYTHING = AugmentConfig(rotation_deg=2.0, scale_jitter=0.2, blur_prob=1.0, noise_prob=1.0,
                           binarize_prob=1.0, jpeg_prob=1.0, contrast_prob=1.0)


@pytest.fixture(scope="module")
def stage2_pages(sample_split, stage2_names):
    return filter_classes(sample_split.pages, stage2_names)


def _same(a, b) -> bool:
    images_equal = torch.equal(a[0], b[0])
    return images_equal and all(torch.equal(a[1][key], b[1][key]) for key in ("boxes", "labels"))


def _dark_fraction(gray: np.ndarray, box) -> float:
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    return float((gray[max(y0, 0):y1, max(x0, 0):x1] < 0.4).mean())


def _noteheads_on_ink(image: torch.Tensor, target: dict, class_names) -> int:
    """Assert whole black notehead boxes sit on their ink; return how many were checked.

    A black notehead fills ~75% of its box; the same box moved by a third of its size
    covers clearly less ink (staff lines and neighbours keep some), so a box that drifted
    from its symbol fails the comparison even where it still touches ink.
    """
    gray = image[0].numpy()
    size = gray.shape[0]
    on_box, moved = [], []
    for box, label in zip(target["boxes"].tolist(), target["labels"].tolist()):
        x0, y0, x1, y1 = box
        if not class_names[label].startswith("noteheadBlack") or min(x0, y0) < 1 or max(x1, y1) > size - 1:
            continue
        on_box.append(_dark_fraction(gray, box))
        dx, dy = (x1 - x0) / 3, (y1 - y0) / 3
        for sx, sy in ((dx, 0), (-dx, 0), (0, dy), (0, -dy)):
            moved.append(_dark_fraction(gray, [x0 + sx, y0 + sy, x1 + sx, y1 + sy]))
    if on_box:
        assert min(on_box) > 0.6, f"a notehead box is off its ink: {on_box}"
        assert np.mean(on_box) > np.mean(moved) + 0.1, "notehead boxes are not where the ink is"
    return len(on_box)


def test_a_crop_depends_only_on_seed_and_index(stage2_pages, stage2_names):
    # given two datasets with the same seed, read in opposite orders
    cfg = DataConfig(imgsz=256, augment=EVERYTHING)
    first = CropDataset(stage2_pages, stage2_names, cfg, seed=7, length=6)
    second = CropDataset(stage2_pages, stage2_names, cfg, seed=7, length=6)
    forward = [first[i] for i in range(6)]
    backward = [second[i] for i in reversed(range(6))][::-1]
    # then the samples are identical, and another seed gives other samples
    assert all(_same(a, b) for a, b in zip(forward, backward))
    other = CropDataset(stage2_pages, stage2_names, cfg, seed=8, length=6)
    assert not any(_same(a, other[i]) for i, a in enumerate(forward))


def test_dataloader_workers_do_not_change_the_batches(stage2_pages, stage2_names):
    dataset = CropDataset(stage2_pages, stage2_names, DataConfig(imgsz=128), seed=1, length=4)
    single = list(DataLoader(dataset, batch_size=2, collate_fn=collate_batch))
    workers = list(DataLoader(dataset, batch_size=2, num_workers=2, collate_fn=collate_batch))
    for (images_a, targets_a), (images_b, targets_b) in zip(single, workers):
        assert torch.equal(images_a, images_b)
        assert all(torch.equal(a["boxes"], b["boxes"]) for a, b in zip(targets_a, targets_b))


def test_augmented_crops_keep_boxes_inside_and_on_their_ink(stage2_pages, stage2_names):
    # given crops rotated by up to 2 degrees and scaled by +-20% from the real page
    cfg = DataConfig(imgsz=384, augment=GEOMETRY_ONLY)
    dataset = CropDataset(stage2_pages, stage2_names, cfg, seed=0, length=12)
    checked = 0
    for index in range(len(dataset)):
        image, target = dataset[index]
        boxes = target["boxes"]
        # then every box lies in the crop with a positive size, and the noteheads sit on ink
        assert image.shape == (1, 384, 384) and image.dtype == torch.float32
        assert boxes.shape[0] == target["labels"].shape[0]
        assert torch.all(boxes >= 0) and torch.all(boxes <= 384)
        assert torch.all(boxes[:, 2] > boxes[:, 0]) and torch.all(boxes[:, 3] > boxes[:, 1])
        checked += _noteheads_on_ink(image, target, stage2_names)
    assert checked >= 20


def test_all_pixel_augmentations_at_once_stay_in_range(stage2_pages, stage2_names):
    plain = CropDataset(stage2_pages, stage2_names, DataConfig(imgsz=256), seed=0, length=2, augment=False)
    noisy = CropDataset(stage2_pages, stage2_names, DataConfig(imgsz=256, augment=EVERYTHING), length=2)
    image, _ = noisy[0]
    assert 0.0 <= image.min() and image.max() <= 1.0
    assert not torch.equal(image, plain[0][0])


def test_rare_classes_are_favoured(stage2_pages, stage2_names):
    # given the four classes with a single instance or two on the page
    rare_names = ("clefCTenor", "clef8", "articTenutoBelow", "noteheadWholeInSpace")
    rare = [stage2_names.index(n) for n in rare_names]

    def share_with_rare(boost: float) -> float:
        cfg = DataConfig(imgsz=160, rare_class_boost=boost)
        dataset = CropDataset(stage2_pages, stage2_names, cfg, seed=0, length=200, augment=False)
        return np.mean([np.isin(dataset[i][1]["labels"].numpy(), rare).any() for i in range(200)])

    # then boosting rare classes puts them in clearly more crops (measured: 2% -> 7.5% of 160 px crops)
    assert share_with_rare(4.0) > 2 * share_with_rare(1.0)


def test_boxes_mostly_outside_the_crop_are_dropped():
    boxes = np.array([[-5, 0, 5, 10], [-3, 0, 7, 10], [90, 90, 110, 110], [10, 10, 20, 20]], dtype=np.float32)
    kept, keep = clip_to_crop(boxes, 100)
    # 50% inside: dropped; 70%: clipped and kept; 25%: dropped; whole: kept as is
    assert keep.tolist() == [False, True, False, True]
    np.testing.assert_array_equal(kept, [[0, 0, 7, 10], [10, 10, 20, 20]])


def test_a_page_smaller_than_the_crop_is_padded_white(make_dsv2, stage2_names):
    # given an 80 x 60 page with one clef drawn as a black rectangle
    split = load_deepscores(make_dsv2([(80, 60, [(DSV2_ID_BY_NAME["clefG"], [30, 10, 40, 50])])]))
    dataset = CropDataset(split.pages, stage2_names, DataConfig(imgsz=128), seed=0, length=3, augment=False)
    for index in range(3):
        image, target = dataset[index]
        (box,) = target["boxes"].tolist()
        x0, y0, x1, y1 = (int(v) for v in box)
        # then the clef keeps its size and ink, and everything else, page and padding, is white
        assert (x1 - x0, y1 - y0) == (10, 40) and target["labels"].tolist() == [stage2_names.index("clefG")]
        assert torch.all(image[0, y0:y1, x0:x1] == 0)
        assert image.sum() == 128 * 128 - 10 * 40


def test_an_unreadable_page_is_skipped_not_fatal(make_dsv2, tmp_path, stage2_names):
    # given two pages whose second image is truncated after the load (its header still reads)
    clef, flat = DSV2_ID_BY_NAME["clefG"], DSV2_ID_BY_NAME["keyFlat"]
    json_path = make_dsv2([(300, 200, [(clef, [10, 10, 30, 60])]), (300, 200, [(flat, [10, 10, 30, 60])])])
    split = load_deepscores(json_path)
    bad = tmp_path / "images" / "page1.png"
    bad.write_bytes(bad.read_bytes()[:60])
    dataset = CropDataset(split.pages, stage2_names, DataConfig(imgsz=64), seed=0, length=20, augment=False)
    # then every sample comes from the readable page, and the bad one is counted
    labels = {label for i in range(20) for label in dataset[i][1]["labels"].tolist()}
    assert labels == {stage2_names.index("clefG")}
    assert list(dataset.unreadable) == [1]
    # and when no page can be read, one clear error
    (tmp_path / "images" / "page0.png").write_bytes(b"")
    with pytest.raises(ImageReadError, match="none of the 2 page images"):
        CropDataset(split.pages, stage2_names, DataConfig(imgsz=64), seed=0, length=1)[0]


def test_resized_page_keeps_every_box_on_its_ink(stage2_pages, stage2_names):
    # given the whole 2707 x 3828 page resized so its long side is 1024
    cfg = DataConfig(imgsz=1024, mode="resize")
    dataset = ResizeDataset(stage2_pages, stage2_names, cfg, seed=0, length=1, augment=False)
    image, target = dataset[0]
    width = round(2707 * 1024 / 3828)
    # then all 343 boxes are scaled into the page area, the padding is white, noteheads on ink
    assert image.shape == (1, 1024, 1024) and len(target["boxes"]) == 343
    assert target["boxes"][:, 2].max() <= width
    assert torch.all(image[0, :, width:] == 1.0)
    assert _noteheads_on_ink(image, target, stage2_names) > 100


def test_build_dataset_picks_crop_or_resize(dsv2_sample_dir):
    cfg = config_from_dict({"data": {"root": str(dsv2_sample_dir), "imgsz": 128}})
    assert resolve_data_root(cfg) == dsv2_sample_dir
    crops = build_dataset(cfg, cfg.data.train_split, length=5)
    assert isinstance(crops, CropDataset) and len(crops) == 5 and crops.augment
    cfg.data = dataclasses.replace(cfg.data, mode="resize")
    resized = build_dataset(cfg, cfg.data.val_split, length=2)
    assert isinstance(resized, ResizeDataset) and not resized.augment
    images, targets = collate_batch([resized[0], resized[1]])
    assert images.shape == (2, 1, 128, 128) and len(targets) == 2
    assert targets[0]["labels"].dtype == torch.int64 and targets[0]["boxes"].dtype == torch.float32


def test_page_cache_stays_within_its_memory_budget(make_dsv2):
    # given three 100 x 100 pages (10 kB each as gray) and a cache of 25 kB
    split = load_deepscores(make_dsv2([(100, 100, [(DSV2_ID_BY_NAME["clefG"], [10, 10, 30, 60])])] * 3))
    cache = PageImageCache(max_bytes=25_000)
    for page in split.pages:
        cache.get(page.path)
    # then only the two most recent pages stay
    assert len(cache) == 2 and list(cache._pages) == [p.path for p in split.pages[1:]]
