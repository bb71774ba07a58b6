"""Test harness for the worker UI: render the shipped Liquid template like the portal does, serve it with the real
static files from a tiny local HTTP server, and drive it with Playwright + Debian's chromium.

Used by tests/local/test_browser*.py before (and beside) the real service.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
STATIC = ROOT / "src" / "gtlabel" / "local" / "static"
TEMPLATES = ROOT / "src" / "gtlabel" / "templates"
CROWD_JS_AWS = "https://assets.crowd.aws/crowd-html-elements.js"

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


def chromium_path() -> str | None:
    return shutil.which("chromium") or (
        "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)


def instructions_part(which: str) -> str:
    """The short or full part of templates/default-instructions.html (between its markers)."""
    text = (TEMPLATES / "default-instructions.html").read_text(encoding="utf-8")
    m = re.search(rf"<!-- {which}-instructions -->(.*?)<!-- /{which}-instructions -->", text, re.S)
    if not m:
        raise ValueError(f"default-instructions.html has no {which}-instructions markers")
    return m.group(1).strip()


def adjustment_initial_value(prior: str) -> str:
    """Ground Truth's documented Liquid for initial-value in adjustment jobs (reference 4.1)."""
    return (
        'initial-value="[{% for box in task.input.manifestLine.' + prior + '.annotations %}'
        "{% capture class_id %}{{ box.class_id }}{% endcapture %}"
        "{% assign label = task.input.manifestLine." + prior + "-metadata.class-map[class_id] %}"
        "{ label: {{label | to_json}}, left: {{box.left}}, top: {{box.top}}, width: {{box.width}}, height: {{box.height}} },"
        '{% endfor %}]"'
    )


def fill_template(*, header: str = "Box every drone, vehicle, person and building", initial_value: str = "",
                  short: str | None = None, full: str | None = None) -> str:
    """Fill the shipped template's placeholders the way jobs.template does (escaped header, raw-wrapped HTML)."""
    import html

    tpl = (TEMPLATES / "drone-bounding-box.liquid.html").read_text(encoding="utf-8")
    short = instructions_part("short") if short is None else short
    full = instructions_part("full") if full is None else full
    return (tpl.replace("__GTLABEL_HEADER__", "{% raw %}" + html.escape(header, quote=True) + "{% endraw %}")
            .replace("__GTLABEL_SHORT_INSTRUCTIONS__", "{% raw %}" + short + "{% endraw %}")
            .replace("__GTLABEL_FULL_INSTRUCTIONS__", "{% raw %}" + full + "{% endraw %}")
            .replace("__GTLABEL_INITIAL_VALUE__", initial_value))


def render_liquid(template: str, task_input: Mapping[str, Any], image_url: str) -> str:
    """Render like Ground Truth: autoescape on, GT's filters; grant_read_access maps any S3 URI to image_url."""
    from liquid import Environment
    from markupsafe import Markup

    env = Environment(autoescape=True)
    env.filters["grant_read_access"] = lambda uri: image_url
    env.filters["to_json"] = lambda v: json.dumps(v)
    env.filters["skip_autoescape"] = lambda v: Markup(str(v))
    return str(env.from_string(template).render(task={"input": dict(task_input)}))


def page(rendered: str, metas: Mapping[str, str] | None = None, title: str = "Task") -> str:
    """Wrap a rendered template the way the portal does: metas in <head>, the GT loader swapped for ours."""
    import html

    head = "".join(f'<meta name="{html.escape(k)}" content="{html.escape(v)}">' for k, v in (metas or {}).items())
    body = rendered.replace(CROWD_JS_AWS, "/static/crowd-html-elements.js")
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">{head}</head>'
            f'<body style="margin:0">{body}</body></html>')


@dataclass
class AerialImage:
    path: Path
    width: int
    height: int
    objects: list[dict[str, Any]]  # {"label", "left", "top", "width", "height"} drawn into the image


def make_aerial_image(path: Path, width: int = 4000, height: int = 3000, seed: int = 0) -> AerialImage:
    """A synthetic drone photo: fields, a road, cars, roofs, people; returns the objects drawn."""
    from PIL import Image, ImageDraw

    rng = random.Random(seed)
    img = Image.new("RGB", (width, height), (104, 134, 74))
    d = ImageDraw.Draw(img)
    for _ in range(60):  # field patches
        x, y = rng.randrange(width), rng.randrange(height)
        w, h = rng.randrange(width // 10, width // 3), rng.randrange(height // 10, height // 3)
        c = rng.choice([(118, 146, 82), (96, 124, 66), (134, 150, 92), (120, 112, 78)])
        d.rectangle([x, y, x + w, y + h], fill=c)
    ry = height // 2
    d.rectangle([0, ry - height // 30, width, ry + height // 30], fill=(92, 95, 99))
    objects: list[dict[str, Any]] = []
    s = width / 4000
    for i in range(6):  # vehicles on the road
        w, h = int(120 * s), int(60 * s)
        x = int((300 + i * 600 + rng.randrange(-80, 80)) * s)
        y = ry - h // 2 + rng.randrange(-10, 10)
        d.rectangle([x, y, x + w - 1, y + h - 1], fill=rng.choice([(200, 204, 210), (45, 95, 168), (140, 30, 30)]))
        objects.append({"label": "vehicle", "left": x, "top": y, "width": w, "height": h})
    for i in range(3):  # buildings
        w, h = int(rng.randrange(300, 500) * s), int(rng.randrange(220, 380) * s)
        x, y = int((400 + i * 1200) * s), int(300 * s)
        d.rectangle([x, y, x + w - 1, y + h - 1], fill=(165, 84, 63))
        objects.append({"label": "building", "left": x, "top": y, "width": w, "height": h})
    for i in range(4):  # people
        w = h = max(4, int(24 * s))
        x, y = int((600 + i * 800) * s), int(2200 * s)
        d.ellipse([x, y, x + w - 1, y + h - 1], fill=(216, 79, 42))
        objects.append({"label": "person", "left": x, "top": y, "width": w, "height": h})
    w = h = max(6, int(60 * s))  # a drone
    x, y = int(3300 * s), int(2500 * s)
    d.rectangle([x, y, x + w - 1, y + h - 1], fill=(17, 24, 39))
    objects.append({"label": "drone", "left": x, "top": y, "width": w, "height": h})
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, quality=85) if path.suffix.lower() in (".jpg", ".jpeg") else img.save(path)
    return AerialImage(path, width, height, objects)


@dataclass
class Post:
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class Harness:
    base_url: str
    pages: dict[str, bytes]
    posts: list[Post] = field(default_factory=list)
    replies: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)

    def add_page(self, path: str, html_text: str) -> str:
        self.pages[path] = html_text.encode("utf-8")
        return self.base_url + path


_TYPES = {".js": "application/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
          ".html": "text/html; charset=utf-8", ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}


@contextmanager
def serve(files: Mapping[str, Path] | None = None) -> Iterator[Harness]:
    """A local HTTP server: /static/* from the package, extra files, harness pages, recorded POSTs."""
    files = dict(files or {})
    state: dict[str, Harness] = {}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _send(self, code: int, body: bytes, ctype: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            hz = state["h"]
            path = self.path.split("?", 1)[0]
            if path in hz.pages:
                return self._send(200, hz.pages[path], _TYPES[".html"])
            if path.startswith("/static/"):
                f = STATIC / path[len("/static/"):]
                if f.is_file() and STATIC in f.resolve().parents:
                    return self._send(200, f.read_bytes(), _TYPES.get(f.suffix, "application/octet-stream"))
            if path in files:
                f = files[path]
                return self._send(200, f.read_bytes(), _TYPES.get(f.suffix, "application/octet-stream"))
            self._send(404, b"not found", "text/plain")

        def do_POST(self) -> None:
            hz = state["h"]
            n = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(n) if n else b""
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode("utf-8", "replace")
            hz.posts.append(Post(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            code, reply = hz.replies.get(self.path, (200, {"next": "/done.html"}))
            self._send(code, json.dumps(reply).encode(), "application/json")

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port = srv.server_address[1]
    h = Harness(f"http://127.0.0.1:{port}", {"/done.html": b"<!doctype html><title>done</title><p id=done>done</p>"})
    state["h"] = h
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield h
    finally:
        srv.shutdown()
        srv.server_close()
