"""reach entry point: ``python run.py --suite long-range`` (see README)."""

import sys

from harness.cli import main

if __name__ == "__main__":
    sys.exit(main())
