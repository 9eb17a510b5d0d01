"""An equity-curve chart as a self-contained SVG (no plotting library needed)."""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from itertools import pairwise

import numpy as np
import numpy.typing as npt

WIDTH, HEIGHT, PAD = 960, 400, 56
MAX_POINTS = 2000


def equity_svg(
    times_ms: npt.NDArray[np.int64], equity: npt.NDArray[np.float64], *, title: str, initial: float
) -> str:
    """A polyline of `equity` over `times_ms` (downsampled to at most MAX_POINTS, keeping
    each bucket's lowest and highest value so drawdowns stay visible)."""
    if len(equity) == 0:
        return f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}"></svg>'
    t, y = _downsample(times_ms.astype(np.float64), equity)
    t0, t1 = float(t[0]), float(t[-1]) if t[-1] > t[0] else float(t[0]) + 1
    lo, hi = float(min(y.min(), initial)), float(max(y.max(), initial))
    if hi == lo:
        hi, lo = hi + 1, lo - 1
    sx = (WIDTH - 2 * PAD) / (t1 - t0)
    sy = (HEIGHT - 2 * PAD) / (hi - lo)
    xs = PAD + (t - t0) * sx
    ys = HEIGHT - PAD - (y - lo) * sy
    points = " ".join(f"{x:.1f},{v:.1f}" for x, v in zip(xs, ys, strict=True))
    base_y = HEIGHT - PAD - (initial - lo) * sy
    start = datetime.fromtimestamp(t0 / 1000, UTC).strftime("%Y-%m-%d %H:%M")
    end = datetime.fromtimestamp(t1 / 1000, UTC).strftime("%Y-%m-%d %H:%M")
    return "\n".join(
        [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
            f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">',
            f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
            f'<text x="{PAD}" y="24" font-size="15">{escape(title)}</text>',
            f'<line x1="{PAD}" y1="{base_y:.1f}" x2="{WIDTH - PAD}" y2="{base_y:.1f}" stroke="#aaa" '
            'stroke-dasharray="4 4"/>',
            f'<polyline fill="none" stroke="#1f6feb" stroke-width="1.2" points="{points}"/>',
            f'<text x="4" y="{PAD}">{hi:,.2f}</text>',
            f'<text x="4" y="{HEIGHT - PAD}">{lo:,.2f}</text>',
            f'<text x="{PAD}" y="{HEIGHT - 20}">{start} UTC</text>',
            f'<text x="{WIDTH - PAD}" y="{HEIGHT - 20}" text-anchor="end">{end} UTC</text>',
            "</svg>",
        ]
    )


def _downsample(
    t: npt.NDArray[np.float64], y: npt.NDArray[np.float64]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    n = len(y)
    if n <= MAX_POINTS:
        return t, y
    buckets = MAX_POINTS // 2
    edges = np.linspace(0, n, buckets + 1).astype(np.int64)
    index: list[int] = []
    for a, b in pairwise(edges.tolist()):
        if b <= a:
            continue
        lo, hi = a + int(np.argmin(y[a:b])), a + int(np.argmax(y[a:b]))
        index.extend(sorted((lo, hi)))
    chosen = np.asarray(index, dtype=np.int64)
    return t[chosen], y[chosen]
