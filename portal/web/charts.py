"""What the pages hand ``templates/shared/_charts.html`` to draw."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ChartPoint:
    """A bar of ``bar_chart``: its label, height, words (on hover and for screen
    readers) and, where there is one, the page behind it."""

    label: str
    value: float
    text: str
    href: str | None = None
