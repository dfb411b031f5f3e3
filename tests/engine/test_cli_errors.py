"""train.py's promise: every user mistake ends in one ``error:`` line and exit 2, never a traceback.

Driven in-process through ``run_training_command`` (what train.py calls) to stay fast; the
Ctrl-C test runs a real train.py process.
"""
from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from detector.engine.cli import run_training_command
from detector.engine.run_folder import LOCK_NAME
from tests.conftest import REPO_ROOT
from tests.engine.conftest import tiny_values

STEPS = {"train": {"epochs": 1, "steps_per_epoch": 2}}


def _config(tmp_path: Path, root: Path, **sections) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny_values(root, tmp_path / "runs", **{**STEPS, **sections})))
    return path


def _train(capsys, config: Path, *overrides: str, resume=None, run_name=None) -> tuple[int, list[str], str]:
    code = run_training_command(str(config), list(overrides), resume, run_name, False)
    captured = capsys.readouterr()
    return code, captured.err.strip().splitlines(), captured.out


def _first_annotation(data: dict) -> dict:
    return next(iter(data["annotations"].values()))


def _truncated(data):
    return json.dumps(data)[:5000]


def _bbox_string(data):
    _first_annotation(data)["a_bbox"] = "1,2,3,4"


def _bbox_three_numbers(data):
    _first_annotation(data)["a_bbox"] = [1, 2, 3]


def _obbox_dict(data):
    _first_annotation(data)["o_bbox"] = {"x": 1}


def _images_missing(data):
    del data["images"]


def _images_dict(data):
    data["images"] = {"a": 1}


def _width_string(data):
    data["images"][0]["width"] = "2707"


def _page_missing(data):
    data["images"][0]["filename"] = "missing.png"


def _page_unreadable(data):
    data["images"][0]["filename"] = "broken.png"


def _page_wrong_size(data):
    data["images"][0]["width"] = 1000


def _no_pages(data):
    data["images"] = []


BAD_DATA = [_truncated, _bbox_string, _bbox_three_numbers, _obbox_dict, _images_missing, _images_dict,
            _width_string, _page_missing, _page_unreadable, _page_wrong_size, _no_pages]


@pytest.mark.parametrize("damage", BAD_DATA, ids=[f.__name__.strip("_") for f in BAD_DATA])
def test_malformed_data_is_one_error_line_and_exit_2(tmp_path, capsys, dsv2_sample_dir, damage):
    # given a DSv2 folder whose annotations or pages are broken in one way
    data = json.loads((dsv2_sample_dir / "deepscores_v2_sample.json").read_text())
    text = damage(copy.deepcopy(data)) if damage is _truncated else None
    if text is None:
        changed = copy.deepcopy(data)
        damage(changed)
        text = json.dumps(changed)
    root = tmp_path / "data"
    (root / "images").mkdir(parents=True)
    for image in (dsv2_sample_dir / "images").iterdir():
        (root / "images" / image.name).symlink_to(image)
    (root / "images" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    for split in ("train", "test"):
        (root / f"deepscores_{split}.json").write_text(text)
    # when train.py is run on it
    code, err, _ = _train(capsys, _config(tmp_path, root))
    # then one clear line, exit 2, no traceback
    assert code == 2, err
    assert err[-1].startswith("error: ") and "Traceback" not in "\n".join(err)


def test_resume_with_another_model_names_what_differs(tmp_path, capsys, dsv2_root):
    config = _config(tmp_path, dsv2_root)
    assert _train(capsys, config)[0] == 0
    code, err, _ = _train(capsys, config, "model.backbone=resnet34", "model.fpn_levels=[3,4]",
                          "data.classes=[noteheadBlackOnLine]", resume="auto")
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith("error: --resume:") and "trained with another model" in err[0]
    for difference in ("model.backbone 'resnet18' -> 'resnet34'", "model.fpn_levels [2, 3, 4] -> [3, 4]",
                       "data.classes"):
        assert difference in err[0]


def test_a_second_run_of_the_same_name_is_refused_while_the_first_runs(tmp_path, capsys, dsv2_root):
    # given a live training holding runs/tiny (a sleeping child process stands in for it)
    config = _config(tmp_path, dsv2_root)
    run_dir = tmp_path / "runs" / "tiny"
    run_dir.mkdir(parents=True)
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (run_dir / LOCK_NAME).write_text(f"{holder.pid}\n")
        # when a second training of that name starts, fresh or resumed
        for resume in (None, "auto"):
            code, err, _ = _train(capsys, config, resume=resume)
            # then it refuses in one line and writes nothing there
            assert code == 2 and len(err) == 1, err
            assert f"is in use by another training (pid {holder.pid})" in err[0]
        assert sorted(p.name for p in run_dir.iterdir()) == [LOCK_NAME]
    finally:
        holder.kill()
        holder.wait()
    # and once that process is gone its lock is stale: taken over, the run trains, the lock is released
    code, err, out = _train(capsys, config)
    assert code == 0, err
    assert not (run_dir / LOCK_NAME).exists() and (run_dir / "checkpoints" / "step_00000002.pt").is_file()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_an_unwritable_runs_folder_is_one_line_before_any_work(tmp_path, capsys, dsv2_root):
    runs = tmp_path / "runs"
    runs.mkdir()
    runs.chmod(0o500)
    try:
        code, err, out = _train(capsys, _config(tmp_path, dsv2_root))
    finally:
        runs.chmod(0o700)
    assert code == 2 and len(err) == 1
    assert err[0].startswith(f"error: cannot write to run folder {runs / 'tiny'}")
    assert "training on" not in out  # refused before the model or the data


def test_a_permission_error_on_the_run_folder_is_one_line_before_any_work(tmp_path, capsys, dsv2_root,
                                                                          monkeypatch):
    # what a read-only runs/ gives a normal user (root, who runs these tests here, may write anywhere)
    import detector.engine.run_folder as run_folder

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(run_folder.os, "open", refuse)
    code, err, out = _train(capsys, _config(tmp_path, dsv2_root))
    assert code == 2 and err == [f"error: cannot write to run folder {tmp_path / 'runs' / 'tiny'} "
                                 "(Permission denied); choose another with --set log.runs_dir=DIR"]
    assert "training on" not in out


def test_a_run_folder_that_is_a_file_is_one_line_before_any_work(tmp_path, capsys, dsv2_root):
    (tmp_path / "runs").write_text("not a folder")  # what root sees as unwritable too
    code, err, out = _train(capsys, _config(tmp_path, dsv2_root))
    assert code == 2 and len(err) == 1 and err[0].startswith("error: cannot write to run folder")
    assert "training on" not in out


def test_a_half_written_last_log_line_does_not_stop_resume_auto(tmp_path, capsys, dsv2_root):
    config = _config(tmp_path, dsv2_root)
    assert _train(capsys, config)[0] == 0
    losses = tmp_path / "runs" / "tiny" / "losses.jsonl"
    with open(losses, "a") as handle:
        handle.write('{"step": 2, "iteration": 2, "loss": 1.2')  # a full disk cut the line
    code, err, out = _train(capsys, config, "train.epochs=2", resume="auto")
    assert code == 0, err
    assert any("losses.jsonl: dropped 1 unreadable line" in line for line in err)
    steps = [json.loads(line)["step"] for line in losses.read_text().splitlines()]
    assert steps == [0, 1, 2, 3]


def test_the_done_line_counts_skipped_steps_and_rollbacks_and_reads_well(tmp_path, capsys, dsv2_root):
    code, err, out = _train(capsys, _config(tmp_path, dsv2_root))
    assert code == 0, err
    done = [line for line in out.splitlines() if line.startswith("done:")]
    assert len(done) == 1 and "2 steps (0 skipped, 0 rollback(s))" in done[0]
    assert "None" not in done[0] and "no validation (eval.every_epochs 0)" in done[0]
    # resuming the finished run still names its last checkpoint
    code, err, out = _train(capsys, _config(tmp_path, dsv2_root), resume="auto")
    done = [line for line in out.splitlines() if line.startswith("done:")][0]
    assert "last checkpoint " + str(tmp_path / "runs" / "tiny" / "checkpoints" / "step_00000002.pt") in done


def test_start_lines_name_the_device_and_model_size_then_an_estimate(tmp_path, capsys, dsv2_root):
    code, err, out = _train(capsys, _config(tmp_path, dsv2_root, train={"epochs": 1, "steps_per_epoch": 3}))
    assert code == 0, err
    assert "training on cpu (1 threads), 1 process(es): resnet18 x0.25, 0.26 M parameters" in out
    assert any(line.startswith("estimate: ") and "s/step" in line and "GiB; 0 steps left" in line
               for line in out.splitlines())


def test_a_gpu_sized_config_on_a_cpu_is_warned_about_at_once(tmp_path, capsys, dsv2_root):
    # (an empty data folder then ends the run: the warning comes before any data is read)
    (tmp_path / "empty").mkdir()
    config = _config(tmp_path, tmp_path / "empty")
    code, err, _ = _train(capsys, config, "data.imgsz=1024", "train.batch_size=4")
    assert code == 2
    assert err[0].startswith("warning: a GPU-sized config on a CPU (4 x 1024^2 px per step, resnet18)")


@pytest.mark.slow  # a real train.py process: ~15 s
def test_ctrl_c_saves_a_checkpoint_and_says_how_to_resume(tmp_path, dsv2_root):
    config = _config(tmp_path, dsv2_root, train={"epochs": 1, "steps_per_epoch": 500},
                     checkpoint={"every_steps": 1000})
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen([sys.executable, "train.py", "--config", str(config)], cwd=REPO_ROOT, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    losses = tmp_path / "runs" / "tiny" / "losses.jsonl"
    deadline = time.time() + 120
    while not (losses.is_file() and losses.read_text().count("\n") >= 2):
        assert process.poll() is None and time.time() < deadline
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("interrupted: SIGINT at step ")
    assert "continue with: python train.py --config" in last
    assert last.endswith("--resume auto")
    saved = sorted((tmp_path / "runs" / "tiny" / "checkpoints").glob("step_*.pt"))
    assert len(saved) == 2  # step 0 and the step where it stopped
