"""``python -m detector.synth``: generate the synthetic DSv2-format dataset (see detector.data.synth)."""
import sys

from detector.data.synth.cli import main

if __name__ == "__main__":
    sys.exit(main())
