"""Turn a score page image into MusicXML: `python reconstruct.py PAGE.png --out score.musicxml`."""
from __future__ import annotations

import argparse
import sys

from detector.reconstruct.pipeline import DEFAULT_WEIGHTS, ReconstructError, reconstruct_page


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Recognise the music on a score page (detection, staff lines, stems, ledger "
                    "lines, beams, barlines, pitches and rhythm) and write it as MusicXML 4.0.")
    parser.add_argument("page", help="the page image (PNG or JPEG; transparency is composited on white)")
    parser.add_argument("--weights", default=None,
                        help=f"detector checkpoint to detect symbols with (default: {DEFAULT_WEIGHTS})")
    parser.add_argument("--detections", default=None, metavar="DETS.json",
                        help="use these symbols instead of running the detector: a COCO results list "
                             "(DSv2 category ids) or a DSv2 annotation file holding this page")
    parser.add_argument("--out", required=True, metavar="score.musicxml", help="MusicXML 4.0 file to write")
    parser.add_argument("--overlay", default=None, metavar="out.png",
                        help="also write the page with staves, barlines, stems and each note's pitch drawn on it")
    parser.add_argument("--json", default=None, metavar="symbols.json",
                        help="also write every symbol (detected and rebuilt) and the recognised notes as JSON")
    args = parser.parse_args(argv)
    try:
        reconstruct_page(args.page, weights=args.weights, detections=args.detections, out_xml=args.out,
                         overlay_png=args.overlay, symbols_json=args.json)
    except (ReconstructError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
