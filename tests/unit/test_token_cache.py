"""A verified token is remembered, never past its expiry."""

from __future__ import annotations

from datetime import timedelta

import pytest

from licenceflow.api import auth
from licenceflow.api.auth import Authenticator, issue_token
from licenceflow.config import Settings
from licenceflow.domain.errors import NotAuthenticated

SETTINGS = Settings(jwt_secret="a-unit-test-secret-of-32-bytes-or-more")


def test_a_remembered_token_still_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    check = Authenticator(SETTINGS)
    token = issue_token(SETTINGS, sub="a", org="acme", roles=["viewer"], ttl=timedelta(minutes=5))
    first = check.principal(f"Bearer {token}")
    assert check.principal(f"Bearer {token}") is first  # remembered, not decoded again
    later = auth.time.time() + 301
    monkeypatch.setattr(auth.time, "time", lambda: later)
    # past its expiry the memory is not used: the token is verified again (PyJWT, on the real
    # clock, judges the expiry itself: see test_access for an expired token's 401)
    assert check.principal(f"Bearer {token}") is not first


def test_a_forged_token_is_never_remembered() -> None:
    check = Authenticator(SETTINGS)
    other = Settings(jwt_secret="another-secret-of-at-least-32-bytes!!")
    forged = issue_token(other, sub="a", org="acme", roles=["officer"], ttl=timedelta(minutes=5))
    for _ in range(2):
        with pytest.raises(NotAuthenticated):
            check.principal(f"Bearer {forged}")


def test_the_memory_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth, "VERIFIED_TOKENS", 3)
    check = Authenticator(SETTINGS)
    tokens = [
        issue_token(SETTINGS, sub=f"u{n}", org="acme", roles=["viewer"], ttl=timedelta(hours=1))
        for n in range(5)
    ]
    for token in tokens:
        check.principal(f"Bearer {token}")
    assert len(check._verified) == 3
    assert list(check._verified) == tokens[2:]  # the oldest went first
