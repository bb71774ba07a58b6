"""The suite does not fail by chance: Hypothesis draws the same examples on CI, and keeps its files out of the repo."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.configuration import storage_directory

ROOT = Path(__file__).resolve().parent.parent


def test_ci_profile_is_deterministic_and_keeps_no_database() -> None:
    ci = settings.get_profile("ci")
    assert ci.derandomize is True
    assert ci.database is None
    # the profile in force follows the CI variable (exploration on a developer's machine); neither fails on timing
    assert settings.default.derandomize is bool(os.environ.get("CI"))
    for profile in (ci, settings.get_profile("dev"), settings.default):
        assert profile.deadline is None
        assert HealthCheck.too_slow in profile.suppress_health_check


def test_hypothesis_files_are_outside_the_repository() -> None:
    where = storage_directory("examples", intent_to_write=False).path.resolve()
    assert not where.is_relative_to(ROOT), where


def test_ci_runs_draw_the_same_examples(tmp_path: Path) -> None:
    """Two runs under CI=true see the same drawn values; the repository's conftest selects the profile."""
    test_file = tmp_path / "test_draws.py"
    test_file.write_text(textwrap.dedent("""
        import os
        from hypothesis import given, settings, strategies as st

        @settings(max_examples=20)
        @given(st.integers())
        def test_draw(x):
            with open(os.environ["DRAWS_OUT"], "a") as f:
                f.write(f"{x}\\n")
    """))
    draws = []
    for i in range(2):
        out = tmp_path / f"draws{i}.txt"
        path = os.pathsep.join(filter(None, [str(ROOT / "tests"), os.environ.get("PYTHONPATH")]))
        env = {**os.environ, "CI": "true", "DRAWS_OUT": str(out), "PYTHONPATH": path}
        # the repository's conftest loaded as a plugin, the test file outside the repository
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "conftest",
                        "--rootdir", str(tmp_path), str(test_file)],
                       env=env, cwd=tmp_path, check=True, capture_output=True)
        draws.append(out.read_text())
    assert draws[0] and draws[0] == draws[1]
    assert not (tmp_path / ".hypothesis").exists()


def test_parallel_runs_build_a_shared_fixture_once_and_hand_out_the_longest_first(tmp_path: Path) -> None:
    """scripts/test.sh runs the suite with pytest-xdist (--dist loadgroup); tests/conftest.py puts the users of a
    module-scoped fixture on one worker, so it is built once (else once per worker), makes every other test a unit
    of its own, and hands the units out longest first: train-marked, then slow-marked (a group at its longest
    test's place, before a single test of the same mark), then the rest."""
    (tmp_path / "test_shared.py").write_text(textwrap.dedent("""
        import os
        import pytest

        def ran(name):
            with open(os.environ["RAN_OUT"], "a") as f:
                f.write(os.environ.get("PYTEST_XDIST_WORKER", "main") + " " + name + "\\n")

        @pytest.fixture(scope="module")
        def expensive():
            with open(os.environ["SETUPS_OUT"], "a") as f:
                f.write(os.environ.get("PYTEST_XDIST_WORKER", "main") + "\\n")
            return 1

        @pytest.mark.parametrize("i", range(8))
        def test_uses_it(expensive, i):
            ran("shared")

        @pytest.mark.slow
        def test_long(expensive):
            ran("shared-long")
    """))
    (tmp_path / "test_free.py").write_text(textwrap.dedent("""
        import os
        import pytest

        def ran(name):
            with open(os.environ["RAN_OUT"], "a") as f:
                f.write(os.environ.get("PYTEST_XDIST_WORKER", "main") + " " + name + "\\n")

        @pytest.mark.parametrize("i", range(8))
        def test_free(i):
            ran("free")

        @pytest.mark.slow
        def test_slow():
            ran("slow")

        @pytest.mark.train
        def test_train():
            ran("train")
    """))
    setups, ran = tmp_path / "setups.txt", tmp_path / "ran.txt"
    path = os.pathsep.join(filter(None, [str(ROOT / "tests"), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "SETUPS_OUT": str(setups), "RAN_OUT": str(ran), "PYTHONPATH": path}
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "conftest",
                          "-n", "2", "--dist", "loadgroup", "--rootdir", str(tmp_path), str(tmp_path)],
                         env=env, cwd=tmp_path, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert len(setups.read_text().split()) == 1  # one worker built it
    by_worker: dict[str, list[str]] = {}
    lines = [line.split() for line in ran.read_text().splitlines()]
    for worker, name in lines:
        by_worker.setdefault(worker, []).append(name)
    assert sorted(name for _, name in lines) == sorted(["free"] * 8 + ["shared"] * 8 + ["shared-long", "slow", "train"])
    # xdist's scope scheduler gives each worker one unit, then one more to each worker with 2 tests or fewer
    # waiting: the train test and then the single slow test on one worker, the slow-marked group (its slow test
    # first) on the other
    shared = next(w for w, names in by_worker.items() if "shared" in names)
    other = next(w for w in by_worker if w != shared)
    assert by_worker[shared][:9] == ["shared-long"] + ["shared"] * 8
    assert by_worker[other][:2] == ["train", "slow"], by_worker


def test_a_folder_conftest_can_keep_only_the_users_of_its_expensive_fixtures_together(
        tmp_path: Path, pytestconfig: pytest.Config) -> None:
    """A folder conftest with a session fixture makes the folder one unit of work; with ONE_WORKER_FIXTURES, only
    the files that use one of the fixtures it names (tests/model: the trained model) are; the others are units as
    anywhere else (their file when it has a module fixture of its own, else each test)."""
    # the root conftest as pytest loaded it ("import conftest" may find another folder's conftest)
    root_conftest = next(p for p in pytestconfig.pluginmanager.get_plugins()
                         if getattr(p, "__file__", None) == str(ROOT / "tests" / "conftest.py"))
    work_unit = root_conftest.work_unit

    shared = "import pytest\n\n@pytest.fixture(scope=\"session\")\ndef trained():\n    return 1\n"
    for folder, extra in (("whole", ""), ("split", "\nONE_WORKER_FIXTURES = (\"trained\",)\n")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "conftest.py").write_text(shared + extra)
        (tmp_path / folder / "test_user.py").write_text("def test_a(trained: int) -> None: ...\n")
        (tmp_path / folder / "test_marked.py").write_text(
            "import pytest\n\n@pytest.mark.usefixtures(\"trained\")\ndef test_b(): ...\n")
        (tmp_path / folder / "test_free.py").write_text("def test_c(tmp_path):  # trained on nothing\n    ...\n")
        (tmp_path / folder / "test_own.py").write_text(
            "import pytest\n\n@pytest.fixture(scope=\"module\")\ndef own(): ...\n\ndef test_d(own): ...\n")
    units = {f"{folder}/{name}": work_unit(f"{folder}/{name}.py::test_x", tmp_path)
             for folder in ("whole", "split") for name in ("test_user", "test_marked", "test_free", "test_own")}
    assert units == {
        "whole/test_user": "whole/", "whole/test_marked": "whole/", "whole/test_free": "whole/",
        "whole/test_own": "whole/",
        "split/test_user": "split/", "split/test_marked": "split/", "split/test_free": "split/test_free.py::test_x",
        "split/test_own": "split/test_own.py",
    }


def test_the_test_command_runs_in_parallel() -> None:
    """scripts/test.sh runs pytest-xdist (cores + 1 workers, the grouping and order tested above) and hands its
    arguments to pytest after its own (``-n 0``: one process); the dev extra installs pytest-xdist."""
    script = (ROOT / "scripts" / "test.sh").read_text()
    assert 'workers=$(( cores < 8 ? cores + 1 : 8 ))' in script
    assert 'python -m pytest -q -n "$workers" --dist loadgroup "$@"' in script
    import tomllib

    dev = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["dev"]
    assert any(d.startswith("pytest-xdist") for d in dev)


def test_the_cache_is_this_sessions_own(gtlabel_cache_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    """gtlabel's cache (Ultralytics' settings + fonts) lives in the session's basetemp, one per xdist worker."""
    from gtlabel.model.offline import default_cache_dir

    assert default_cache_dir() == gtlabel_cache_dir
    assert gtlabel_cache_dir.is_relative_to(tmp_path_factory.getbasetemp())
    assert not gtlabel_cache_dir.is_relative_to(Path.home() / ".cache")
