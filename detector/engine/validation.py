"""Validation during training through the evaluation stage's code (the numbers eval.py prints).

Kept behind one small class so the loop does not care whether the evaluation stage is
installed yet: without it, validation is skipped with one warning.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Optional

import torch

from detector.config import Config
from detector.engine.tb_logging import TrainLogger


def _evaluate_model_function():
    """``detector.evaluation.inference.evaluate_model``, or None when it is not available."""
    try:
        from detector.evaluation.inference import evaluate_model
    except ImportError as err:
        warnings.warn(f"validation skipped: the evaluation stage is not importable ({err})")
        return None
    return evaluate_model


class Validator:
    """Evaluates the model on the validation pages and remembers the last report."""

    def __init__(self, cfg: Config, class_names: list[str], device: torch.device) -> None:
        self.cfg = cfg
        self.class_names = class_names
        self.device = device
        self.pages = None  # loaded on first use
        self.report = None

    def prepare(self) -> None:
        """Read the validation pages now, so a malformed split fails before training, not after."""
        if self.pages is None:
            self.pages = self._load_pages()

    def _load_pages(self) -> list:
        from detector.data.dataset import resolve_data_root
        from detector.data.deepscores import load_deepscores, split_json_path

        json_path = split_json_path(resolve_data_root(self.cfg), self.cfg.data.val_split)
        pages = load_deepscores(json_path, classes=self.class_names).pages
        limit = self.cfg.eval.max_pages
        return pages[:limit] if limit > 0 else pages

    def run(self, model: torch.nn.Module, step: int, logger: TrainLogger) -> Optional[dict]:
        """mAP of ``model`` (bare, eval mode) at ``step``; logs scalars, per-class AP, overlays."""
        evaluate_model = _evaluate_model_function()
        if evaluate_model is None:
            return None
        if self.pages is None:
            self.pages = self._load_pages()
        report = evaluate_model(model, self.pages, self.class_names, self.cfg, self.device,
                                writer=logger.writer, step=logger.iteration)
        per_class = {row.name: row.ap for row in report.per_class if row.ap is not None}
        logger.log_validation(logger.iteration, {}, per_class)  # overall scalars: logged by evaluate_model
        self.report = report
        summary = report.summary
        logger.event(step, "validation",
                     f"mAP {_fmt(summary.get('map'))}, mAP50 {_fmt(summary.get('map50'))} "
                     f"on {len(self.pages)} page(s)", map=summary.get("map"))
        return {"step": step, "map": summary.get("map"), "map50": summary.get("map50"),
                "map75": summary.get("map75")}

    def write_report(self, run_dir: Path) -> Optional[tuple[Path, Path]]:
        """``report.json`` and ``report.md`` of the last validation, in the run folder."""
        if self.report is None:
            return None
        return self.report.save(run_dir)


def _fmt(value: Optional[float]) -> str:
    return "n/a" if value is None else f"{value:.4f}"
