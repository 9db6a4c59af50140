"""Command line: parse arguments into a frozen config, call one ``run``, map errors to exit codes.

Modules here import only argparse at load time; each command imports its machinery when it
runs, so ``pigeon --help`` and ``pigeon --version`` start fast.
"""
