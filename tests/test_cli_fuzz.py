"""Fuzz the three commands with generated bad inputs: one clear line, never a traceback.

Every case runs a command's own entry point in-process (``main(argv)`` of eval.py and
reconstruct.py; train.py through ``runpy`` as ``__main__``) on inputs made by a seeded
generator: malformed JSON (truncated, wrong types, wrong shapes, odd numbers), broken and
odd images (empty, garbled, truncated, modes 1, P, LA, PA, I;16, I, F, CMYK, RGBA, sizes from
1 x 1 to a declared 10^10 pixels), broken YAML configs and overrides, unwritable outputs.
The promise checked: exit status 2 with exactly one line on stderr naming the problem, or
status 0 (a correct result: the outputs exist); never a traceback, never another status.
A few cases run as real subprocesses to show that the in-process path is what a user gets.

Counts: ``CASES`` below (1,000+ in all); each case's seed is its index, so a failure
replays with ``pytest tests/test_cli_fuzz.py -k "<id>"``.
"""
from __future__ import annotations

import importlib.util
import io
import json
import random
import runpy
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DIR = REPO_ROOT / "tests" / "fixtures" / "deepscores_v2_sample"
SAMPLE_JSON = SAMPLE_DIR / "deepscores_v2_sample.json"

#: Cases per family (the sum is the suite's size).
CASES = {"reconstruct_image": 260, "reconstruct_detections": 240, "eval_detections": 200,
         "eval_data": 120, "train_config": 130, "train_data": 40, "outputs": 30}
#: Error line prefixes per command.
PREFIX = {"eval.py": "eval.py: error: ", "reconstruct.py": "reconstruct.py: error: ", "train.py": "error: "}


def load_cli(name: str):
    """The entry-point module ``name`` (eval.py, reconstruct.py) loaded from the repository root."""
    spec = importlib.util.spec_from_file_location(f"cli_{Path(name).stem}", REPO_ROOT / name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


EVAL = load_cli("eval.py")
RECONSTRUCT = load_cli("reconstruct.py")


def run_in_process(name: str, argv: list[str], capsys, monkeypatch) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of ``name`` run with ``argv`` in this process."""
    capsys.readouterr()
    try:
        if name == "train.py":
            monkeypatch.setattr(sys, "argv", ["train.py", *argv])
            runpy.run_path(str(REPO_ROOT / "train.py"), run_name="__main__")
            code = 0
        else:
            code = (EVAL if name == "eval.py" else RECONSTRUCT).main(argv)
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    out, err = capsys.readouterr()
    return code, out, err


#: Lines allowed before the error line: warnings that explain it (the DSv2 loader's "skipping
#: page (image_missing): ..." and its one-line summary, PIL's warnings as the trainer prints them).
WARNING_PREFIXES = ("DeepScores ", "skipping page (", "warning: ")


def error_lines(err: str) -> list[str]:
    """stderr lines that are not progress bars or warnings printed before the error."""
    return [line for line in err.splitlines()
            if line.strip() and not line.startswith(WARNING_PREFIXES) and "\r" not in line]


def check_promise(name: str, code: int, err: str, outputs: list[Path]) -> None:
    """Exit 2 with one line starting with the command's error prefix, or exit 0 with outputs."""
    assert "Traceback" not in err, err
    if code == 2:
        lines = error_lines(err)
        assert len(lines) == 1, f"expected one error line, got:\n{err}"
        assert lines[0].startswith(PREFIX[name]), lines[0]
    else:
        assert code == 0, f"exit {code}:\n{err}"
        for path in outputs:
            assert path.exists(), f"exit 0 but {path} missing"


# --------------------------------------------------------------------------- generators


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def declared_png(width: int, height: int) -> bytes:
    """A PNG header declaring ``width x height`` 8-bit gray with one tiny compressed row."""
    header = png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
    data = png_chunk(b"IDAT", zlib.compress(b"\x00" * 8))
    return b"\x89PNG\r\n\x1a\n" + header + data + png_chunk(b"IEND", b"")


def score_like(width: int, height: int, rng: random.Random) -> np.ndarray:
    """uint8 gray: white paper, a few staff-like lines and blobs (0-255)."""
    page = np.full((height, width), 255, np.uint8)
    for _ in range(rng.randint(0, 5)):
        y = rng.randrange(height)
        page[y, :] = rng.choice([0, 40, 120])
    for _ in range(rng.randint(0, 8)):
        y, x = rng.randrange(height), rng.randrange(width)
        page[y:y + rng.randint(1, 12), x:x + rng.randint(1, 12)] = 0
    return page


def encode(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def odd_image(rng: random.Random) -> tuple[bytes, str]:
    """Bytes of a bad or unusual page image and the file suffix to give it."""
    kind = rng.choice(["empty", "random", "text", "truncated", "garbled", "declared_huge", "mode", "mode",
                       "mode", "tiny", "wide", "flat", "jpeg_cut"])
    small = (rng.randint(1, 260), rng.randint(1, 260))
    if kind == "empty":
        return b"", ".png"
    if kind == "random":
        suffix = rng.choice([".png", ".jpg", ".tif"])
        return bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 400))), suffix
    if kind == "text":
        return rng.choice([b"hello", b"<svg/>", b"%PDF-1.4", b"{}", b"\x89PNG"]), ".png"
    if kind in ("truncated", "garbled"):
        data = bytearray(encode(Image.fromarray(score_like(*small, rng)), "PNG"))
        if kind == "truncated":
            return bytes(data[: rng.randint(8, max(9, len(data) - 1))]), ".png"
        for _ in range(rng.randint(1, 20)):
            data[rng.randrange(8, len(data))] = rng.getrandbits(8)
        return bytes(data), ".png"
    if kind == "declared_huge":
        return declared_png(rng.choice([100_000, 2**31 - 1, 1]), rng.choice([100_000, 2**31 - 1])), ".png"
    if kind == "jpeg_cut":
        data = encode(Image.fromarray(score_like(*small, rng)).convert("RGB"), "JPEG")
        return data[: rng.randint(2, len(data))], ".jpg"
    if kind == "tiny":
        small = (rng.randint(1, 3), rng.randint(1, 3))
    if kind == "wide":
        long, short = rng.randint(1500, 3000), rng.randint(1, 20)
        small = rng.choice([(long, short), (short, long)])
    if kind == "flat":
        page = np.full(small[::-1], rng.choice([0, 255, 128]), np.uint8)
    else:
        page = score_like(*small, rng)
    image = Image.fromarray(page)
    mode = rng.choice(["1", "L", "P", "LA", "PA", "RGB", "RGBA", "CMYK", "I;16", "I", "F"])
    if mode == "I;16":
        image = Image.fromarray((page.astype(np.uint16) * 257))
    elif mode == "F":
        image = Image.fromarray(page.astype(np.float32) / rng.choice([1.0, 255.0]), mode="F")
    else:
        image = image.convert(mode)
    fmt = "TIFF" if mode in ("CMYK", "I", "F", "PA") else "PNG"
    return encode(image, fmt), ".tif" if fmt == "TIFF" else ".png"


JSON_VALUES = [None, True, False, 0, -1, 1e308, -1e308, 3.5, "", "x", "410", [], {}, [1, 2], [1, 2, 3],
               ["a", "b", "c", "d"], {"a": 1}, float("nan"), float("inf"), 2**70]


def json_text(value, rng: random.Random) -> str:
    """``value`` as JSON text, sometimes truncated or garbled."""
    text = json.dumps(value)  # NaN and Infinity are written as JSON5-style literals: bad input too
    roll = rng.random()
    if roll < 0.15:
        return text[: rng.randrange(max(1, len(text)))]
    if roll < 0.2:
        chars = list(text)
        for _ in range(rng.randint(1, 5)):
            chars[rng.randrange(len(chars))] = rng.choice("{}[],:\"x0\\")
        return "".join(chars)
    if roll < 0.23:
        return rng.choice(["", " ", "\x00\x01", "\ufeff[]", "nul", "[1,]", "{'a': 1}"])
    return text


def mutate(value, rng: random.Random, depth: int = 0):
    """A copy of a JSON value with one random change somewhere inside it."""
    if isinstance(value, dict) and value and depth < 6 and rng.random() < 0.8:
        key = rng.choice(list(value))
        changed = dict(value)
        action = rng.random()
        if action < 0.2:
            del changed[key]
        elif action < 0.3:
            changed[rng.choice(["extra", key + "_", ""])] = rng.choice(JSON_VALUES)
        else:
            changed[key] = mutate(value[key], rng, depth + 1)
        return changed
    if isinstance(value, list) and value and depth < 6 and rng.random() < 0.8:
        changed = list(value)
        index = rng.randrange(len(changed))
        action = rng.random()
        if action < 0.15:
            del changed[index]
        elif action < 0.25:
            changed.append(rng.choice(JSON_VALUES))
        else:
            changed[index] = mutate(changed[index], rng, depth + 1)
        return changed
    return rng.choice(JSON_VALUES)


def coco_results(rng: random.Random, count: int = 12) -> list[dict]:
    """A small valid COCO results list for the sample page (image 410)."""
    category_ids = [25, 27, 31, 42, 6, 88, 33]  # DSv2 ids of common stage-2 symbols (and one 'stem')
    out = []
    for _ in range(count):
        x, y = rng.uniform(0, 2600), rng.uniform(0, 3700)
        out.append({"image_id": 410, "category_id": rng.choice(category_ids),
                    "bbox": [x, y, rng.uniform(5, 40), rng.uniform(5, 40)], "score": rng.random()})
    return out


@pytest.fixture(scope="module")
def small_dsv2() -> dict:
    """The sample page's DSv2 JSON cut to its first 40 annotations (fast to parse, still valid)."""
    data = json.loads(SAMPLE_JSON.read_text())
    keep = list(data["annotations"])[:40]
    data["annotations"] = {key: data["annotations"][key] for key in keep}
    data["images"][0]["ann_ids"] = [a for a in data["images"][0]["ann_ids"] if a in keep]
    return data


def cases(family: str) -> list:
    return [pytest.param(index, id=f"{family}-{index}") for index in range(CASES[family])]


# --------------------------------------------------------------------------- reconstruct.py


@pytest.mark.parametrize("seed", cases("reconstruct_image"))
def test_reconstruct_on_broken_and_odd_images(seed, tmp_path, capsys, monkeypatch):
    # given a bad or unusual page image and symbols from a file (no model: the images are the point)
    rng = random.Random(seed)
    data, suffix = odd_image(rng)
    page = tmp_path / f"page{suffix}"
    page.write_bytes(data)
    # when reconstruct.py reads it, then one line and exit 2, or a MusicXML file and exit 0
    reconstruct_with_detections(page, json.dumps(coco_results(rng, rng.choice([0, 3]))), tmp_path, capsys,
                                monkeypatch)


@pytest.mark.parametrize("seed", cases("reconstruct_detections"))
def test_reconstruct_on_malformed_detections(seed, tmp_path, capsys, monkeypatch, small_dsv2):
    # given a small page and a detections file that is a mutated COCO list or DSv2 file
    rng = random.Random(10_000 + seed)
    page = tmp_path / "page.png"
    Image.fromarray(score_like(rng.randint(40, 300), rng.randint(40, 300), rng)).save(page)
    base = coco_results(rng) if rng.random() < 0.6 else small_dsv2
    value = base
    for _ in range(rng.randint(1, 3)):
        value = mutate(value, rng)
    reconstruct_with_detections(page, json_text(value, rng), tmp_path, capsys, monkeypatch)


def reconstruct_with_detections(page, detections_text: str, tmp_path, capsys, monkeypatch) -> None:
    """reconstruct.py on ``page`` with these detections: one line and exit 2, or MusicXML and 0."""
    detections = tmp_path / "dets.json"
    detections.write_text(detections_text)
    out = tmp_path / "score.musicxml"
    argv = [str(page), "--detections", str(detections), "--out", str(out)]
    code, _, err = run_in_process("reconstruct.py", argv, capsys, monkeypatch)
    check_promise("reconstruct.py", code, err, [out])


# --------------------------------------------------------------------------- eval.py


@pytest.mark.parametrize("seed", cases("eval_detections"))
def test_eval_on_malformed_detections(seed, tmp_path, capsys, monkeypatch, small_dsv2):
    # given the small sample annotation file and a mutated COCO results file
    rng = random.Random(20_000 + seed)
    data = tmp_path / "deepscores_test.json"
    data.write_text(json.dumps(small_dsv2))
    value = coco_results(rng, 6)
    for _ in range(rng.randint(1, 3)):
        value = mutate(value, rng)
    detections = tmp_path / "dets.json"
    detections.write_text(json_text(value, rng))
    out = tmp_path / "report"
    argv = ["--detections", str(detections), "--data", str(data), "--out", str(out), "--overlays", "0"]
    code, _, err = run_in_process("eval.py", argv, capsys, monkeypatch)
    check_promise("eval.py", code, err, [out / "report.json"])


@pytest.mark.parametrize("seed", cases("eval_data"))
def test_eval_on_malformed_annotation_files(seed, tmp_path, capsys, monkeypatch, small_dsv2):
    # given a mutated DSv2 annotation file (its image beside it, or missing) and no detections
    rng = random.Random(30_000 + seed)
    value = small_dsv2
    for _ in range(rng.randint(1, 3)):
        value = mutate(value, rng)
    data = tmp_path / "deepscores_test.json"
    data.write_text(json_text(value, rng))
    if rng.random() < 0.7:
        (tmp_path / "images").mkdir()
        (tmp_path / "images" / "lg-5230237-aug-emmentaler--page-2.png").write_bytes(odd_image(rng)[0])
    detections = tmp_path / "dets.json"
    detections.write_text("[]")
    out = tmp_path / "report"
    argv = ["--detections", str(detections), "--data", str(data), "--out", str(out), "--overlays", "0"]
    code, _, err = run_in_process("eval.py", argv, capsys, monkeypatch)
    check_promise("eval.py", code, err, [out / "report.json"])


# --------------------------------------------------------------------------- train.py

CONFIG_KEYS = ["data.root", "data.classes", "data.imgsz", "model.backbone", "model.width",
               "model.fpn_levels", "model.tile_overlap", "train.lr0", "train.epochs", "train.batch_size",
               "train.step_milestones", "checkpoint.every_steps", "log.every_steps", "guard.window",
               "eval.score_thresh", "nosuch.key", "train", "train.lr", "model.norm"]


@pytest.mark.parametrize("seed", cases("train_config"))
def test_train_on_broken_configs_and_overrides(seed, tmp_path, capsys, monkeypatch):
    # given a broken YAML config file, or a good one with a bad --set value; runs go to tmp_path
    rng = random.Random(40_000 + seed)
    config = tmp_path / "cfg.yaml"
    argv = ["--config", str(config), "--run-name", "fuzz"]
    good = (REPO_ROOT / "configs" / "quickstart.yaml").read_text()
    if rng.random() < 0.5:
        lines = good.splitlines()
        for _ in range(rng.randint(1, 4)):
            index = rng.randrange(len(lines))
            key = lines[index].split(":")[0]
            lines[index] = rng.choice([f"{key}: {json.dumps(rng.choice(JSON_VALUES))}", f"{key}: [", "  - :",
                                       "\t" + lines[index],
                                       lines[index][: rng.randrange(len(lines[index]) + 1)],
                                       "%%%", f"{key}: !!python/object:os.system 'echo pwned'", "nosuch: 1"])
        config.write_text("\n".join(lines))
        argv += ["--set", f"log.runs_dir={tmp_path / 'runs'}", "data.root=/nonexistent/fuzz_data"]
    else:
        config.write_text(good)
        key = rng.choice(CONFIG_KEYS)
        value = rng.choice(["-5", "0", "abc", "[a, b]", "{x: 1}", "1e999", "null", "''", "[", "7", "-1e-9"])
        argv += ["--set", f"log.runs_dir={tmp_path / 'runs'}", "data.root=/nonexistent/fuzz_data",
                 f"{key}={value}"]
    code, _, err = run_in_process("train.py", argv, capsys, monkeypatch)
    assert "pwned" not in err
    check_promise("train.py", code, err, [])
    assert code == 2  # every case here is broken (at the least, data.root does not exist)


@pytest.mark.parametrize("seed", cases("train_data"))
def test_train_on_malformed_datasets(seed, tmp_path, capsys, monkeypatch, small_dsv2):
    # given a DSv2 folder whose train file is broken (structure cut, every page unusable)
    rng = random.Random(50_000 + seed)
    root = tmp_path / "ds"
    (root / "images").mkdir(parents=True)
    value = small_dsv2
    breakage = rng.choice(["truncate", "no_images", "images_dict", "bbox_string", "width_string", "no_pages",
                           "missing_image", "unreadable_image", "garbage"])
    if breakage == "no_images":
        value = {k: v for k, v in value.items() if k != "images"}
    elif breakage == "images_dict":
        value = dict(value, images={"a": 1})
    elif breakage == "bbox_string":
        value = json.loads(json.dumps(value))
        for annotation in value["annotations"].values():
            annotation["a_bbox"] = "1,2,3,4"
    elif breakage == "width_string":
        value = json.loads(json.dumps(value))
        value["images"][0]["width"] = "wide"
    elif breakage == "no_pages":
        value = dict(value, images=[])
    text = json.dumps(value)
    if breakage == "truncate":
        text = text[: rng.randrange(len(text))]
    if breakage == "garbage":
        text = json_text(mutate(mutate(value, rng), rng), rng)
    for split in ("train", "test"):
        (root / f"deepscores_{split}.json").write_text(text)
    if breakage not in ("missing_image", "garbage"):  # garbage may stay valid: no image, no training
        image = SAMPLE_DIR / "images" / "lg-5230237-aug-emmentaler--page-2.png"
        target = root / "images" / image.name
        target.write_bytes(image.read_bytes() if breakage != "unreadable_image" else odd_image(rng)[0][:50])
    argv = ["--config", str(REPO_ROOT / "configs" / "quickstart.yaml"), "--run-name", "fuzz",
            "--set", f"data.root={root}", f"log.runs_dir={tmp_path / 'runs'}", "train.epochs=1",
            "train.steps_per_epoch=1", "eval.every_epochs=100"]
    code, _, err = run_in_process("train.py", argv, capsys, monkeypatch)
    check_promise("train.py", code, err, [])


# --------------------------------------------------------------------------- outputs


def unwritable_place(tmp_path: Path, rng: random.Random) -> Path:
    """A folder no file can be written into, as root too: under a file, or in sysfs/procfs."""
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    return rng.choice([blocker / "sub", blocker / "sub" / "deeper", Path("/sys/omr_fuzz"),
                       Path("/proc/omr_fuzz")])


@pytest.mark.parametrize("seed", cases("outputs"))
def test_unwritable_outputs_fail_before_any_work(seed, tmp_path, capsys, monkeypatch):
    rng = random.Random(60_000 + seed)
    place = unwritable_place(tmp_path, rng)
    command = rng.choice(["eval.py", "reconstruct.py", "reconstruct_folder_as_out"])
    if command == "eval.py":
        detections = tmp_path / "dets.json"
        detections.write_text("[]")
        argv = ["--detections", str(detections), "--data", str(SAMPLE_DIR), "--out", str(place / "report")]
    else:
        page = tmp_path / "page.png"
        Image.fromarray(score_like(80, 60, rng)).save(page)
        detections = tmp_path / "dets.json"
        detections.write_text("[]")
        out = tmp_path if command == "reconstruct_folder_as_out" else place / "score.musicxml"
        flag = rng.choice(["--out", "--overlay", "--json"])
        argv = [str(page), "--detections", str(detections), "--out", str(tmp_path / "s.musicxml")]
        argv += [flag, str(out)] if flag != "--out" else ["--out", str(out)]
        command = "reconstruct.py"
    code, out_text, err = run_in_process(command, argv, capsys, monkeypatch)
    assert code == 2
    check_promise(command, code, err, [])
    assert "[structure]" not in out_text  # refused before the slow stages


# --------------------------------------------------------------------------- real processes

SUBPROCESS_SAMPLE = [
    ("reconstruct.py", "empty_png"), ("reconstruct.py", "text_png"), ("reconstruct.py", "i16_page"),
    ("reconstruct.py", "bad_json"), ("reconstruct.py", "unwritable"), ("eval.py", "bad_json"),
    ("eval.py", "truncated_data"), ("eval.py", "bad_thresh"), ("train.py", "bad_yaml"),
    ("train.py", "bad_set"),
]


def sample_argv(command: str, kind: str, tmp_path: Path, small_dsv2: dict) -> tuple[list[str], list[Path]]:
    """Arguments for one subprocess case, and the outputs a success must leave."""
    page, dets, out = tmp_path / "page.png", tmp_path / "dets.json", tmp_path / "score.musicxml"
    dets.write_text("[]")
    Image.fromarray(score_like(120, 90, random.Random(1))).save(page)
    if kind == "empty_png":
        page.write_bytes(b"")
    elif kind == "text_png":
        page.write_text("not an image")
    elif kind == "i16_page":
        Image.fromarray(score_like(120, 90, random.Random(2)).astype(np.uint16) * 257).save(page)
    elif kind == "bad_json":
        dets.write_text('[{"image_id": 410, "bbox": "x"')
    if command == "reconstruct.py":
        target = unwritable_place(tmp_path, random.Random(0)) / "s.xml" if kind == "unwritable" else out
        return [str(page), "--detections", str(dets), "--out", str(target)], [out]
    if command == "eval.py":
        data = tmp_path / "deepscores_test.json"
        text = json.dumps(small_dsv2)
        data.write_text(text[: len(text) // 2] if kind == "truncated_data" else text)
        extra = ["--score-thresh", "7"] if kind == "bad_thresh" else []
        argv = ["--detections", str(dets), "--data", str(data), "--out", str(tmp_path / "r"),
                "--overlays", "0"]
        return argv + extra, [tmp_path / "r" / "report.json"]
    config = tmp_path / "cfg.yaml"
    good = (REPO_ROOT / "configs" / "quickstart.yaml").read_text()
    config.write_text("train: [\n" if kind == "bad_yaml" else good)
    extra = ["--set", "train.lr0=abc"] if kind == "bad_set" else []
    return ["--config", str(config), *extra], []


@pytest.mark.parametrize("command, kind", SUBPROCESS_SAMPLE, ids=[f"{c}-{k}" for c, k in SUBPROCESS_SAMPLE])
def test_a_real_process_answers_as_the_in_process_call(command, kind, tmp_path, capsys, monkeypatch,
                                                       small_dsv2):
    # given a bad input, when the command runs in a fresh interpreter and in this process
    argv, outputs = sample_argv(command, kind, tmp_path, small_dsv2)
    done = subprocess.run([sys.executable, str(REPO_ROOT / command), *argv], capture_output=True, text=True,
                          cwd=tmp_path, timeout=300)
    check_promise(command, done.returncode, done.stderr, outputs)
    code, _, err = run_in_process(command, argv, capsys, monkeypatch)
    # then both give the same status and the same error line
    assert code == done.returncode
    assert error_lines(err) == error_lines(done.stderr)


def test_the_suite_holds_at_least_a_thousand_cases():
    assert sum(CASES.values()) + len(SUBPROCESS_SAMPLE) >= 1000
