"""Command line: parse arguments into a frozen config, call one ``run``, hand results to ``ui``.

``main`` is the entry; ``dispatch`` imports only the invoked command's module, which imports
what that command needs at its top.
"""
