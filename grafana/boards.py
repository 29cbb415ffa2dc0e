"""Every board funnelwatch provisions, in display order."""

from __future__ import annotations

from . import drilldown, overview, pipeline
from .board import Board

BOARDS: tuple[Board, ...] = (overview.board(), drilldown.board(), pipeline.board())
