"""Charts drawn on the server as SVG geometry (no script, nothing fetched): the cascade per level
as stacked horizontal bars — signed, waiting for a signature, returned, not issued yet."""

from __future__ import annotations

from dataclasses import dataclass

from services.cycle.progress import LevelProgress

WIDTH = 560  # px of the widest bar (the level with the most orgs)
ROW = 34


@dataclass(frozen=True)
class Segment:
    x: float
    width: float
    css: str  # class naming its meaning (and colour)
    count: int


@dataclass(frozen=True)
class Bar:
    level: int
    y: int
    orgs: int
    overdue: int
    segments: list[Segment]


def cascade_bars(levels: list[LevelProgress]) -> tuple[list[Bar], int]:
    """The bars and the chart's height."""
    widest = max((lv.orgs for lv in levels), default=0) or 1
    bars = []
    for n, lv in enumerate(levels):
        waiting = max(lv.letters_issued - lv.letters_signed - lv.letters_returned, 0)
        parts = [
            ("signed", lv.letters_signed),
            ("waiting", waiting),
            ("returned", lv.letters_returned),
            ("unissued", max(lv.orgs - lv.letters_issued, 0)),
        ]
        x = 0.0
        segments = []
        for css, count in parts:
            width = WIDTH * count / widest
            if count:
                segments.append(Segment(x=round(x, 1), width=round(width, 1), css=css, count=count))
            x += width
        bars.append(Bar(lv.level, 8 + n * ROW, lv.orgs, lv.letters_overdue, segments))
    return bars, 16 + len(bars) * ROW
