"""Fuzz targets for pigeon's sans-I/O parsers (hypothesis in CI, atheris by hand)."""
