"""The built-in ``demo`` plugin: ``tequio demo``, the whole system's story on 127.0.0.1 in a minute."""

from __future__ import annotations

from typing import Any

from tequio.node import hookimpl


@hookimpl
def register_commands() -> list[Any]:
    from .story import demo  # aiohttp, Pillow and the other plugins load only when the demo runs

    return [demo]
