"""
The `robotok` command line: one console script, one module per group of subcommands.

Every module here named ``cmd_*.py`` defines ``register(subparsers)``, which
adds its subcommands, each with ``set_defaults(func=...)``; ``func(args)``
returns an exit code.
"""
