"""The Liquid environment worker templates are rendered with (python-liquid, autoescaping on).

Ground Truth's filters (reference/ground-truth.md 4.2):

- ``grant_read_access``: an ``s3://`` URI -> a short-lived presigned GET URL on the service's S3 endpoint, for
  URIs in the rendering's :class:`gtlabel.local.scope.ReadScope` only (anything else, and anything that is not an
  ``s3://bucket/key`` URI, renders as an empty string);
- ``to_json``: JSON text (escaped by autoescape unless piped through ``skip_autoescape``);
- ``escape`` / ``escape_once``: python-liquid's own, autoescape-aware;
- ``skip_autoescape``: marks the value safe (use sparingly, as on AWS).

The crowd loader ``<script src="https://assets.crowd.aws/crowd-html-elements.js">`` is replaced by our local
``/static/crowd-html-elements.js`` so a page never fetches anything from outside.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from typing import Any

from liquid import Environment
from markupsafe import Markup

from gtlabel.local.scope import ReadScope

__all__ = ["CROWD_JS_LOCAL", "LimitedEnvironment", "grant_read_access", "make_environment", "render_template",
           "replace_crowd_script"]

CROWD_JS_LOCAL = "/static/crowd-html-elements.js"
_CROWD_SCRIPT = re.compile(r"""(<script\b[^>]*\bsrc\s*=\s*["']?)https?://assets\.crowd\.aws/crowd-html-elements\.js(["']?)""",
                           re.IGNORECASE)
_S3 = re.compile(r"^s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]/.+", re.DOTALL)


def replace_crowd_script(html: str, local_src: str = CROWD_JS_LOCAL) -> str:
    return _CROWD_SCRIPT.sub(lambda m: f"{m.group(1)}{local_src}{m.group(2)}", html)


def _to_json(value: Any) -> str:
    def default(o: Any) -> Any:
        if isinstance(o, Markup):
            return str(o)
        return str(o)

    return json.dumps(value, default=default, ensure_ascii=False, allow_nan=False)


class LimitedEnvironment(Environment):
    """python-liquid with bounds on what one rendering may cost: a template's ``for`` over ``(1..100000000)`` or
    an ``append`` loop stops with a Liquid error (shown as the template's error) instead of keeping a thread of
    the service busy after the worker has gone."""

    loop_iteration_limit = 100_000  # iterations over all loops of one rendering
    output_stream_limit = 8_000_000  # characters of output
    local_namespace_limit = 1_000_000  # size of what {% assign %} / {% capture %} hold
    context_depth_limit = 30  # nested includes / renders


_SCOPE: ContextVar[ReadScope | None] = ContextVar("gtlabel_read_scope", default=None)  # None: nothing in scope


def make_environment(presign: Callable[[str], str]) -> Environment:
    """A Liquid environment with autoescape and Ground Truth's filters; ``presign(s3_uri) -> url``. What
    ``grant_read_access`` may presign is the scope given to :func:`render_template` (nothing outside one)."""
    env = LimitedEnvironment(autoescape=True)

    def grant_read_access(value: Any) -> str:
        uri = str(value) if value is not None else ""
        scope = _SCOPE.get()
        if not _S3.match(uri) or scope is None or not scope.allows(uri):
            return ""
        return presign(uri)

    env.filters["grant_read_access"] = grant_read_access
    env.filters["to_json"] = _to_json
    env.filters["skip_autoescape"] = lambda value: Markup(str(value))
    return env


def render_template(env: Environment, source: str, task_input: Any, scope: ReadScope | None = None) -> str:
    """Render a worker template with ``task.input`` bound (``grant_read_access`` limited to ``scope``), then point
    the crowd script at our copy."""
    template = env.from_string(source)
    token = _SCOPE.set(scope or ReadScope())
    try:
        html = template.render(task={"input": _plain(task_input)})
    finally:
        _SCOPE.reset(token)
    return replace_crowd_script(str(html))


def grant_read_access(env: Environment, uri: str, scope: ReadScope) -> str:
    """The presigned URL ``grant_read_access`` gives ``uri`` within ``scope`` (``""`` outside it)."""
    token = _SCOPE.set(scope)
    try:
        return str(env.filters["grant_read_access"](uri))
    finally:
        _SCOPE.reset(token)


def _plain(value: Any) -> Any:
    # Liquid reads dict keys with dashes fine (task.input.manifestLine["source-ref"]); keep values as they are
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
