"""``python -m pigeon``: the same entry point as the ``pigeon`` console script."""

import sys

from pigeon.cli.main import main

sys.exit(main())
