"""Subcommands of the ``cnnstudio`` command line.

Each module exposes ``add_parser(subparsers)`` and ``run(args) -> int``. Modules are
imported by ``cnnstudio.cli`` on every start, so they import nothing heavy (and no Qt)
at module level: do that inside ``run``.
"""
