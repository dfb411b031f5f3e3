"""model stage: the hand-written anchor-free detector (ResNet + FPN + shared heads).

Files: backbone.py (1-channel ResNet + FPN), heads.py (shared towers), geometry.py
(locations, ltrb coding), assignment.py (FCOS centre sampling / ATSS), loss.py, decode.py,
detector.py (SymbolDetector, build_model), tiled.py (detect_pages), model_io.py.

Measured choices (``python tests/experiments/norm_and_assignment.py --steps 150``; shared
2-core CPU under load, 1 torch thread, 2026-11-25). Quickstart-sized model (resnet18 x0.5,
P2-P4, 64 channels), from scratch, AdamW 2e-3, batch 2, 150 steps of 192 px crops from the
upper 2700 rows of the real DSv2 sample page (its 6 most frequent stage-2 classes); mAP@.5 on
the held-out lower 1128 rows, tiled inference. One seed, so differences of ~0.01 are noise.

    norm   assignment  loss first50 -> last50  held-out mAP@.5  train s
    group  fcos        2.071 -> 1.778          0.169            144
    batch  fcos        2.032 -> 1.754          0.161            187
    group  atss        1.969 -> 1.992          0.201            215

- GroupNorm vs BatchNorm: equal within noise this early (BatchNorm's training loss slightly
  lower, its held-out mAP slightly lower: the train/eval statistics gap). GroupNorm stays the
  default: it removes that gap and the batch-size dependence, the known failure at batch 2-4.
- FCOS vs ATSS: ATSS scored higher held-out (+0.03 mAP@.5; its loss is not comparable, the
  positive sets differ). Both stay available; ``atss`` is the better-measured choice.
"""
from detector.model.detector import SymbolDetector, build_model
from detector.model.model_io import CheckpointError, load_model, save_model
from detector.model.tiled import detect_pages

__all__ = ["SymbolDetector", "build_model", "detect_pages", "save_model", "load_model", "CheckpointError"]
