"""The label category config (``LabelCategoryConfigS3Uri``, reference/ground-truth.md 1.3)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from gtlabel.errors import LabelError
from gtlabel.formats import strict_json
from gtlabel.formats.ground_truth.names import LABEL_CATEGORY_DOCUMENT_VERSION


# ----------------------------------------------------------------------------------------------- label config
@dataclass(frozen=True)
class LabelCategoryConfig:
    """The label category config file (1.3)::

        {"document-version": "2018-11-28", "labels": [{"label": "drone"}, ...],
         "instructions": {"shortInstruction": ..., "fullInstruction": ...}}   # instructions: NER only

    ``extra`` keeps other top-level keys (``auditLabelAttributeName``, ``editsAllowed``...) as they came.
    The label rules of a job (count, uniqueness, length) are checked by :func:`gtlabel.jobs.validate.
    label_problems`; this class checks the file's shape.
    """

    labels: tuple[str, ...]
    document_version: str | None = LABEL_CATEGORY_DOCUMENT_VERSION
    instructions: Mapping[str, Any] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @staticmethod
    def label_entries(doc: object) -> list[object] | None:
        """The labels as written, for validators that report each bad one: the ``label`` of each entry (an entry
        that is not an object is given as it is); ``None`` when ``doc`` has no ``labels`` list."""
        raw = doc.get("labels") if isinstance(doc, Mapping) else None
        if not isinstance(raw, list):
            return None
        return [item.get("label") if isinstance(item, Mapping) else item for item in raw]

    @classmethod
    def parse(cls, doc: object, *, file: str | None = None) -> LabelCategoryConfig:
        """A decoded config file -> :class:`LabelCategoryConfig`; :class:`~gtlabel.errors.LabelError` naming the
        field when it is not ``{"labels": [{"label": "<non-empty string>"}, ...]}`` with at least one label.
        ``document-version`` may be absent (the AWS tutorial's file has none, 1.3)."""
        if not isinstance(doc, Mapping):
            raise LabelError(f"expected a JSON object {{\"document-version\": \"{LABEL_CATEGORY_DOCUMENT_VERSION}\", "
                             f"\"labels\": [{{\"label\": ...}}]}}, got {type(doc).__name__}", file=file)
        raw = doc.get("labels")
        if not isinstance(raw, list) or not raw:
            raise LabelError("expected a list [{'label': ...}, ...] with at least one label", file=file,
                             field="labels")
        names = []
        for i, item in enumerate(raw):
            name = item.get("label") if isinstance(item, Mapping) else None
            if not isinstance(name, str) or not name:
                raise LabelError(f"must be a non-empty string, got {item!r}", file=file, field=f"labels[{i}].label")
            names.append(name)
        version = doc.get("document-version")
        if version is not None and not isinstance(version, str):
            raise LabelError(f"expected a string, got {version!r}", file=file, field="document-version")
        instructions = doc.get("instructions")
        if instructions is not None and not isinstance(instructions, Mapping):
            raise LabelError(f"expected an object {{shortInstruction, fullInstruction}}, got {instructions!r}",
                             file=file, field="instructions")
        extra = {k: v for k, v in doc.items() if k not in ("labels", "document-version", "instructions")}
        return cls(tuple(names), version, dict(instructions) if instructions is not None else None, extra)

    @classmethod
    def loads(cls, data: bytes | str, *, file: str | None = None) -> LabelCategoryConfig:
        """:meth:`parse` of the file's bytes (malformed JSON is a :class:`~gtlabel.errors.LabelError` too)."""
        try:
            doc = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise LabelError(f"not valid JSON ({exc})", file=file) from None
        return cls.parse(doc, file=file)

    def to_dict(self) -> dict[str, Any]:
        """The file's JSON object (``document-version`` first, as the documentation writes it)."""
        out: dict[str, Any] = {}
        if self.document_version is not None:
            out["document-version"] = self.document_version
        out["labels"] = [{"label": x} for x in self.labels]
        if self.instructions is not None:
            out["instructions"] = dict(self.instructions)
        out.update(self.extra)
        return out

    def dumps(self) -> bytes:
        """The file's bytes (compact UTF-8 JSON)."""
        return strict_json.dumps(self.to_dict())
