"""Charts drawn on the server as SVG geometry (no script, nothing fetched): rows of stacked
horizontal bars, scaled to the longest row. The cascade per level (signed, waiting for a
signature, returned, not issued yet) and the ledger's statistics are drawn with them."""

from __future__ import annotations

from dataclasses import dataclass

from services.cycle.progress import LevelProgress

WIDTH = 560  # px of the longest bar
ROW = 34


@dataclass(frozen=True)
class Segment:
    x: float
    width: float
    css: str  # class naming its meaning (and colour)
    count: int


@dataclass(frozen=True)
class Bar:
    label: str
    y: int
    total: int
    flag: int  # shown at the row's end when non-zero (e.g. overdue letters)
    segments: list[Segment]


@dataclass(frozen=True)
class Chart:
    """What the ``bars`` template macro draws: the bars, the height, and the room on the left
    for row labels."""

    bars: list[Bar]
    height: int
    label_width: int = 110
    bar_width: int = WIDTH

    @property
    def width(self) -> int:
        return self.label_width + self.bar_width + 60


def stacked_bars(
    rows: list[tuple[str, list[tuple[str, int]], int]], width: int = WIDTH, full: int | None = None
) -> tuple[list[Bar], int]:
    """Rows of (label, [(css, count), …], flag) as bars, and the chart's height. Bars are scaled
    to the longest row, or to ``full`` (e.g. 100 for percentages)."""
    longest = full or max((sum(n for _, n in parts) for _, parts, _ in rows), default=0) or 1
    bars = []
    for i, (text, parts, flag) in enumerate(rows):
        x = 0.0
        segments = []
        for css, count in parts:
            w = width * count / longest
            if count:
                segments.append(Segment(x=round(x, 1), width=round(w, 1), css=css, count=count))
            x += w
        bars.append(Bar(text, 8 + i * ROW, sum(n for _, n in parts), flag, segments))
    return bars, 16 + len(bars) * ROW


def proportion_bar(parts: list[tuple[str, int]], width: int = 120) -> list[Segment]:
    """One bar of ``width`` px split in proportion to the parts (a subtree's letters by state)."""
    bars, _ = stacked_bars([("", parts, 0)], width)
    return bars[0].segments


def cascade_bars(levels: list[LevelProgress], level_word: str) -> tuple[list[Bar], int]:
    """One bar per level: signed, waiting, returned, not issued; overdue letters flagged."""
    rows = []
    for lv in levels:
        waiting = max(lv.letters_issued - lv.letters_signed - lv.letters_returned, 0)
        parts = [
            ("signed", lv.letters_signed),
            ("waiting", waiting),
            ("returned", lv.letters_returned),
            ("unissued", max(lv.orgs - lv.letters_issued, 0)),
        ]
        rows.append((f"{level_word} {lv.level} ({lv.orgs})", parts, lv.letters_overdue))
    return stacked_bars(rows)
