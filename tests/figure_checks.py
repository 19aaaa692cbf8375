"""What the figure tests check on a drawn figure: overlapping text and how units are spelled.

Call these after the figure is drawn (the ``save_figure`` fixture draws it).
"""

from __future__ import annotations

import itertools
import re

from matplotlib.text import Text

# Units as the data files or pint spell them, which an axis should never show: "g/m**2/day",
# "m2 m-2", "d-1".
RAW_UNITS = re.compile(r"\*\*|/(?:day|m|s|yr)\b|\b(?:g|kg|m|mm|d|s|yr|sr|nm)-?\d\b")


def overlapping(texts) -> list[tuple[str, str]]:
    """Pairs of visible, non-empty texts whose drawn letters' bounding boxes overlap (an
    annotation's leader line is not part of its text)."""
    shown = [t for t in texts if t.get_visible() and t.get_text().strip()]
    if not shown:
        return []
    renderer = shown[0].figure.canvas.get_renderer()
    boxes = [(t.get_text(), Text.get_window_extent(t, renderer)) for t in shown]
    return [(a, b) for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2)
            if box_a.overlaps(box_b)]


def tick_labels(ax, axis: str) -> list:
    """The drawn tick labels of ``axis`` ("x" or "y") of ``ax``: those inside its limits."""
    ticks = ax.get_xticklabels() if axis == "x" else ax.get_yticklabels()
    low, high = sorted(ax.get_xlim() if axis == "x" else ax.get_ylim())
    where = 0 if axis == "x" else 1
    return [t for t in ticks if t.get_visible() and t.get_text().strip()
            and low <= t.get_position()[where] <= high]


def axis_texts(fig) -> list[str]:
    """Every axis label and title of ``fig``, colour bars included."""
    return [text for ax in fig.axes for text in (ax.get_xlabel(), ax.get_ylabel(), ax.get_title())
            if text]
