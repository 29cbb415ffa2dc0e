"""The built-in live board: one static HTML page (inline CSS, JS and SVG, no external
resources) that polls the worker's own API; served at ``/``."""

from __future__ import annotations

from functools import cache
from importlib.resources import files


@cache
def board_html() -> str:
    return files("funnelwatch.processors.web").joinpath("static/board.html").read_text()
