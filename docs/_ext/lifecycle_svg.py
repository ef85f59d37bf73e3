"""The occupancy state diagram, drawn as SVG from ``minimix_core._lifecycle.TRANSITIONS``.

Nothing here is hand-drawn: every arrow and every label comes from the table, at build
time. Only the place of each box is chosen here (a state the table gains later gets a
place in a spare row), and, for the two long arrows, which way round they go so that no
label sits on another arrow. The SVG takes its colours from the page (``currentColor``
and the theme's background), so it reads in light and dark mode alike.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from xml.sax.saxutils import escape

__all__ = ["render"]

Point = tuple[float, float]

WIDTH, HEIGHT = 1090.0, 690.0
BOX_W, BOX_H = 150.0, 50.0
FONT = 15.0
CHAR_W = 8.3  # average advance of a 15px sans-serif character, for label backgrounds
LINE_H = 17.0

# Where each box goes. ABSENT is both where an occupancy starts and where it ends.
PLACES: dict[str, Point] = {
    "absent": (85.0, 340.0),
    "joining": (490.0, 175.0),
    "joined": (825.0, 175.0),
    "leaving": (490.0, 505.0),
    "rejoin-wait": (825.0, 505.0),
    "rejoin-sent": (940.0, 340.0),
}
# Control points of arrows that must go round the others; the rest are straight, or
# bent a little to their left when the opposite arrow exists too.
ROUTES: dict[tuple[str, str], Point] = {
    ("joined", "absent"): (420.0, -165.0),
    ("rejoin-wait", "absent"): (420.0, 855.0),
    ("rejoin-sent", "absent"): (1090.0, 900.0),
}
# Where along an arrow its label sits (0.5, the middle, unless said otherwise).
LABEL_AT: dict[tuple[str, str], float] = {("joined", "leaving"): 0.3}
# Arrows whose label sits on the curve although the opposite arrow exists.
LABEL_ON_CURVE: frozenset[tuple[str, str]] = frozenset({("joining", "absent")})
# Which side of its box each state's self-loop sits on.
LOOP_SIDES: dict[str, str] = {
    "absent": "left",
    "joining": "top",
    "joined": "right",
    "leaving": "bottom",
    "rejoin-wait": "bottom",
    "rejoin-sent": "top",
}
BEND = 34.0


def _box_exit(centre: Point, towards: Point) -> Point:
    """Where the ray from a box's centre towards ``towards`` leaves the box."""
    (cx, cy), (tx, ty) = centre, towards
    dx, dy = tx - cx, ty - cy
    if dx == 0 and dy == 0:
        return centre
    scale = min(
        (BOX_W / 2) / abs(dx) if dx else math.inf,
        (BOX_H / 2) / abs(dy) if dy else math.inf,
    )
    return cx + dx * scale, cy + dy * scale


def _quad(p0: Point, c: Point, p2: Point, t: float) -> Point:
    u = 1 - t
    return (
        u * u * p0[0] + 2 * u * t * c[0] + t * t * p2[0],
        u * u * p0[1] + 2 * u * t * c[1] + t * t * p2[1],
    )


def _label_size(lines: list[str]) -> Point:
    return max(len(line) for line in lines) * CHAR_W + 8, len(lines) * LINE_H + 4


def _label(at: Point, lines: list[str]) -> list[str]:
    """Event names, one per line, on a patch of page background so arrows stay legible."""
    x, y = at
    width, height = _label_size(lines)
    top = y - height / 2
    out = [
        f'<rect class="label-bg" x="{x - width / 2:.1f}" y="{top:.1f}" '
        f'width="{width:.1f}" height="{height:.1f}" rx="3"/>'
    ]
    first = top + 2 + LINE_H - 3.5
    spans = "".join(
        f'<tspan x="{x:.1f}" y="{first + i * LINE_H:.1f}">{escape(line)}</tspan>'
        for i, line in enumerate(lines)
    )
    out.append(f'<text class="event" text-anchor="middle">{spans}</text>')
    return out


def _edge(
    src: Point, dst: Point, control: Point, lines: list[str], *, at: float, beside: bool
) -> list[str]:
    """An arrow from box to box; ``beside`` puts its label next to the curve, not on it."""
    start = _box_exit(src, control)
    end = _box_exit(dst, control)
    path = (
        f'<path class="edge" d="M{start[0]:.1f},{start[1]:.1f} '
        f'Q{control[0]:.1f},{control[1]:.1f} {end[0]:.1f},{end[1]:.1f}"/>'
    )
    mx, my = _quad(start, control, end, at)
    if beside:
        # Outwards, on the side the curve bends to: the opposite arrow's label is on
        # the other side of the pair.
        nx, ny = _left(src, dst)
        width, height = _label_size(lines)
        reach = abs(nx) * width / 2 + abs(ny) * height / 2 + 4
        mx, my = mx + nx * reach, my + ny * reach
    return [path, *_label((mx, my), lines)]


def _loop(centre: Point, side: str, lines: list[str]) -> list[str]:
    cx, cy = centre
    reach = 46.0
    if side in ("top", "bottom"):
        sign = -1 if side == "top" else 1
        y0 = cy + sign * BOX_H / 2
        a, b = (cx - 22, y0), (cx + 22, y0)
        c1, c2 = (cx - 40, y0 + sign * reach), (cx + 40, y0 + sign * reach)
        label_at = (cx, y0 + sign * (reach + 4 + len(lines) * LINE_H / 2))
    else:
        sign = -1 if side == "left" else 1
        x0 = cx + sign * BOX_W / 2
        a, b = (x0, cy - 12), (x0, cy + 12)
        c1, c2 = (x0 + sign * reach, cy - 40), (x0 + sign * reach, cy + 40)
        width = max(len(line) for line in lines) * CHAR_W + 8
        label_at = (x0 + sign * (reach + 2 + width / 2), cy)
    path = (
        f'<path class="edge" d="M{a[0]:.1f},{a[1]:.1f} C{c1[0]:.1f},{c1[1]:.1f} '
        f'{c2[0]:.1f},{c2[1]:.1f} {b[0]:.1f},{b[1]:.1f}"/>'
    )
    return [path, *_label(label_at, lines)]


def _left(src: Point, dst: Point) -> Point:
    """The unit vector to the left of travel from ``src`` to ``dst``, as seen on screen."""
    dx, dy = dst[0] - src[0], dst[1] - src[1]
    length = math.hypot(dx, dy)
    return dy / length, -dx / length


def _control(pair: tuple[str, str], src: Point, dst: Point, both_ways: bool) -> Point:
    if pair in ROUTES:
        return ROUTES[pair]
    mx, my = (src[0] + dst[0]) / 2, (src[1] + dst[1]) / 2
    if not both_ways:
        return mx, my
    # Two opposite arrows each bend to their own left, so they part.
    nx, ny = _left(src, dst)
    return mx + nx * BEND, my + ny * BEND


def render(
    transitions: Mapping[tuple[object, object], Iterable[object]],
    states: Iterable[object],
    *,
    title: str,
    standalone: bool = False,
) -> str:
    """An ``<svg>`` of every transition in ``transitions``.

    ``transitions`` maps ``(state, event)`` to the states it may lead to, as
    ``TRANSITIONS`` does; states and events are enums whose ``value`` names them. Inline
    (the default) it takes the page's colours; ``standalone`` gives a file of its own,
    black on white.
    """
    edges: dict[tuple[str, str], list[str]] = defaultdict(list)
    for (state, event), targets in transitions.items():
        for target in sorted(targets, key=lambda s: str(getattr(s, "value", s))):
            pair = (str(getattr(state, "value", state)), str(getattr(target, "value", target)))
            edges[pair].append(str(getattr(event, "value", event)))
    spare = iter([(100.0 + 240.0 * i, 620.0) for i in range(20)])
    names = [str(getattr(s, "value", s)) for s in states]
    centres = {name: PLACES.get(name) or next(spare) for name in names}
    body: list[str] = []
    loops: list[str] = []
    for (src, dst), events in edges.items():
        if src == dst:
            loops += _loop(centres[src], LOOP_SIDES.get(src, "top"), events)
            continue
        both_ways = (dst, src) in edges and (src, dst) not in ROUTES
        control = _control((src, dst), centres[src], centres[dst], both_ways)
        at = LABEL_AT.get((src, dst), 0.5)
        beside = both_ways and (src, dst) not in LABEL_ON_CURVE
        body += _edge(centres[src], centres[dst], control, events, at=at, beside=beside)
    boxes: list[str] = []
    for name, (x, y) in centres.items():
        cls = "state final" if name == "absent" else "state"
        boxes.append(
            f'<rect class="{cls}" x="{x - BOX_W / 2:.1f}" y="{y - BOX_H / 2:.1f}" '
            f'width="{BOX_W:.1f}" height="{BOX_H:.1f}" rx="10"/>'
        )
        boxes.append(
            f'<text class="name" x="{x:.1f}" y="{y + 5:.1f}" '
            f'text-anchor="middle">{escape(name.upper())}</text>'
        )
    style = (
        "svg.lifecycle{color:var(--color-foreground-primary,#222);max-width:100%;height:auto}"
        ".lifecycle .edge{fill:none;stroke:currentColor;stroke-width:1.3;"
        "marker-end:url(#lifecycle-arrow)}"
        ".lifecycle .state{fill:rgba(80,140,220,.16);stroke:currentColor;stroke-width:1.5}"
        ".lifecycle .final{stroke-width:3}"
        ".lifecycle .label-bg{fill:var(--color-background-primary,#fff);opacity:.92}"
        f".lifecycle text{{fill:currentColor;font-family:sans-serif;font-size:{FONT}px}}"
        ".lifecycle .name{font-weight:bold;font-size:16px}"
    )
    if standalone:
        style = style.replace("var(--color-foreground-primary,#222)", "#222")
        style = style.replace("var(--color-background-primary,#fff)", "#fff")
    background = '<rect width="100%" height="100%" fill="#fff"/>' if standalone else ""
    return "\n".join(
        [
            f'<svg class="lifecycle" xmlns="http://www.w3.org/2000/svg" role="img" '
            f'viewBox="0 0 {WIDTH:.0f} {HEIGHT:.0f}" width="{WIDTH:.0f}">',
            background,
            f"<title>{escape(title)}</title>",
            f"<style>{style}</style>",
            '<defs><marker id="lifecycle-arrow" viewBox="0 0 10 10" refX="9" refY="5" '
            'markerWidth="8" markerHeight="8" orient="auto-start-reverse">'
            '<path d="M0,0 L10,5 L0,10 z" fill="currentColor"/></marker></defs>',
            *body,
            *loops,
            *boxes,
            "</svg>",
        ]
    )
