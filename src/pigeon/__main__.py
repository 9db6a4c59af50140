"""``python -m pigeon``: the same entry point as the ``pigeon`` console script."""

from pigeon.cli.main import run

run()
