"""Shared fixtures: a real S3 API (moto's ThreadedMotoServer on 127.0.0.1) and clean AWS environment."""

from __future__ import annotations

import functools
import gc
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from hypothesis import HealthCheck, settings
from hypothesis.configuration import set_hypothesis_home_dir

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"

# Never let a test reach real AWS or pick up a developer's profile.
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "YOLO_OFFLINE": "1",
        "YOLO_AUTOINSTALL": "false",
    }
)
# Hypothesis: CI runs (the CI variable set) draw the same examples every time and keep no database, so the
# suite never fails by chance; local runs explore (random draws, failures replayed from the database). Neither
# fails on timing (no deadline, no too-slow health check: the suite shares 2 cores between parallel workers).
# The database and Hypothesis's other files live outside the repository (HYPOTHESIS_STORAGE_DIRECTORY overrides).
_untimed = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}
settings.register_profile("ci", derandomize=True, database=None, print_blob=True, **_untimed)
settings.register_profile("dev", **_untimed)
settings.load_profile("ci" if os.environ.get("CI") else "dev")
if not os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):
    set_hypothesis_home_dir(Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "gtlabel" / "hypothesis")

# pytest-xdist's workers get COLUMNS=80, and a rich Console made while COLUMNS is set keeps that width for good
# (the CLI's console is made when gtlabel.cli is imported): tests that give the CLI a width through the environment
# would then see 80 columns in a parallel run only. Without it, rich reads COLUMNS at each print, as in one process.
os.environ.pop("COLUMNS", None)
os.environ.pop("LINES", None)
for _var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_SAGEMAKER",
             "AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER"):
    os.environ.pop(_var, None)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """One moto server for the whole session; returns its endpoint URL."""
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    srv = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    srv.start()
    host, port = srv.get_host_and_port()
    yield f"http://{host}:{port}"
    srv.stop()


@pytest.fixture(scope="session", autouse=True)
def gtlabel_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """gtlabel's cache (``GTLABEL_CACHE_DIR``: Ultralytics' settings and fonts, downloaded weights) in this session's
    temporary folder: a test run never writes into the developer's ~/.cache/gtlabel, and parallel workers (each its
    own session and basetemp) never share one settings file. Tests of the setting itself change it with monkeypatch."""
    d = tmp_path_factory.mktemp("gtlabel-cache")
    before = os.environ.get("GTLABEL_CACHE_DIR")
    os.environ["GTLABEL_CACHE_DIR"] = str(d)
    yield d
    if before is None:
        os.environ.pop("GTLABEL_CACHE_DIR", None)
    else:
        os.environ["GTLABEL_CACHE_DIR"] = before


@pytest.fixture()
def s3_endpoint(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Point boto3 (and gtlabel.storage) at the moto server through the standard env variable."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_server)
    from gtlabel import storage

    storage.reset_clients()
    yield moto_server
    storage.reset_clients()


@pytest.fixture()
def bucket(s3_endpoint: str, request: pytest.FixtureRequest) -> str:
    """A fresh, empty bucket on the moto server (unique per test)."""
    import re
    import uuid

    name = re.sub(r"[^a-z0-9-]", "-", f"t-{request.node.name.lower()}")[:40].strip("-") + "-" + uuid.uuid4().hex[:8]
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(Bucket=name)
    return name


@pytest.fixture()
def s3(s3_endpoint: str):  # type: ignore[no-untyped-def]
    return boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")


@pytest.fixture()
def artifacts_dir(request: pytest.FixtureRequest) -> Path:
    """Where a test keeps files a person may want to look at (screenshots, reports)."""
    d = ARTIFACTS / request.node.name
    d.mkdir(parents=True, exist_ok=True)
    return d


@pytest.fixture()
def local_service(moto_server: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):  # type: ignore[no-untyped-def]
    """The local Ground Truth service (``gtlabel serve``: SageMaker labeling API + worker portal + engine) on a free
    127.0.0.1 port, using the session moto server as its S3. The environment points boto3 at both
    (``AWS_ENDPOINT_URL_SAGEMAKER`` / ``AWS_ENDPOINT_URL_S3``, credentials testing/testing), so plain
    ``boto3.client("sagemaker")`` reaches it. ``svc.default_workteam_arn``, ``svc.role_arn``,
    ``svc.add_worker(team, user, password)``, ``svc.engine.tick()``. Added by the local-service area."""
    from gtlabel import storage
    from gtlabel.local import LocalService

    svc = LocalService(data_dir=tmp_path / "gtlabel-serve", s3_endpoint=moto_server, access_key="testing",
                       secret_key="testing", engine_interval=0.2)
    with svc:
        for key, value in svc.env().items():
            monkeypatch.setenv(key, value)
        storage.reset_clients()
        yield svc
    storage.reset_clients()


# ------------------------------------------------------------------------------------ garbage collection
@pytest.hookimpl(hookwrapper=True, trylast=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """After each test, its cyclic garbage is collected and what survives is frozen (``gc.freeze``: left out of
    later collections). Without it every collection walks the whole heap of the worker (torch, Ultralytics, moto's
    stores, every module imported so far): measured 13-36 CPU-s of garbage collection per worker in 83-99 CPU-s
    of tests/local + tests/model + tests/quality. Objects are still freed when their last reference goes."""
    yield
    gc.collect()
    gc.freeze()


# While a test runs, the automatic collections come rarely (the first generation every 100,000 allocations, not
# every 700; as in the converter's workers, gtlabel.convert.pool): the collection after each test (above) finds
# a test's cyclic garbage, so memory stays bounded by what one test leaves. Measured on 475 tests of tests/local,
# convert, cli, interchange, quality, test_demo, test_structure, test_train and test_sliced_sahi (2 workers,
# heavy lock, 13:00-13:14): 176 CPU-s against 190 and 208 with the default thresholds (garbage collection in the
# workers 4.6 CPU-s against 9.5 and 10.6).
gc.set_threshold(100_000, 50, 100)


# ------------------------------------------------------------------------------------ parallel runs (xdist)
# scripts/test.sh runs the suite with pytest-xdist (-n <cores + 1> --dist loadgroup). Tests that share an expensive
# fixture run on one worker, so that it is built once: a test file that defines a module- or session-scoped fixture
# is one unit of work, and so is a folder whose own conftest.py does (tests/iam: the enforcing IAM server); every
# other test is a unit of its own. A folder conftest that names its expensive fixtures in ONE_WORKER_FIXTURES keeps
# only the files that use one of them together (tests/model: the trained model, ~15 CPU-s); its other files are
# units as above, and its cheap shared fixtures (the synthetic dataset, Ultralytics' settings) are built once per
# worker that runs them. The root conftest's session fixtures (one moto server, the cache folder) are built once
# per worker. Tests do not depend on the order or the worker (temporary
# folders, ports 0, uniquely named buckets, no shared files). pytest-xdist 3.8 cannot group by xdist_group marks
# under pytest 9.2 (its loadgroup renames node ids, which pytest 9.2 no longer allows: pytest-xdist issue 1386), so
# the groups are made here, from the files, for the controller that hands out the work.
# The order the units are handed out in: the longest first, so that no long test is left for the end of the run
# while the other worker idles. The controller sees node ids only, so every worker sorts its collection (stably,
# so that the collections agree) by the marks that name long tests (train, then slow), and the groups of a shared
# fixture before the single tests; the controller keeps that order (it does not reorder by the units' sizes).
_SHARED_FIXTURE = re.compile(r"@pytest\.fixture\(\s*scope=[\"'](?:module|package|session|class)[\"']")
_ONE_WORKER_FIXTURES = re.compile(r"^ONE_WORKER_FIXTURES\b[^=]*=\s*\(([^)]*)\)", re.MULTILINE)


@functools.cache
def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return ""


def _shares_fixtures(path: Path) -> bool:
    return _SHARED_FIXTURE.search(_text(path)) is not None


@functools.cache
def _one_worker_fixtures(conftest: Path) -> re.Pattern[str] | None:
    """A pattern that finds a use of a fixture named in ``conftest``'s ONE_WORKER_FIXTURES: a parameter (``name:``,
    ``name,``, ``name)``) or a quoted name (``usefixtures("name")``); None without that list."""
    m = _ONE_WORKER_FIXTURES.search(_text(conftest))
    names = "|".join(re.findall(r"[\"'](\w+)[\"']", m.group(1))) if m else ""
    return re.compile(rf"\b(?:{names})\b(?=\s*[:,)])|[\"'](?:{names})[\"']") if names else None


def work_unit(nodeid: str, rootdir: Path = ROOT) -> str:
    """The unit of work a test belongs to: its folder, its file, or itself (see above)."""
    file = nodeid.split("::", 1)[0]
    folder = (rootdir / file).parent
    conftest = folder / "conftest.py"
    if folder != Path(__file__).resolve().parent and _shares_fixtures(conftest):
        expensive = _one_worker_fixtures(conftest)
        if expensive is None or expensive.search(_text(rootdir / file)):
            return f"{folder.relative_to(rootdir).as_posix()}/"
    return file if _shares_fixtures(rootdir / file) else nodeid


_LONG_MARKS = ("train", "slow")  # the longest tests first: training, then the other end-to-end runs


def hand_out_order(item: pytest.Item, rootdir: Path = ROOT) -> tuple[int, bool]:
    """Sort key of a test in the parallel run: its long mark's rank (train 0, slow 1, none 2), then the groups
    of a shared fixture before the single tests."""
    rank = next((i for i, mark in enumerate(_LONG_MARKS) if item.get_closest_marker(mark)), len(_LONG_MARKS))
    return rank, work_unit(item.nodeid, rootdir) == item.nodeid


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``--dist loadgroup``: the tests in :func:`hand_out_order` (a stable sort: every worker collects the same
    order). One process (the default without xdist) keeps the files' order."""
    if getattr(config.option, "loadgroup", False):  # set on xdist's workers (their own ``dist`` is "no")
        items.sort(key=lambda item: hand_out_order(item, config.rootpath))


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """``--dist loadgroup``: xdist's scope scheduler over :func:`work_unit`, in the workers' order."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    rootdir = config.rootpath
    config.option.loadscopereorder = False  # keep the collection's order (longest first), not largest unit first

    class SharedFixtureScheduling(LoadScopeScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid, rootdir)

    return SharedFixtureScheduling(config, log)
