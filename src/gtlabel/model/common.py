"""Shared rim of the model area: datasets and weights made local, images read in their displayed frame,
Ultralytics loaded offline, and metrics pulled out of Ultralytics' validator objects into plain dicts.

Nothing here imports Ultralytics at module import time.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import orjson
import yaml
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from gtlabel import facts, storage
from gtlabel.errors import ConfigError, InputError, NotFound
from gtlabel.formats import strict_json
from gtlabel.formats.ground_truth import InputLine
from gtlabel.manifests import resolve_source_ref
from gtlabel.model.offline import default_cache_dir, import_ultralytics
from gtlabel.model.runtime import check_runtime, load_exported
from gtlabel.settings import get_settings

__all__ = [
    "ImageItem",
    "LocalDataset",
    "display_image",
    "iter_images",
    "lineage_ref",
    "load_model",
    "local_file",
    "metrics_summary",
    "model_names",
    "progress",
    "resolve_dataset",
    "source_ref_for",
]

_YAML_NAMES = ("data.yaml", "data.yml", "dataset.yaml")


# ----------------------------------------------------------------------------------------------- datasets
@dataclass(frozen=True)
class LocalDataset:
    """A YOLO dataset on local disk. ``data_yaml`` is what Ultralytics gets (absolute ``path`` inside)."""

    data_yaml: Path
    root: Path
    source: str
    names: dict[int, str]
    splits: dict[str, str]


def _cache_root(cache_dir: str | os.PathLike[str] | None) -> Path:
    return Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()


def _download_prefix(prefix: str, dest: Path) -> None:
    """Mirror ``prefix`` (an S3 prefix ending in ``/``) into ``dest``, skipping files already there with the
    same size and ETag (kept in ``.gtlabel-cache.json``)."""
    index_path = dest / ".gtlabel-cache.json"
    index: dict[str, str] = {}
    if index_path.exists():
        try:
            index = dict(orjson.loads(index_path.read_bytes()))
        except orjson.JSONDecodeError:
            index = {}
    pairs: list[tuple[str, str]] = []
    seen: dict[str, str] = {}
    for info in storage.list_objects(prefix):
        rel = info.uri[len(prefix):]
        parts = PurePosixPath(rel).parts
        if not rel or rel.endswith("/") or ".." in parts:
            continue
        target = dest.joinpath(*parts)
        stamp = f"{info.size}:{info.etag}"
        seen[rel] = stamp
        if index.get(rel) == stamp and target.exists() and target.stat().st_size == info.size:
            continue
        pairs.append((info.uri, str(target)))
    if not seen:
        raise NotFound("no objects under this prefix", prefix)
    if pairs:
        with progress() as bar:
            task = bar.add_task("download dataset", total=len(pairs))
            storage.copy_many(pairs, on_done=lambda _s, _d: bar.advance(task))
    storage.write_bytes(index_path, strict_json.dumps(seen, option=orjson.OPT_SORT_KEYS))


def _find_yaml(folder: Path, source: str) -> Path:
    for name in _YAML_NAMES:
        if (folder / name).is_file():
            return folder / name
    raise NotFound(f"no data.yaml in this dataset folder (looked for {', '.join(_YAML_NAMES)})", source)


def _parse_names(raw: object, file: str) -> dict[int, str]:
    if isinstance(raw, list) and all(isinstance(n, str) for n in raw):
        return dict(enumerate(raw))
    if isinstance(raw, dict):
        try:
            names = {int(k): str(v) for k, v in raw.items()}
        except (TypeError, ValueError):
            raise InputError("class ids must be integers 0..n-1", file=file, field="names") from None
        if sorted(names) == list(range(len(names))):
            return names
        raise InputError(f"class ids must be contiguous 0..{len(names) - 1}, got {sorted(names)}",
                         file=file, field="names")
    raise InputError(f"expected a list or an id -> name mapping, got {type(raw).__name__}", file=file,
                     field="names")


def resolve_dataset(dataset: str | os.PathLike[str], *, cache_dir: str | os.PathLike[str] | None = None
                    ) -> LocalDataset:
    """Make a YOLO dataset usable by Ultralytics here.

    ``dataset`` is a ``data.yaml`` or the folder holding it, local or ``s3://`` (an S3 dataset is mirrored into
    ``<cache>/datasets/<hash>/``). When the yaml's ``path`` is missing, relative, or does not exist on this
    machine (a dataset converted elsewhere, e.g. inside a SageMaker container), the folder of the yaml is the
    root and a resolved copy of the yaml is written to the cache; the dataset folder itself is never changed.
    """
    source = str(dataset)
    cache = _cache_root(cache_dir)
    if storage.is_s3(source):
        prefix = source.rsplit("/", 1)[0] + "/" if source.lower().endswith((".yaml", ".yml")) else \
            source.rstrip("/") + "/"
        local = cache / "datasets" / hashlib.sha256(prefix.encode()).hexdigest()[:16]
        _download_prefix(prefix, local)
        yaml_path = local / source.rsplit("/", 1)[1] if source.lower().endswith((".yaml", ".yml")) else \
            _find_yaml(local, source)
    else:
        p = Path(source).expanduser()
        if p.is_dir():
            yaml_path = _find_yaml(p, source)
        elif p.is_file():
            yaml_path = p
        else:
            raise NotFound("dataset not found (give a data.yaml or the folder holding it)", source)
    yaml_path = yaml_path.resolve()
    try:
        data = yaml.safe_load(yaml_path.read_text(encoding="utf-8-sig"))
    except yaml.YAMLError as exc:
        raise InputError(f"not valid YAML: {exc}", file=str(yaml_path)) from None
    if not isinstance(data, dict):
        raise InputError("expected a mapping with path, train, val, names", file=str(yaml_path))
    for key in ("train", "val", "names"):
        if key not in data:
            raise InputError("missing (a YOLO data.yaml needs train, val and names)", file=str(yaml_path),
                             field=key)
    names = _parse_names(data["names"], str(yaml_path))
    given = data.get("path")
    root = Path(str(given)) if given and not storage.is_s3(source) else None  # a mirror is its own root
    if root is None or not root.is_absolute() or not root.is_dir():
        root = yaml_path.parent
        fixed = dict(data)
        fixed["path"] = str(root)
        fixed["names"] = names
        blob = yaml.safe_dump(fixed, sort_keys=False, allow_unicode=True).encode()
        out = cache / "resolved-yaml" / f"{hashlib.sha256(blob).hexdigest()[:16]}.yaml"
        if not out.exists():
            storage.write_bytes(out, blob)
        data_yaml = out
    else:
        data_yaml = yaml_path
    splits = {k: str(data[k]) for k in ("train", "val", "test") if data.get(k)}
    return LocalDataset(data_yaml=data_yaml, root=root.resolve(), source=source, names=names, splits=splits)


def lineage_ref(root: Path) -> dict[str, Any]:
    """The dataset version and lineage reference of a dataset folder (``lineage.json`` beside data.yaml,
    written by :func:`gtlabel.convert.convert_ground_truth_to_yolo`). ``version`` is ``None`` when absent."""
    path = root / "lineage.json"
    if not path.is_file():
        return {"version": None, "lineage": None}
    try:
        rec = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise InputError(f"malformed JSON: {exc}", file=str(path)) from None
    if not isinstance(rec, dict):
        raise InputError("expected a JSON object", file=str(path))
    version = rec.get("version")
    if version is not None and not isinstance(version, str):
        raise InputError(f"expected a string, got {type(version).__name__}", file=str(path), field="version")
    out: dict[str, Any] = {"version": version, "lineage": str(path)}
    for key in ("manifest", "jobs", "package_version"):
        if key in rec:
            out[key] = rec[key]
    return out


def local_file(uri: str | os.PathLike[str], *, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """A local path for a file given locally or as ``s3://`` (downloaded once into ``<cache>/files/``)."""
    text = str(uri)
    if not storage.is_s3(text):
        p = Path(text).expanduser()
        if not p.is_file():
            raise NotFound("file not found", text)
        return p.resolve()
    info = storage.head(text)
    digest = hashlib.sha256(f"{text}:{info.etag}:{info.size}".encode()).hexdigest()[:16]
    dest = _cache_root(cache_dir) / "files" / digest / text.rsplit("/", 1)[1]
    if not dest.exists():
        storage.copy(text, dest)
    return dest


# ----------------------------------------------------------------------------------------------- models
def load_model(model: str | os.PathLike[str], *, cache_dir: str | os.PathLike[str] | None = None,
               runtime: str = "torch", imgsz: int = 640) -> Any:
    """An Ultralytics ``YOLO`` from a model yaml (built from scratch, e.g. ``yolo11n.yaml``) or local/S3
    weights. gtlabel never lets Ultralytics download weights: a ``.pt`` that is not a file is an error.

    ``runtime``: ``"torch"`` (the ``.pt`` as it is), ``"onnx"`` or ``"openvino"`` (the weights exported once for
    ``imgsz`` and cached, :mod:`gtlabel.model.runtime`; needs the ``runtime`` extra)."""
    text = str(model)
    check_runtime(runtime)
    YOLO = import_ultralytics().YOLO
    if runtime != "torch" and not text.lower().endswith(".pt"):
        raise ConfigError(f"runtime={runtime!r} runs trained .pt weights (exported once), got {text}")
    if text.lower().endswith((".yaml", ".yml")) and not storage.is_s3(text):
        try:
            return YOLO(text)
        except FileNotFoundError as exc:
            raise NotFound(f"model config not found: {exc}", text) from None
    if text.lower().endswith(".yaml") or text.lower().endswith(".yml"):
        return YOLO(str(local_file(text, cache_dir=cache_dir)))
    path = local_file(text, cache_dir=cache_dir) if storage.is_s3(text) else Path(text).expanduser()
    if not path.is_file():
        raise NotFound("weights file not found (gtlabel never downloads weights; give a local .pt, an s3:// "
                       "URI, or a model yaml such as yolo11n.yaml to train from scratch)", text)
    if runtime != "torch":
        return load_exported(path, runtime, imgsz=imgsz, cache_dir=cache_dir)
    return YOLO(str(path))


def model_names(yolo: Any) -> dict[int, str]:
    names = getattr(yolo, "names", None) or {}
    return {int(k): str(v) for k, v in dict(names).items()}


def _f(x: Any) -> float:
    return round(float(x), 6)


def metrics_summary(det: Any, names: Mapping[int, str]) -> tuple[dict[str, float], dict[str, dict[str, Any]]]:
    """Overall and per-class numbers from an Ultralytics ``DetMetrics`` (what ``val()`` returns).

    Per class: precision, recall, mAP50, mAP50-95 where the class has labels in the split (``None`` where
    it has none: a mean over nothing is not a number), and the instance/image counts.
    """
    box = det.box
    overall = {"precision": _f(box.mp), "recall": _f(box.mr), "mAP50": _f(box.map50), "mAP50-95": _f(box.map)}
    fitness = getattr(det, "fitness", None)
    if fitness is not None:
        overall["fitness"] = _f(fitness)
    nt_cls = getattr(det, "nt_per_class", None)
    nt_img = getattr(det, "nt_per_image", None)
    per_class: dict[str, dict[str, Any]] = {}
    for cid, name in sorted(names.items()):
        per_class[name] = {
            "class_id": cid,
            "instances": int(nt_cls[cid]) if nt_cls is not None and cid < len(nt_cls) else 0,
            "images": int(nt_img[cid]) if nt_img is not None and cid < len(nt_img) else 0,
            "precision": None, "recall": None, "mAP50": None, "mAP50-95": None,
        }
    for i, cid in enumerate(list(box.ap_class_index)):
        name = names.get(int(cid), str(cid))
        p, r, ap50, ap = box.class_result(i)
        row = per_class.setdefault(name, {"class_id": int(cid), "instances": 0, "images": 0})
        row.update({"precision": _f(p), "recall": _f(r), "mAP50": _f(ap50), "mAP50-95": _f(ap)})
    return overall, per_class


# ----------------------------------------------------------------------------------------------- images
@dataclass
class ImageItem:
    """One image to run the model on: where it is (``uri``), what the output line will call it
    (``source_ref``), and the other keys of its input-manifest line (passed through)."""

    uri: str
    source_ref: str
    extra: dict[str, Any] = field(default_factory=dict)
    line: int | None = None


def source_ref_for(uri: str, out_manifest: str) -> str:
    """``source-ref`` for an image in a manifest written to ``out_manifest``: S3 URIs as they are; local
    images relative to the manifest's folder (the project's rule: no absolute paths, no ``..``)."""
    if storage.is_s3(uri):
        return uri
    if storage.is_s3(out_manifest):
        raise ConfigError(f"{uri}: a manifest on S3 cannot point at local images; upload them first")
    base = Path(out_manifest).expanduser().resolve().parent
    try:
        return PurePosixPath(Path(uri).resolve().relative_to(base)).as_posix()
    except ValueError:
        raise ConfigError(f"{uri}: local images must be inside the output manifest's folder {base} "
                          f"(source-refs are relative and never use '..')") from None


def _is_manifest(images: str) -> bool:
    low = images.lower()
    if low.endswith(facts.limits().image_suffixes):
        return False
    if storage.is_s3(images):
        if images.endswith("/"):
            return False
        try:
            storage.head(images)
        except NotFound:
            return False
        return True
    return Path(images).expanduser().is_file()


def iter_images(images: str | os.PathLike[str], out_manifest: str, *, drop_keys: Iterable[str] = ()
                ) -> Iterator[ImageItem]:
    """Images from an input manifest (``source-ref`` lines; other keys kept in ``extra`` minus ``drop_keys``),
    a local folder or an S3 prefix (jpg/jpeg/png, sorted), or a single image."""
    src = str(images)
    drop = set(drop_keys)
    if _is_manifest(src):
        for lineno, raw in storage.iter_lines(src):
            item = InputLine.loads(raw, file=src, line=lineno, image=True)
            uri = resolve_source_ref(str(item.source_ref), src)
            yield ImageItem(uri=uri, source_ref=source_ref_for(uri, out_manifest), extra=item.pass_through(drop),
                            line=lineno)
        return
    found = False
    suffixes = facts.limits().image_suffixes
    for info in storage.list_objects(src, suffixes=suffixes):
        found = True
        yield ImageItem(uri=info.uri, source_ref=source_ref_for(info.uri, out_manifest))
    if not found:
        raise NotFound(f"no images ({', '.join(suffixes)}) here", src)


def display_image(data: bytes, uri: str) -> Any:
    """Decode an image as the worker (and Ultralytics' ``exif_size``) sees it: EXIF orientation applied,
    RGB. Returns a BGR ``numpy`` array (what Ultralytics expects for arrays)."""
    import numpy as np
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            shown = ImageOps.exif_transpose(im).convert("RGB")
    # ImportError: Ultralytics' patched Image.open tries pi-heif (not installed) on bytes Pillow cannot identify
    except (UnidentifiedImageError, OSError, ImportError) as exc:
        raise InputError(f"not a readable image: {exc}", file=uri) from None
    arr = np.asarray(shown)[:, :, ::-1]
    return np.ascontiguousarray(arr)


def progress() -> Any:
    """A rich progress bar (renders in a terminal and in a notebook); disabled by ``GTLABEL_PROGRESS=0``."""
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    disable=not get_settings().progress)
