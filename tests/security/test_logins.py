"""Password guessing against the portal: back-off per account and per address, a bound on concurrent hashing,
a minimum password length."""

from __future__ import annotations

import re
import threading
import time
from typing import Any

import pytest
import requests
from localsvc_helpers import Worker

from gtlabel.errors import ServiceValidationError
from gtlabel.local.logins import MIN_PASSWORD_LENGTH, LoginGuard, LoginPolicy, check_password_policy


def _login(base: str, user: str, password: str, session: requests.Session | None = None) -> requests.Response:
    s = session or requests.Session()
    page = s.get(f"{base}/login", timeout=10)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token
    return s.post(f"{base}/login", data={"username": user, "password": password, "csrf_token": token.group(1)},
                  allow_redirects=False, timeout=30)


def test_guard_backs_off_per_user_and_per_address() -> None:
    g = LoginGuard(LoginPolicy(free_user_failures=3, free_address_failures=5, max_lockout_s=60))
    for _ in range(3):
        assert g.wait("ann", "1.1.1.1", 100.0) == 0
        g.failed("ann", "1.1.1.1", 100.0)
    assert g.wait("ANN", "9.9.9.9", 100.0) == 1.0  # per account, whatever the address (and the case)
    g.failed("ann", "9.9.9.9", 101.0)
    assert g.wait("ann", "9.9.9.9", 101.0) == 2.0 and g.wait("ann", "9.9.9.9", 103.5) == 0
    for n in range(10):
        g.failed("ann", "9.9.9.9", 200.0 + n)
    assert g.wait("ann", "9.9.9.9", 209.0) == 60.0  # capped
    assert g.wait("bob", "1.1.1.1", 209.0) == 0  # 3 failures from 1.1.1.1: under its threshold
    for user in ("c1", "c2"):
        g.failed(user, "1.1.1.1", 210.0)
    assert g.wait("dave", "1.1.1.1", 210.0) == 1.0  # a sixth failure from that address: it waits, any account
    g.succeeded("ann")
    assert g.wait("ann", "8.8.8.8", 211.0) == 0
    assert g.wait("zed", "7.7.7.7", 10_000.0) == 0


def test_guard_memory_is_bounded() -> None:
    g = LoginGuard(LoginPolicy(max_tracked=100))
    for i in range(10_000):
        g.failed(f"user{i}", f"10.0.{i // 256}.{i % 256}", float(i))
    assert g.tracked() == (100, 100)


def test_password_policy() -> None:
    assert check_password_policy("x" * MIN_PASSWORD_LENGTH) is None
    assert "at least" in str(check_password_policy("short"))


def test_right_password_is_refused_during_a_lockout(clocked: Any) -> None:
    clocked.add_worker("default", "ann", "pw-ann-correct")
    base = clocked.portal_url.rstrip("/")
    for _ in range(5):
        assert _login(base, "ann", "guess").status_code == 401
    r = _login(base, "ann", "pw-ann-correct")  # on main: accepted after any number of wrong guesses
    assert r.status_code == 429 and "gtlabel_session" not in r.cookies and int(r.headers["Retry-After"]) >= 1
    assert "Too many failed sign-ins" in r.text
    clocked.clock.advance(5)
    r = _login(base, "ann", "pw-ann-correct")
    assert r.status_code == 303 and "gtlabel_session" in r.cookies
    assert _login(base, "ann", "guess").status_code == 401  # a success cleared the count


def test_too_short_passwords_are_refused(clocked: Any) -> None:
    with pytest.raises(ServiceValidationError, match="at least 8"):
        clocked.add_worker("default", "ann", "pw")


def test_password_hashing_is_bounded(clocked: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    running, peak, lock = [0], [0], threading.Lock()
    real = clocked.backend.authenticate

    def slow(username: str, password: str) -> Any:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        try:
            time.sleep(0.2)
            return real(username, password)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(clocked.backend, "authenticate", slow)
    base = clocked.portal_url.rstrip("/")
    results: list[int] = []

    def one(i: int) -> None:
        results.append(_login(base, f"nobody{i}", "wrong-password").status_code)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak[0] <= LoginPolicy().hash_slots  # on main: as many as the thread pool holds (40)
    # 401, or 503 beyond the hashing queue, or 429 once this address has failed too often
    assert len(results) == 40 and set(results) <= {401, 429, 503}


def test_a_worker_still_logs_in_normally(clocked: Any) -> None:
    clocked.add_worker("default", "bea", "pw-bea-correct")
    assert Worker(clocked.portal_url, "bea", "pw-bea-correct").login_status == 303
