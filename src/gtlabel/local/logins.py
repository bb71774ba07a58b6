"""Password guessing on the worker portal: back-off per account and per address, and a bound on hashing.

:class:`LoginGuard` counts failed logins per username and per client address (pure: the caller passes the time).
After :attr:`LoginPolicy.free_user_failures` failures for one username (or :attr:`LoginPolicy.free_address_failures`
from one address) each further attempt must wait ``2 ** (failures - free)`` seconds, up to
:attr:`LoginPolicy.max_lockout_s`, after the last failure; until then the portal answers ``429`` without looking
at the password, so the right password is not accepted during a lock-out either. A success clears the account's
count; counts are forgotten :attr:`LoginPolicy.forget_after_s` after the last failure. Memory is bounded: at most
:attr:`LoginPolicy.max_tracked` names and addresses each (the oldest are forgotten first).

The per-address threshold is higher because many workers may share one address (an office, a proxy: run the
portal behind a proxy that passes the real address, or raise it). Password hashing (scrypt, 16 MiB and ~50 ms
each) runs at most :attr:`LoginPolicy.hash_slots` at a time; the portal refuses logins beyond
:attr:`LoginPolicy.hash_queue` waiting with ``503``, so a flood of logins cannot take the service's memory or CPU.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

__all__ = ["MIN_PASSWORD_LENGTH", "LoginGuard", "LoginPolicy", "check_password_policy"]

#: the shortest password an account may have (NIST SP 800-63B's minimum for chosen secrets)
MIN_PASSWORD_LENGTH = 8


def check_password_policy(password: str) -> str | None:
    """Why ``password`` may not be used (``None`` when it may)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"a password needs at least {MIN_PASSWORD_LENGTH} characters"
    return None


@dataclass(frozen=True)
class LoginPolicy:
    free_user_failures: int = 5
    free_address_failures: int = 30
    max_lockout_s: float = 900.0
    forget_after_s: float = 3600.0
    max_tracked: int = 10_000
    hash_slots: int = 2
    hash_queue: int = 32


class _Counter:
    """Failures per key with the time of the last one (LRU-bounded)."""

    def __init__(self, free: int, policy: LoginPolicy) -> None:
        self.free = free
        self.policy = policy
        self.entries: OrderedDict[str, tuple[int, float]] = OrderedDict()

    def wait(self, key: str, now: float) -> float:
        entry = self.entries.get(key)
        if entry is None:
            return 0.0
        count, last = entry
        if now - last > self.policy.forget_after_s:
            del self.entries[key]
            return 0.0
        if count < self.free:
            return 0.0
        delay = min(2.0 ** (count - self.free), self.policy.max_lockout_s)
        return max(0.0, last + delay - now)

    def fail(self, key: str, now: float) -> None:
        count, last = self.entries.pop(key, (0, now))
        if now - last > self.policy.forget_after_s:
            count = 0
        self.entries[key] = (count + 1, now)
        while len(self.entries) > self.policy.max_tracked:
            self.entries.popitem(last=False)

    def clear(self, key: str) -> None:
        self.entries.pop(key, None)


class LoginGuard:
    """Failed-login bookkeeping for the portal (thread-safe; the caller passes the clock's time)."""

    def __init__(self, policy: LoginPolicy | None = None) -> None:
        self.policy = policy or LoginPolicy()
        self._users = _Counter(self.policy.free_user_failures, self.policy)
        self._addresses = _Counter(self.policy.free_address_failures, self.policy)
        self._lock = threading.Lock()

    def wait(self, username: str, address: str, now: float) -> float:
        """Seconds before this username may try again from this address (0: now)."""
        with self._lock:
            return max(self._users.wait(username.lower(), now), self._addresses.wait(address, now))

    def failed(self, username: str, address: str, now: float) -> None:
        with self._lock:
            self._users.fail(username.lower(), now)
            self._addresses.fail(address, now)

    def succeeded(self, username: str) -> None:
        with self._lock:
            self._users.clear(username.lower())

    def tracked(self) -> tuple[int, int]:
        """How many usernames and addresses are being counted (bounded by ``policy.max_tracked`` each)."""
        with self._lock:
            return len(self._users.entries), len(self._addresses.entries)
