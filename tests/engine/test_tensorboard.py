"""A finished run leaves TensorBoard events with the expected tags, a report and a best checkpoint."""
from __future__ import annotations

from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from detector.engine.trainer import train
from tests.engine.conftest import tiny_config


@pytest.mark.slow  # a full-page validation: ~20-40 s on 2 shared cores
def test_event_files_hold_losses_lr_grad_norm_speed_memory_validation_and_config(dsv2_root, tmp_path):
    # a few detections per tile keep full-page validation of an untrained model short
    cfg = tiny_config(dsv2_root, tmp_path, train={"epochs": 1, "steps_per_epoch": 4},
                      model={"topk_per_level": 20, "max_detections": 100, "tile_size": 1024,
                             "tile_overlap": 64},
                      eval={"every_epochs": 1, "max_pages": 1, "overlay_pages": 1, "max_dets": 100})
    result = train(cfg)
    run_dir = Path(result["run_dir"])

    events = EventAccumulator(str(run_dir), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    events.Reload()
    scalars = set(events.Tags()["scalars"])
    for tag in ("loss/loss", "loss/loss_cls", "loss/loss_box", "loss/loss_ctr", "train/lr",
                "train/grad_norm_preclip", "train/clip_rate", "speed/images_per_s", "memory/peak_mb",
                "guard/skipped_total", "val/map", "val/map50"):
        assert tag in scalars, tag
    assert len(events.Scalars("train/grad_norm_preclip")) == 4  # every step
    assert any(tag.startswith("val_overlay/") for tag in events.Tags()["images"])
    assert "config/text_summary" in events.Tags()["tensors"]
    # the hparams live in the run's own event file: no placeholder `NAME/hparams` run
    assert not (run_dir / "hparams").exists()
    assert "_hparams_/session_start_info" in events.PluginTagToContent("hparams")

    # the validation report and the best checkpoint are written
    assert (run_dir / "report.md").is_file() and (run_dir / "report.json").is_file()
    assert result["val"]["map"] is not None and result["best_checkpoint"] is not None
