"""Regenerate src/gtlabel/templates/default-instructions.html (the example images are inline SVG data URIs).

    .venv/bin/python tests/local/harness/make_instructions.py

The output is committed; tests/local/test_browser_harness.py checks it (markers, no external URLs, size).
"""

from __future__ import annotations

import sys
from pathlib import Path
from urllib.parse import quote

OUT = Path(__file__).resolve().parents[3] / "src" / "gtlabel" / "templates" / "default-instructions.html"

W, H = 320, 200
GOOD, BAD = "#22c55e", "#ef4444"


def ground() -> str:
    """A field, a road with lane marks and some trees: a plain aerial background."""
    trees = "".join(
        f'<circle cx="{x}" cy="{y}" r="{r}" fill="#2f5d2a"/><circle cx="{x - 2}" cy="{y - 2}" r="{r - 3}" fill="#3b7334"/>'
        for x, y, r in ((28, 30, 13), (52, 168, 11), (290, 24, 12), (300, 176, 14), (250, 150, 9))
    )
    return (
        f'<rect width="{W}" height="{H}" fill="#6d8a4a"/>'
        '<path d="M0 120 Q80 110 160 125 T320 118 V200 H0Z" fill="#7d9656" opacity=".6"/>'
        f'<rect x="0" y="84" width="{W}" height="40" fill="#5b5f63"/>'
        '<path d="M0 104 H320" stroke="#e8e2c0" stroke-width="2" stroke-dasharray="14 10"/>'
        + trees
    )


def car(x: float, y: float, color: str = "#c8ccd2", w: float = 30, h: float = 15) -> str:
    return (
        f'<rect x="{x + 2}" y="{y + 3}" width="{w}" height="{h}" rx="4" fill="#000" opacity=".25"/>'
        f'<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="4" fill="{color}"/>'
        f'<rect x="{x + w * 0.22}" y="{y + 2}" width="{w * 0.18}" height="{h - 4}" rx="1.5" fill="#26313d"/>'
        f'<rect x="{x + w * 0.62}" y="{y + 2}" width="{w * 0.14}" height="{h - 4}" rx="1.5" fill="#26313d"/>'
    )


def person(x: float, y: float, shadow: bool = True) -> str:
    sh = f'<ellipse cx="{x + 9}" cy="{y + 6}" rx="9" ry="2.6" fill="#000" opacity=".35" transform="rotate(20 {x + 9} {y + 6})"/>' if shadow else ""
    return sh + f'<circle cx="{x}" cy="{y}" r="4.2" fill="#d84f2a"/><circle cx="{x}" cy="{y}" r="2.2" fill="#3a2a1f"/>'


def building(x: float, y: float, w: float, h: float) -> str:
    return (
        f'<rect x="{x + 6}" y="{y + 6}" width="{w}" height="{h}" fill="#000" opacity=".25"/>'
        f'<rect x="{x}" y="{y}" width="{w}" height="{h}" fill="#a5543f"/>'
        f'<path d="M{x} {y + h / 2} H{x + w}" stroke="#7c3a2b" stroke-width="3"/>'
        f'<rect x="{x + w * 0.7}" y="{y + 6}" width="8" height="8" fill="#5a5a5a"/>'
    )


def drone(cx: float, cy: float) -> str:
    arms = "".join(
        f'<path d="M{cx} {cy} L{cx + dx} {cy + dy}" stroke="#1f2937" stroke-width="2.4"/>'
        f'<circle cx="{cx + dx}" cy="{cy + dy}" r="6" fill="#9ca3af" opacity=".55"/>'
        f'<circle cx="{cx + dx}" cy="{cy + dy}" r="1.6" fill="#111827"/>'
        for dx, dy in ((-10, -10), (10, -10), (-10, 10), (10, 10))
    )
    return arms + f'<rect x="{cx - 5}" y="{cy - 5}" width="10" height="10" rx="2" fill="#111827"/>'


def box(x: float, y: float, w: float, h: float, color: str, text: str) -> str:
    return (
        f'<rect x="{x}" y="{y}" width="{w}" height="{h}" fill="{color}" fill-opacity=".12" stroke="{color}" stroke-width="2"/>'
        f'<rect x="{x - 1}" y="{y - 13}" width="{len(text) * 6.4 + 8}" height="13" fill="{color}"/>'
        f'<text x="{x + 3}" y="{y - 3}" font-family="Arial, sans-serif" font-size="10" font-weight="700" fill="#fff">{text}</text>'
    )


def svg(*parts: str) -> str:
    body = "".join(parts)
    return f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}">{body}</svg>'


def data_uri(markup: str) -> str:
    return "data:image/svg+xml," + quote(markup, safe=" =:/;,.-_()'")


def figure(kind: str, markup: str, alt: str, caption: str) -> str:
    return (f'<figure class="gtl-{kind}"><img src="{data_uri(markup)}" alt="{alt}" width="{W}" height="{H}">'
            f"<figcaption>{caption}</figcaption></figure>")


def examples() -> dict[str, str]:
    g = ground()
    vehicle_scene = g + car(140, 92) + car(40, 98, "#2d5fa8")
    return {
        "vehicle_good": figure("good", svg(vehicle_scene, box(139, 91, 32, 17, GOOD, "vehicle"), box(39, 97, 32, 17, GOOD, "vehicle")),
                               "Two cars on a road, each with a tight box",
                               "each vehicle has its own box touching its outermost pixels."),
        "vehicle_bad": figure("bad", svg(vehicle_scene, box(120, 75, 70, 50, BAD, "vehicle")),
                              "A car with a loose box and a second car with no box",
                              "the box is loose (lots of road inside) and the blue car was missed."),
        "person_good": figure("good", svg(g + person(120, 150) + person(180, 60), box(115, 145, 10, 10, GOOD, "person"),
                                          box(175, 55, 10, 10, GOOD, "person")),
                              "Two people seen from above with small tight boxes",
                              "box the person only. Zoom in (+ or the mouse wheel) for people: they are only a few pixels wide."),
        "person_bad": figure("bad", svg(g + person(120, 150) + person(180, 60), box(113, 143, 28, 20, BAD, "person")),
                             "A person box that includes the shadow, and a missed person",
                             "the shadow is inside the box and the second person was missed."),
        "building_good": figure("good", svg(g + building(200, 20, 80, 50), box(199, 19, 82, 52, GOOD, "building")),
                                "A building roof with a box around the whole footprint",
                                "the box covers the whole roof, not the shadow beside it."),
        "building_bad": figure("bad", svg(g + building(200, 20, 80, 50), box(199, 19, 40, 52, BAD, "building")),
                               "A building box that covers only half the roof",
                               "only half the roof is boxed. Box the whole building, even when the roof has two colours."),
        "drone_good": figure("good", svg(g + drone(100, 50), box(84, 34, 32, 32, GOOD, "drone")),
                             "A quadcopter drone with a box that includes its rotors",
                             "the box includes the rotors (the full extent of the aircraft)."),
        "drone_bad": figure("bad", svg(g + drone(100, 50), box(94, 44, 12, 12, BAD, "drone")),
                            "A drone box that covers only the body",
                            "only the body is boxed; the rotors are outside the box."),
        "edge_good": figure("good", svg(g + car(296, 92), box(295, 91, 25, 17, GOOD, "vehicle")),
                            "A car cut off by the image edge, boxed up to the edge",
                            "an object cut by the image edge is boxed up to the edge."),
        "group_bad": figure("bad", svg(g + car(60, 90) + car(96, 90, "#8b1e1e") + car(132, 90, "#e5e7eb"),
                                       box(58, 86, 106, 22, BAD, "vehicle")),
                            "Three parked cars inside one box",
                            "one box around a group. Draw one box per object, even when they touch."),
    }


def build() -> str:
    ex = examples()
    short = f"""<!-- short-instructions -->
<p><strong>Draw one tight box around every drone, vehicle, person and building.</strong></p>
<ul>
  <li>Pick the label with keys <kbd>1</kbd>&ndash;<kbd>4</kbd>, then drag on the image.</li>
  <li>The box touches the object's outermost pixels. No shadows.</li>
  <li>Zoom in (mouse wheel, <kbd>+</kbd>) to find small people and vehicles.</li>
  <li>Objects cut by the image edge: box the visible part.</li>
</ul>
<div class="gtl-instr-examples">
{ex["vehicle_good"]}
{ex["vehicle_bad"]}
</div>
<!-- /short-instructions -->"""
    full = f"""<!-- full-instructions -->
<h3>What to label</h3>
<table class="gtl-class-table">
  <thead><tr><th>Label</th><th>Box it when you see</th><th>Do not box</th></tr></thead>
  <tbody>
    <tr><td><strong>drone</strong></td><td>Any unmanned aircraft (multirotor or fixed wing) in the air or on the ground. Include rotors, arms and landing gear.</td><td>Its shadow; birds; the camera drone's own propellers at the image border.</td></tr>
    <tr><td><strong>vehicle</strong></td><td>Cars, vans, trucks, buses, motorcycles, tractors and trailers, moving or parked.</td><td>Vehicles shown in billboards or screens; boats and aircraft.</td></tr>
    <tr><td><strong>person</strong></td><td>Every person, including cyclists (box the person and the bicycle together) and people partly hidden under trees.</td><td>Shadows, statues, mannequins, reflections.</td></tr>
    <tr><td><strong>building</strong></td><td>Houses, sheds, garages, warehouses, greenhouses: any roofed structure. Box the whole footprint as seen from above.</td><td>Walls and fences without a roof, tents, shipping containers (unless used as a building).</td></tr>
  </tbody>
</table>

<h3>How to draw</h3>
<ol>
  <li><strong>One box per object.</strong> Objects that touch (a row of parked cars, a crowd) still get one box each.</li>
  <li><strong>Tight.</strong> The box edges touch the outermost visible pixels of the object. Zoom in to place the edges: 1&ndash;2 pixels matter for small objects.</li>
  <li><strong>Visible extent only.</strong> When part of an object is hidden (under a tree, behind a roof), box what you can see plus the part you are sure of; do not guess far beyond it.</li>
  <li><strong>Cut by the edge.</strong> Box the visible part up to the image edge.</li>
  <li><strong>No shadows.</strong> Drone imagery has long shadows; they are never part of the object.</li>
  <li><strong>Very small objects.</strong> Box anything you can recognise, even if it is only a few pixels wide. If you cannot tell what it is at the highest zoom, leave it out.</li>
  <li><strong>Nothing to label?</strong> Submit with no boxes (the tool asks you to confirm). If the image is broken, blank or unreadable, use <em>Skip task</em>.</li>
</ol>

<h3>Examples</h3>
<div class="gtl-instr-examples">
{ex["vehicle_good"]}
{ex["vehicle_bad"]}
{ex["edge_good"]}
{ex["group_bad"]}
{ex["person_good"]}
{ex["person_bad"]}
{ex["building_good"]}
{ex["building_bad"]}
{ex["drone_good"]}
{ex["drone_bad"]}
</div>

<h3>Keyboard</h3>
<p><kbd>1</kbd>&ndash;<kbd>9</kbd> choose a label (and relabel the selected box), <kbd>Del</kbd> deletes the selected box,
<kbd>Ctrl</kbd>+<kbd>Z</kbd> undoes, the mouse wheel or <kbd>+</kbd>/<kbd>&minus;</kbd> zooms, <kbd>Space</kbd>+drag pans,
<kbd>F</kbd> fits the image, <kbd>H</kbd> hides the boxes, <kbd>?</kbd> lists every shortcut.</p>
<!-- /full-instructions -->"""
    return (
        "<!-- gtlabel default worker instructions (drone imagery: drone, vehicle, person, building).\n"
        "     Generated by tests/local/harness/make_instructions.py; the job builder uses the marked parts when the\n"
        "     user gives no instructions. Trusted package HTML, no Liquid, nothing fetched from outside. -->\n"
        f"{short}\n\n{full}\n"
    )


def main() -> int:
    OUT.write_text(build(), encoding="utf-8")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
