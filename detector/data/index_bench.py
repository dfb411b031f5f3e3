"""``python -m detector.data.index_bench``: the DSv2 page index against ``json.load``, time and memory.

Makes a DSv2 file of the wanted size by repeating the real sample page (547 boxes; default
1,362 pages = 745,014 boxes, the size of ds2_dense's train file) under ``--out``, then runs
each reader in a fresh process and prints its wall time, CPU time and peak resident memory:

- ``json.load``: the bare parse, the floor of today's reader;
- ``plain reader``: ``load_deepscores(index=False)``, today's reader (json.load + checks);
- ``first read``: ``load_deepscores(index=True)`` with no index yet (streaming build + open);
- ``later open``: the same call again (the index exists);
- ``read every page``: a later open plus every page built once (what stats does).

All loads check the page images' headers, as training and stats do (the image is the real
sample page, linked). ``--boxes 5000000`` makes a bigger file; ``--skip-json`` leaves out
the two ``json.load`` runs, which need about 2 KB of memory per box.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

SAMPLE = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "deepscores_v2_sample"
MODES = {"json": "json.load", "plain": "plain reader", "build": "first read (build index)",
         "open": "later open", "pages": "read every page"}


def make_file(out: Path, pages: int) -> Path:
    """``out/deepscores_train.json``: the sample page ``pages`` times (fresh ids), written streaming."""
    src = json.loads((SAMPLE / "deepscores_v2_sample.json").read_text())
    image, anns = src["images"][0], src["annotations"]
    out.mkdir(parents=True, exist_ok=True)
    images = out / "images"
    images.mkdir(exist_ok=True)
    for png in (SAMPLE / "images").glob("*.png"):
        if not (images / png.name).exists():
            (images / png.name).symlink_to(png)
    path = out / "deepscores_train.json"
    n = len(image["ann_ids"])
    with open(path, "w") as f:
        f.write('{"info": %s, "annotation_sets": %s, "categories": %s, "images": [' % (
            json.dumps(src["info"]), json.dumps(src["annotation_sets"]), json.dumps(src["categories"])))
        for p in range(pages):
            ids = [str(p * n + i + 1) for i in range(n)]
            f.write(("," if p else "") + json.dumps({**image, "id": p + 1, "ann_ids": ids}))
        f.write('], "annotations": {')
        for p in range(pages):
            parts = [f'"{p * n + i + 1}": ' + json.dumps({**anns[old], "img_id": str(p + 1)})
                     for i, old in enumerate(image["ann_ids"])]
            f.write(("," if p else "") + ",".join(parts))
        f.write("}}")
    return path


def child(mode: str, path: Path) -> dict:
    """Run one reader in this process; wall and CPU seconds of the call, peak RSS of the process."""
    import resource

    from detector.data.deepscores import load_deepscores

    start, cpu = time.perf_counter(), time.process_time()
    if mode == "json":
        with open(path, "rb") as f:
            json.load(f)
        count = None
    else:
        split = load_deepscores(path, index=mode != "plain")
        count = len(split.pages)
        if mode == "pages":
            count = sum(len(page.class_names) for page in split.pages)
    return {"mode": mode, "wall_s": time.perf_counter() - start, "cpu_s": time.process_time() - cpu,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "count": count}


def run_child(mode: str, path: Path) -> dict:
    done = subprocess.run([sys.executable, "-m", "detector.data.index_bench", "--child", mode, str(path)],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m detector.data.index_bench",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="/tmp/dsv2_index_bench",
                        help="folder for the generated file (not the repository)")
    parser.add_argument("--pages", type=int, default=1362,
                        help="pages (x 547 boxes); 1362 = ds2_dense's size")
    parser.add_argument("--boxes", type=int, default=None, help="make at least this many boxes instead")
    parser.add_argument("--skip-json", action="store_true", help="leave out json.load and the plain reader")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child[0], Path(args.child[1]))))
        return 0
    pages = math.ceil(args.boxes / 547) if args.boxes else args.pages
    out = Path(args.out) / f"p{pages}"
    path = out / "deepscores_train.json"
    if not path.is_file():
        start = time.perf_counter()
        make_file(out, pages)
        print(f"made {path} ({pages} pages, {pages * 547} boxes) in {time.perf_counter() - start:.0f} s")
    print(f"{path}: {path.stat().st_size / 2**20:.0f} MiB, {pages} pages, {pages * 547} boxes; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    shutil.rmtree(path.parent / f"{path.name}.index", ignore_errors=True)
    modes = ["build", "open", "pages"] if args.skip_json else ["json", "plain", "build", "open", "pages"]
    rows = {}
    for mode in modes:
        rows[mode] = run_child(mode, path)
        r = rows[mode]
        print(f"  {MODES[mode]:26s} wall {r['wall_s']:7.2f} s   cpu {r['cpu_s']:7.2f} s   "
              f"peak {r['peak_mb']:7.0f} MB", flush=True)
    if "json" in rows:
        base, first = rows["json"], rows["build"]
        print(f"first read / json.load: wall {first['wall_s'] / base['wall_s']:.2f}x, "
              f"cpu {first['cpu_s'] / base['cpu_s']:.2f}x, "
              f"peak memory {first['peak_mb'] / base['peak_mb']:.2f}x (targets: <= 2x time, <= 0.5x memory); "
              f"later open {rows['open']['wall_s']:.2f} s (target <= 5 s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
