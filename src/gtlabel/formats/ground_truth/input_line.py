"""An input-manifest line (reference/ground-truth.md 3.5) and the ``source-ref`` rules."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from gtlabel.errors import ManifestError
from gtlabel.formats.ground_truth.names import RESERVED_KEYS, SOURCE, SOURCE_REF, metadata_key


# ----------------------------------------------------------------------------------------------- input lines
@dataclass(frozen=True, slots=True)
class InputLine:
    """One input-manifest line (3.5): ``data`` is the decoded object, every key in the order written (the data
    object under ``source-ref`` or ``source``, pass-through keys, labels of earlier jobs). ``line`` is its
    1-based line number when known."""

    data: dict[str, Any]
    line: int | None = None

    @classmethod
    def parse(cls, obj: object, *, file: str | None = None, line: int | None = None, image: bool = False,
              s3_only: bool = False) -> InputLine:
        """A decoded line -> :class:`InputLine`, or :class:`~gtlabel.errors.ManifestError` naming the field.

        The line needs ``source-ref`` (a safe image reference, :func:`check_source_ref`) or ``source`` (text).
        ``image``: only ``source-ref`` lines (bounding box must use images). ``s3_only``: Ground Truth's own rule,
        what a labeling job reads: ``source-ref`` is an ``s3://bucket/key`` URI and the key is taken as it is (S3
        keys are opaque: ``..`` is no parent there); relative paths and the ``..`` refusal of
        :func:`check_source_ref` are for datasets on a local disk.
        """
        if not isinstance(obj, dict):
            raise ManifestError(f"expected a JSON object, got {type(obj).__name__}", file=file, line=line)
        if SOURCE_REF in obj and s3_only:
            ref = obj[SOURCE_REF]
            bucket, _, key = ref[5:].partition("/") if isinstance(ref, str) and ref.startswith("s3://") else ("", "", "")
            if not bucket or not key:
                raise ManifestError(f"expected an s3://bucket/key URI, got {ref!r}", file=file, line=line,
                                    field=SOURCE_REF)
        elif SOURCE_REF in obj:
            check_source_ref(obj[SOURCE_REF], file=file, line=line)
        elif image:
            hint = " (this line has 'source': text, not an image)" if SOURCE in obj else ""
            raise ManifestError(f"missing (each line needs an image){hint}", file=file, line=line, field=SOURCE_REF)
        elif SOURCE in obj:
            if not isinstance(obj[SOURCE], str):
                raise ManifestError("expected a string", file=file, line=line, field=SOURCE)
        else:
            raise ManifestError("needs 'source-ref' (an image) or 'source' (text)", file=file, line=line,
                                field=SOURCE_REF)
        return cls(obj, line)

    @classmethod
    def loads(cls, raw: bytes | str, *, file: str | None = None, line: int | None = None, image: bool = False,
              s3_only: bool = False) -> InputLine:
        """:meth:`parse` of one raw line (malformed JSON is a :class:`~gtlabel.errors.ManifestError` too)."""
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ManifestError(f"malformed JSON: {exc}", file=file, line=line) from None
        return cls.parse(obj, file=file, line=line, image=image, s3_only=s3_only)

    @property
    def source_ref(self) -> str | None:
        """The image (or other S3 object) of the line, ``None`` for a text line."""
        ref = self.data.get(SOURCE_REF)
        return ref if isinstance(ref, str) else None

    @property
    def source(self) -> str | None:
        """The inline text of a text line, ``None`` for an image line."""
        text = self.data.get(SOURCE)
        return text if isinstance(text, str) and SOURCE_REF not in self.data else None

    @property
    def data_object(self) -> str:
        """What a worker labels: the ``source-ref`` or else the ``source`` text."""
        return self.source_ref if self.source_ref is not None else str(self.data.get(SOURCE, ""))

    def pass_through(self, drop: Iterable[str] = ()) -> dict[str, Any]:
        """The keys other than ``source-ref`` / ``source`` (and ``drop``), in order: what Ground Truth copies to
        the output line unchanged."""
        skip = RESERVED_KEYS.union(drop)
        return {k: v for k, v in self.data.items() if k not in skip}

    def prior_label(self, label_attribute: str) -> tuple[Any, dict[str, Any] | None]:
        """``(label, metadata)`` an earlier job left under ``label_attribute`` (``None`` parts where absent or,
        for the metadata, not an object): what an adjustment or verification job starts from."""
        meta = self.data.get(metadata_key(label_attribute))
        return self.data.get(label_attribute), meta if isinstance(meta, dict) else None


# ----------------------------------------------------------------------------------------------- source-ref
def check_source_ref(ref: object, *, file: str | None = None, line: int | None = None,
                     field_name: str = "source-ref") -> str:
    """Return ``ref`` if it is a safe image reference, else raise :class:`ManifestError`.

    Accepted: ``s3://bucket/key`` (no ``..`` segment in the key) or a relative path without ``..`` segments.
    """
    if not isinstance(ref, str):
        raise ManifestError(f"expected a string, got {type(ref).__name__}", file=file, line=line, field=field_name)
    if not ref.strip():
        raise ManifestError("is empty", file=file, line=line, field=field_name)
    if "\x00" in ref:
        raise ManifestError("contains a NUL character", file=file, line=line, field=field_name)
    if ref.startswith("s3://"):
        bucket, _, key = ref[5:].partition("/")
        if not bucket or not key:
            raise ManifestError(f"expected s3://bucket/key, got {ref!r}", file=file, line=line, field=field_name)
        if ".." in key and ".." in key.split("/"):
            raise ManifestError(f"'..' segments are not allowed: {ref!r}", file=file, line=line, field=field_name)
        return ref
    if "://" in ref:
        raise ManifestError(f"only s3:// URIs or relative paths are supported, got {ref!r}",
                            file=file, line=line, field=field_name)
    norm = ref.replace("\\", "/")
    if norm.startswith("/") or (len(norm) > 1 and norm[1] == ":"):
        raise ManifestError(f"absolute paths are not allowed (use s3:// or a path relative to the manifest): "
                            f"{ref!r}", file=file, line=line, field=field_name)
    if ".." in norm.split("/"):
        raise ManifestError(f"'..' segments are not allowed: {ref!r}", file=file, line=line, field=field_name)
    return ref
