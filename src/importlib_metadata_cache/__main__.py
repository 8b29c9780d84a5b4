"""``python -m importlib_metadata_cache``: see ``_cli``."""

import sys

from ._cli import main

if __name__ == "__main__":
    sys.exit(main())
