"""Fill the shipped worker UI template (``templates/drone-bounding-box.liquid.html``) at build time.

Placeholders (docs/ARCHITECTURE.md, "worker UI template"): ``__GTLABEL_HEADER__``,
``__GTLABEL_SHORT_INSTRUCTIONS__``, ``__GTLABEL_FULL_INSTRUCTIONS__``, ``__GTLABEL_INITIAL_VALUE__``.

User text is inert: HTML-escaped (quotes included), its braces written as entities, and wrapped in
``{% raw %}...{% endraw %}``, so it can inject neither markup/script nor Liquid (``{{ }}``, ``{% %}``; an
``{% endraw %}`` inside user text cannot close the raw block because no brace survives). Only our own Liquid
stays live: ``grant_read_access`` for ``s3://`` example images, and for adjustment/verification jobs the
documented ``initial-value`` built from ``task.input.manifestLine`` (reference ground-truth.md section 4.1).
Pure: strings in, a string out (the template files are package data).
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Literal

from gtlabel.errors import ConfigError
from gtlabel.formats.ground_truth import CLASS_MAP, LABEL_ATTRIBUTE_PATTERN, metadata_key

__all__ = [
    "TEMPLATE_NAME",
    "Example",
    "check_example_uri",
    "default_instructions",
    "inert",
    "initial_value_attribute",
    "instructions_html",
    "load_template",
    "render_worker_template",
]

TEMPLATE_NAME = "drone-bounding-box.liquid.html"
DEFAULT_INSTRUCTIONS_NAME = "default-instructions.html"
PLACEHOLDERS = ("__GTLABEL_HEADER__", "__GTLABEL_SHORT_INSTRUCTIONS__", "__GTLABEL_FULL_INSTRUCTIONS__",
                "__GTLABEL_INITIAL_VALUE__")

_FALLBACK_SHORT = "<p>Draw one tight box around every object of the listed labels.</p>"
_FALLBACK_FULL = ("<p>Draw one box per object. The box edges touch the object's outermost visible pixels; "
                  "shadows are not part of the object. Objects cut by the image edge: box the visible part. "
                  "Nothing to label: submit with no boxes.</p>")

_S3_SAFE = re.compile(r"s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]/[A-Za-z0-9_.\-/!*()+=~@,]+")
_HTTP = re.compile(r"https?://[^\s\"'<>{}\\]+")
_DATA = re.compile(r"data:image/(png|jpeg|gif|webp|svg\+xml)[;,][^\s\"'<>{}\\]*")


@dataclass(frozen=True)
class Example:
    """An example image for the instructions: ``uri`` (s3://, https:// or data:image/...), ``caption``, and
    whether it shows a ``good`` or a ``bad`` answer."""

    uri: str
    caption: str = ""
    kind: Literal["good", "bad"] = "good"


def inert(text: str) -> str:
    """``text`` as inert HTML: escaped, no braces left, inside ``{% raw %}`` so Liquid leaves it alone."""
    safe = html.escape(text, quote=True).replace("{", "&#123;").replace("}", "&#125;")
    return "{% raw %}" + safe + "{% endraw %}"


def check_example_uri(uri: str) -> str:
    """``uri`` if it is a usable example image location, else ConfigError (no javascript:, no quotes)."""
    if _S3_SAFE.fullmatch(uri) or _HTTP.fullmatch(uri) or _DATA.fullmatch(uri):
        return uri
    raise ConfigError(f"example image {uri[:100]!r} must be an s3://bucket/key URI (letters, digits and "
                      f"_.-/!*()+=~@, in the key), an http(s):// URL or a data:image/... URI")


def _image_src(uri: str) -> str:
    check_example_uri(uri)
    if uri.startswith("s3://"):
        return "{{ '" + uri + "' | grant_read_access }}"  # our own Liquid: GT presigns it for the worker
    return inert(uri)


def _paragraphs(text: str) -> str:
    """Plain user text -> inert HTML paragraphs (blank line = new paragraph, newline = line break)."""
    paras = [p.strip() for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]
    return "\n".join("<p>" + "<br>".join(inert(line) for line in p.splitlines()) + "</p>" for p in paras)


def _examples_html(examples: Sequence[Example]) -> str:
    if not examples:
        return ""
    out = ["<h3>Examples</h3>", '<div class="gtl-instr-examples">']
    for ex in examples:
        kind = "good" if ex.kind == "good" else "bad"
        verdict = "Good" if kind == "good" else "Bad"
        alt = inert(ex.caption or f"{verdict} example")
        out.append(f'<figure class="gtl-{kind}"><img src="{_image_src(ex.uri)}" alt="{alt}" '
                   f'style="max-width:100%"><figcaption><strong>{verdict}:</strong> {inert(ex.caption)}'
                   f"</figcaption></figure>")
    out.append("</div>")
    return "\n".join(out)


def default_instructions() -> tuple[str, str]:
    """The package's default ``(short, full)`` instructions (trusted HTML from ``templates/default-
    instructions.html``), or a short built-in text when that file is absent."""
    try:
        text = resources.files("gtlabel").joinpath("templates", DEFAULT_INSTRUCTIONS_NAME).read_text("utf-8")
    except (FileNotFoundError, OSError):
        return _FALLBACK_SHORT, _FALLBACK_FULL

    def part(name: str, fallback: str) -> str:
        m = re.search(rf"<!--\s*{name}\s*-->(.*?)<!--\s*/{name}\s*-->", text, re.S)
        return m.group(1).strip() if m else fallback

    return part("short-instructions", _FALLBACK_SHORT), part("full-instructions", _FALLBACK_FULL)


DEFAULT_LABELS = frozenset({"drone", "vehicle", "person", "building"})


def _labels_html(labels: Sequence[str]) -> str:
    if not labels:
        return ""
    return "\n<h3>Labels</h3>\n<ul>" + "".join(f"<li>{inert(x)}</li>" for x in labels) + "</ul>"


def instructions_html(short: str | None, full: str | None, examples: Sequence[Example] = (),
                      labels: Sequence[str] = ()) -> tuple[str, str]:
    """``(short_html, full_html)``.

    User text (either one; the other falls back to it) is made inert and the full instructions list the labels.
    With no user text: the package's drone instructions when the labels are (a subset of) drone, vehicle,
    person, building, else a generic text plus the label list. Example images go into the full instructions.
    """
    short = short if short and short.strip() else None
    full = full if full and full.strip() else None
    if short or full:
        short_html = _paragraphs(short or full or "")
        full_html = _paragraphs(full or short or "") + _labels_html(labels)
    elif not labels or set(labels) <= DEFAULT_LABELS:
        short_html, full_html = default_instructions()
    else:
        short_html, full_html = _FALLBACK_SHORT, _FALLBACK_FULL + _labels_html(labels)
    if examples:
        full_html += "\n" + _examples_html(examples)
    return short_html, full_html


def initial_value_attribute(prior_label_attribute_name: str) -> str:
    """The ``initial-value`` attribute that preloads the prior job's boxes (adjustment/verification).

    Liquid reads ``task.input.manifestLine['<attr>'].annotations`` and maps each ``class_id`` through
    the metadata's class map (the documented pattern). The value is written as JSON with ``&quot;``
    entities, so the browser hands the element ``[{"label": "...", "left": 1, ...}, ...]``.
    """
    if not LABEL_ATTRIBUTE_PATTERN.fullmatch(prior_label_attribute_name or ""):
        raise ConfigError(f"prior label attribute name {prior_label_attribute_name!r} does not match "
                          f"{LABEL_ATTRIBUTE_PATTERN.pattern}")
    a = prior_label_attribute_name
    line = "task.input.manifestLine"
    return (
        f"initial-value=\"[{{% for box in {line}['{a}'].annotations %}}"
        f"{{% capture class_id %}}{{{{ box.class_id }}}}{{% endcapture %}}"
        f"{{&quot;label&quot;: {{{{ {line}['{metadata_key(a)}']['{CLASS_MAP}'][class_id] | to_json | escape }}}}, "
        f"&quot;left&quot;: {{{{ box.left }}}}, &quot;top&quot;: {{{{ box.top }}}}, "
        f"&quot;width&quot;: {{{{ box.width }}}}, &quot;height&quot;: {{{{ box.height }}}}}}"
        f"{{% unless forloop.last %}},{{% endunless %}}{{% endfor %}}]\""
    )


def load_template(name: str = TEMPLATE_NAME) -> str:
    """The shipped template text (package data)."""
    try:
        return resources.files("gtlabel").joinpath("templates", name).read_text("utf-8")
    except (FileNotFoundError, OSError) as exc:
        raise ConfigError(f"worker template gtlabel/templates/{name} is missing from the package: {exc}") from exc


def render_worker_template(
    *,
    header: str,
    short_instructions: str | None = None,
    full_instructions: str | None = None,
    examples: Sequence[Example] = (),
    task_type: str = "BoundingBox",
    prior_label_attribute_name: str | None = None,
    labels: Sequence[str] = (),
    template: str | None = None,
) -> str:
    """The worker template with every placeholder filled. ``short_instructions``/``full_instructions`` are
    plain text (escaped); ``None`` uses the package defaults. Adjustment and verification jobs need
    ``prior_label_attribute_name`` (the boxes to preload)."""
    text = template if template is not None else load_template()
    missing = [p for p in PLACEHOLDERS if p not in text]
    if missing:
        raise ConfigError(f"worker template lacks the placeholder(s) {', '.join(missing)}")
    short_html, full_html = instructions_html(short_instructions, full_instructions, examples, labels)
    if task_type in ("AdjustmentBoundingBox", "VerificationBoundingBox"):
        if not prior_label_attribute_name:
            raise ConfigError(f"a {task_type} job needs the prior job's label attribute name "
                              f"(prior_label_attribute_name) to preload its boxes")
        initial = initial_value_attribute(prior_label_attribute_name)
    else:
        initial = ""
    values = {"__GTLABEL_HEADER__": inert(header), "__GTLABEL_INITIAL_VALUE__": initial,
              "__GTLABEL_SHORT_INSTRUCTIONS__": short_html, "__GTLABEL_FULL_INSTRUCTIONS__": full_html}
    # one pass, so a placeholder name inside user text is never substituted
    return re.sub("|".join(PLACEHOLDERS), lambda m: values[m.group(0)], text)
