"""The templates as a built-in plugin: the ``caruso new`` and ``caruso demo`` commands."""

from __future__ import annotations

from caruso.hookspecs import hookimpl


@hookimpl
def register_commands(cli):
    from caruso.demo.commands import demo, new

    cli.add_command(new)
    cli.add_command(demo)
