"""Near-duplicate removal: the perceptual hash, the exact banded index, and the manifest builder's --dedupe."""

from __future__ import annotations

import io
import random
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageEnhance
from typer.testing import CliRunner

from gtlabel.cli import Exit, app
from gtlabel.dedupe import DEFAULT_MAX_DISTANCE, NearDuplicateIndex, hamming, phash
from gtlabel.errors import ConfigError
from gtlabel.manifests import build_input_manifest
from gtlabel.synth import iter_images

SCENES = list(iter_images(12, seed=11))


def _variant(jpeg: bytes, kind: str) -> bytes:
    img = Image.open(io.BytesIO(jpeg))
    exif = img.getexif()
    if kind == "reencode":
        out = img
    elif kind == "brighter":
        out = ImageEnhance.Brightness(img).enhance(1.1)
    elif kind == "half":
        out = img.resize((img.width // 2, img.height // 2))
    else:  # "shift": the next frame of a slow drone, 8 px on
        out = img.crop((8, 6, img.width, img.height))
    buf = io.BytesIO()
    out.save(buf, "JPEG", quality=70, exif=exif)
    return buf.getvalue()


@pytest.mark.parametrize("kind", ["reencode", "brighter", "half", "shift"])
def test_variants_of_a_frame_are_near_duplicates(kind: str) -> None:
    for scene in SCENES:
        assert hamming(phash(scene.jpeg), phash(_variant(scene.jpeg, kind))) <= DEFAULT_MAX_DISTANCE, scene.name


def test_different_scenes_are_far_apart() -> None:
    hashes = [phash(s.jpeg) for s in SCENES]
    gaps = [hamming(a, b) for i, a in enumerate(hashes) for b in hashes[i + 1:]]
    assert min(gaps) > 2 * DEFAULT_MAX_DISTANCE


def test_hash_uses_the_displayed_orientation() -> None:
    rotated = next(s for s in SCENES + list(iter_images(40, seed=11))[12:] if s.exif_orientation != 1)
    img = Image.open(io.BytesIO(rotated.jpeg))
    from PIL import ImageOps

    upright = io.BytesIO()
    ImageOps.exif_transpose(img).save(upright, "JPEG", quality=95)  # the same picture, no EXIF tag
    assert hamming(phash(rotated.jpeg), phash(upright.getvalue())) <= 2


def test_unreadable_bytes_name_the_image() -> None:
    with pytest.raises(ValueError, match=r"s3://b/x\.jpg: not a readable image"):
        phash(b"\xff\xd8 not really", where="s3://b/x.jpg")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 2**64 - 1), min_size=1, max_size=60), st.integers(0, 16), st.randoms())
def test_index_matches_brute_force(seeds: list[int], distance: int, rnd: random.Random) -> None:
    # near copies of a few hashes (flip up to 2 x distance bits) so that matches happen at every distance
    hashes = []
    for h in seeds:
        for _ in range(rnd.randint(0, 2)):
            flips = rnd.sample(range(64), rnd.randint(0, min(64, 2 * distance + 1)))
            h2 = h
            for b in flips:
                h2 ^= 1 << b
            hashes.append(h2)
        hashes.append(h)
    index = NearDuplicateIndex(distance)
    kept: list[tuple[str, int]] = []
    for i, h in enumerate(hashes):
        want = next((k for k, kh in kept if hamming(h, kh) <= distance), None)
        got = index.add(f"k{i}", h)
        assert got == want
        if want is None:
            kept.append((f"k{i}", h))
    assert len(index) == len(kept)


@pytest.mark.parametrize("bad", [-1, 17, 2.5, True, "4"])
def test_index_rejects_bad_distances(bad: Any) -> None:
    with pytest.raises(ConfigError, match=r"near-duplicate distance must be a whole number 0\.\.16"):
        NearDuplicateIndex(bad)


def _put_scenes(s3: Any, bucket: str) -> list[str]:
    keys = []
    for scene in SCENES[:6]:
        s3.put_object(Bucket=bucket, Key=f"raw/{scene.name}", Body=scene.jpeg)
        keys.append(f"raw/{scene.name}")
    # bursts: two more frames of scene 0, one of scene 3, named so that they sort after the original
    s3.put_object(Bucket=bucket, Key=f"raw/{SCENES[0].name[:-4]}_b1.jpg", Body=_variant(SCENES[0].jpeg, "shift"))
    s3.put_object(Bucket=bucket, Key=f"raw/{SCENES[0].name[:-4]}_b2.jpg", Body=_variant(SCENES[0].jpeg, "brighter"))
    s3.put_object(Bucket=bucket, Key=f"raw/{SCENES[3].name[:-4]}_b1.jpg", Body=_variant(SCENES[3].jpeg, "half"))
    s3.put_object(Bucket=bucket, Key="raw/broken.jpg", Body=b"\xff\xd8 truncated")
    return keys


def test_manifest_build_drops_near_duplicates_on_s3(s3: Any, bucket: str) -> None:
    originals = _put_scenes(s3, bucket)
    dest = f"s3://{bucket}/in.manifest"
    summary = build_input_manifest(f"s3://{bucket}/raw/", dest, dedupe_distance=DEFAULT_MAX_DISTANCE,
                                   progress=False)
    refs = [orjson.loads(x)["source-ref"] for x in
            s3.get_object(Bucket=bucket, Key="in.manifest")["Body"].read().splitlines()]
    assert refs == [f"s3://{bucket}/{k}" for k in sorted(originals)]
    assert summary.seen == 10 and summary.written == 6
    assert summary.skipped == {"near-duplicate": 3, "not a readable image": 1}
    first = f"s3://{bucket}/raw/{SCENES[0].name}"
    assert sorted(summary.near_duplicates) == sorted([
        (f"s3://{bucket}/raw/{SCENES[0].name[:-4]}_b1.jpg", first),
        (f"s3://{bucket}/raw/{SCENES[0].name[:-4]}_b2.jpg", first),
        (f"s3://{bucket}/raw/{SCENES[3].name[:-4]}_b1.jpg", f"s3://{bucket}/raw/{SCENES[3].name}")])
    # with sampling: N distinct images, the same ones on every run
    a = build_input_manifest(f"s3://{bucket}/raw/", f"s3://{bucket}/s1.manifest", dedupe_distance=8, sample=4,
                             seed=5, progress=False)
    b = build_input_manifest(f"s3://{bucket}/raw/", f"s3://{bucket}/s2.manifest", dedupe_distance=8, sample=4,
                             seed=5, progress=False)
    body = s3.get_object(Bucket=bucket, Key="s1.manifest")["Body"].read()
    assert a.written == 4 and body == s3.get_object(Bucket=bucket, Key="s2.manifest")["Body"].read()
    kept = [phash(s3.get_object(Bucket=bucket, Key=orjson.loads(x)["source-ref"].split("/", 3)[3])["Body"].read())
            for x in body.splitlines()]
    assert all(hamming(x, y) > 8 for i, x in enumerate(kept) for y in kept[i + 1:])
    assert b.skipped["not sampled"] + b.written + sum(v for k, v in b.skipped.items() if k != "not sampled") == 10


def test_manifest_dedupe_from_an_existing_manifest_and_cli(tmp_path: Path) -> None:
    imgs = tmp_path / "imgs"
    imgs.mkdir()
    for scene in SCENES[:3]:
        (imgs / scene.name).write_bytes(scene.jpeg)
    (imgs / "again.jpg").write_bytes(_variant(SCENES[1].jpeg, "reencode"))
    src = tmp_path / "src.manifest"
    src.write_bytes(b"".join(orjson.dumps({"source-ref": f"imgs/{p.name}", "extra": i}) + b"\n"
                             for i, p in enumerate(sorted(imgs.iterdir()))))
    out = tmp_path / "out.manifest"
    summary = build_input_manifest(src, out, dedupe_distance=4, progress=False)
    lines = [orjson.loads(x) for x in out.read_bytes().splitlines()]
    assert summary.skipped == {"near-duplicate": 1} and len(lines) == 3
    assert "imgs/again.jpg" not in {ln["source-ref"] for ln in lines} and all("extra" in ln for ln in lines)

    res = CliRunner().invoke(app, ["manifest", "build", str(imgs), str(tmp_path / "c.manifest"), "--dedupe", "4"])
    assert res.exit_code == Exit.OK, res.output
    assert "near-duplicate: 1" in res.output and "again.jpg ~ " in res.output
    res = CliRunner().invoke(app, ["manifest", "build", str(imgs), str(tmp_path / "d.manifest"), "--dedupe", "40"])
    assert res.exit_code == Exit.INVALID and "0..16" in res.output
    assert not (tmp_path / "d.manifest").exists()  # nothing written on bad input


def test_unreadable_bytes_after_ultralytics_patched_pillow() -> None:
    """Ultralytics, once imported, patches Image.open to try pi-heif on unknown bytes (ModuleNotFoundError when
    it is not installed): a broken image must still be a clear 'not a readable image' for us."""
    pytest.importorskip("ultralytics")
    import ultralytics.utils.patches  # noqa: F401  (installs the patch)

    from gtlabel.errors import InputError
    from gtlabel.model.common import display_image

    with pytest.raises(ValueError, match="not a readable image"):
        phash(b"GIF89 nope", where="broken.gif")
    with pytest.raises(InputError, match="not a readable image"):
        display_image(b"GIF89 nope", "broken.gif")
