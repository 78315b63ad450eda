"""Small SVG charts drawn on the server: bars over days or groups, and budget gauges.

No JavaScript and no charting library: each chart is a few dozen SVG elements that scale
with the page (`viewBox`, width 100%), with a `<title>` per bar so a pointer shows the
exact figure. Values are Decimal; only the geometry is float.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from html import escape

WIDTH, HEIGHT, PAD_TOP, PAD_BOTTOM, PAD_LEFT = 600, 180, 10, 28, 4


def bars(
    points: Sequence[tuple[str, Decimal | None]],
    *,
    label: str,
    tick_every: int = 0,
) -> str:
    """A bar per (label, value); None (unpriced) draws a hatched stub, never a $0 bar.

    `tick_every` labels every n-th bar under the axis (0: choose from the count)."""
    from voicegw_cli.server.dashboard import usd

    n = max(len(points), 1)
    top = max((v for _, v in points if v is not None), default=Decimal(0))
    scale = float(top) if top > 0 else 1.0
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    slot = (WIDTH - PAD_LEFT) / n
    bar_w = max(slot * 0.72, 1.0)
    every = tick_every or max(1, round(n / 8))
    out = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(label)}">',
        f"<title>{escape(label)}</title>",
        f'<line class="axis" x1="0" y1="{HEIGHT - PAD_BOTTOM}" x2="{WIDTH}" '
        f'y2="{HEIGHT - PAD_BOTTOM}"/>',
    ]
    for i, (name, value) in enumerate(points):
        x = PAD_LEFT + i * slot + (slot - bar_w) / 2
        if value is None:
            h, cls, shown = 4.0, "bar unpriced", "unpriced"
        else:
            h, cls, shown = max(plot_h * float(value) / scale, 0.0), "bar", usd(value)
        y = HEIGHT - PAD_BOTTOM - h
        out.append(
            f'<rect class="{cls}" x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" '
            f'height="{h:.1f}"><title>{escape(name)}: {escape(shown)}</title></rect>'
        )
        if i % every == 0:
            tick = name[5:] if len(name) == 10 and name[4] == "-" else name  # 2026-12-04 -> 12-04
            out.append(
                f'<text class="tick" x="{x + bar_w / 2:.1f}" y="{HEIGHT - 8}" '
                f'text-anchor="middle">{escape(tick[:14])}</text>'
            )
    out.append("</svg>")
    return "".join(out)


def gauge(spend: Decimal, budget: Decimal | None, status: str) -> str:
    """A horizontal budget gauge: filled to spend/budget (capped at the end), coloured by
    status (ok, warning, exceeded, no_budget)."""
    if not budget:
        ratio = 0.0
    else:
        ratio = min(float(spend / budget), 1.0)
    w = 200
    fill = round(w * ratio, 1)
    return (
        f'<svg class="gauge {escape(status)}" viewBox="0 0 {w} 10" preserveAspectRatio="none" '
        f'role="img" aria-label="{escape(status)}">'
        f'<rect class="track" x="0" y="0" width="{w}" height="10" rx="5"/>'
        f'<rect class="fill" x="0" y="0" width="{fill}" height="10" rx="5"/></svg>'
    )
