"""``python -m xdifferland``: the same command line as the ``xdifferland`` script."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
