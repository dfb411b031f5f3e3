"""Measure: GroupNorm vs BatchNorm backbone, FCOS centre sampling vs ATSS (from scratch, batch 2).

Trains the quickstart-sized detector on 192 px crops of the upper 70% of the real DSv2 sample
page (its six most frequent stage-2 classes, so a few hundred steps can reach a non-zero mAP)
and scores mAP@[.5:.95] and mAP@.5 on the held-out lower part (tiled inference). One CPU
thread; each variant gets the same seed, steps and crops. Run:
    python tests/experiments/norm_and_assignment.py --steps 150
Not a test (it takes minutes); the numbers go into the model's docstrings.
"""
from __future__ import annotations

import argparse
import json
from collections import Counter
import time
from pathlib import Path

import numpy as np
import torch

from detector.bench_metrics import coco_map, random_crop
from detector.config import ModelConfig
from detector.data.deepscores import load_deepscores, load_page_image
from detector.model import build_model, detect_pages

SAMPLE = Path(__file__).resolve().parents[1] / "fixtures" / "deepscores_v2_sample"
SPLIT_Y = 2700  # rows above: training crops; rows below: held-out evaluation region


def load_page():
    split = load_deepscores(SAMPLE / "deepscores_v2_sample.json", SAMPLE / "images", classes="stage2")
    page = split.pages[0]
    names = [name for name, _ in Counter(page.class_names).most_common() if name != "slur"][:6]
    keep = np.array([n in names for n in page.class_names])
    labels = np.array([names.index(n) for n, k in zip(page.class_names, keep) if k], dtype=np.int64)
    return load_page_image(page.path), page.boxes[keep].astype(np.float32), labels, names


def run_variant(norm: str, assignment: str, steps: int, page, seed: int = 0) -> dict:
    image, boxes, labels, names = page
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    cfg = ModelConfig(backbone="resnet18", width=0.5, norm=norm, fpn_levels=[2, 3, 4], fpn_channels=64,
                      head_convs=2, assignment=assignment, tile_size=192, tile_overlap=64)
    model = build_model(cfg, len(names))
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    losses, start = [], time.perf_counter()
    model.train()
    for step in range(steps):
        batch = [random_crop(image, boxes, labels, 192, rng, (0, SPLIT_Y - 100)) for _ in range(2)]
        terms = model(torch.stack([b[0] for b in batch]), [b[1] for b in batch])
        loss = sum(terms.values())
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        optimizer.step()
        losses.append(float(loss.detach()))
    train_s = time.perf_counter() - start
    held_out = image[SPLIT_Y:]
    inside = boxes[:, 1] >= SPLIT_Y
    gt = [(boxes[inside] - np.array([0, SPLIT_Y, 0, SPLIT_Y], dtype=np.float32), labels[inside])]
    found = detect_pages(model, [held_out], cfg, "cpu")
    return {"norm": norm, "assignment": assignment, "steps": steps, "train_s": round(train_s, 1),
            "loss_first50": round(float(np.mean(losses[:50])), 3),
            "loss_last50": round(float(np.mean(losses[-50:])), 3),
            "heldout_map": round(coco_map(gt, found, len(names)), 4),
            "heldout_map50": round(coco_map(gt, found, len(names), iou50=True), 4),
            "heldout_dets": int(len(found[0]["scores"]))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--variants", default="group:fcos,batch:fcos,group:atss")
    args = parser.parse_args()
    torch.set_num_threads(1)
    page = load_page()
    for variant in args.variants.split(","):
        norm, assignment = variant.split(":")
        print(json.dumps(run_variant(norm, assignment, args.steps, page)), flush=True)


if __name__ == "__main__":
    main()
