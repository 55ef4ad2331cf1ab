"""Bearer tokens that survive a key rotation, a little clock skew and an identity provider's
public keys, and nothing that lives for ever (issue 18: no leeway, no maximum lifetime, one key
and no `kid`, so rotating the secret logged everyone out)."""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

import jwt
import msgspec
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from licenceflow.api.auth import Authenticator, issue_token
from licenceflow.cli import lifetime
from licenceflow.config import ConfigError, Settings
from licenceflow.domain.errors import NotAuthenticated

OLD = "the-secret-of-last-month-" + "o" * 40  # 64 bytes: long enough for HS512 too
NEW = "the-secret-of-this-month-" + "n" * 40
SETTINGS = Settings(jwt_secret=NEW, jwt_key_id="2026-12", jwt_previous_secrets=f"2026-11={OLD}")
CLAIMS = {"sub": "alice", "org": "acme", "roles": ["exporter"]}


def signed(
    key: Any = NEW,
    *,
    kid: str | None = "2026-12",
    alg: str = "HS256",
    iat: float = 0,
    lifetime: float = 3600,
    **claims: Any,
) -> str:
    now = time.time() + iat
    headers = {} if kid is None else {"kid": kid}
    body = CLAIMS | {"iat": int(now), "exp": int(now + lifetime)} | claims
    return jwt.encode(body, key, algorithm=alg, headers=headers)


def check(token: str, settings: Settings = SETTINGS) -> str:
    return Authenticator(settings).principal(f"Bearer {token}").sub


def test_a_token_issued_here_names_its_key_and_is_accepted() -> None:
    token = issue_token(SETTINGS, sub="alice", org="acme", roles=["viewer"], ttl=_hours(1))
    assert jwt.get_unverified_header(token)["kid"] == "2026-12"
    assert check(token) == "alice"


def test_a_token_of_the_previous_key_still_works_after_a_rotation() -> None:
    assert check(signed(OLD, kid="2026-11")) == "alice"


@pytest.mark.parametrize(
    ("token", "why"),
    [
        (signed(OLD, kid="2026-12"), "Signature verification failed"),  # the old secret, new kid
        (signed(NEW, kid="2026-10"), "no key '2026-10'"),
        (signed(NEW, alg="HS512"), "alg"),  # a key is used with its own algorithm only
    ],
    ids=["wrong-secret-for-the-kid", "unknown-kid", "another-algorithm"],
)
def test_a_token_must_match_the_key_it_names(token: str, why: str) -> None:
    with pytest.raises(NotAuthenticated, match=why):
        check(token)


def test_a_token_without_kid_names_the_current_secret() -> None:
    assert check(signed(NEW, kid=None)) == "alice"
    with pytest.raises(NotAuthenticated):
        check(signed(OLD, kid=None))


@pytest.mark.parametrize("skew", [5, 25])
def test_a_clock_a_little_behind_the_issuers_is_forgiven(skew: float) -> None:
    """A token issued 5 s ahead was a 401 (no leeway)."""
    assert check(signed(iat=skew)) == "alice"


def test_beyond_the_leeway_a_token_from_the_future_is_refused() -> None:
    with pytest.raises(NotAuthenticated, match=r"not yet valid|iat"):
        check(signed(iat=120))


def test_a_token_may_not_live_for_ever() -> None:
    """`exp` in year 9999 was accepted."""
    with pytest.raises(NotAuthenticated, match="lives longer than 24 hours"):
        check(signed(lifetime=(253402300799 - time.time())))
    with pytest.raises(NotAuthenticated, match="lives longer"):
        check(signed(lifetime=24 * 3600 + 60))
    assert check(signed(lifetime=24 * 3600)) == "alice"


def test_iat_is_required() -> None:
    token = jwt.encode(CLAIMS | {"exp": int(time.time() + 60)}, NEW, headers={"kid": "2026-12"})
    with pytest.raises(NotAuthenticated, match="iat"):
        check(token)


def test_token_issues_nothing_longer_than_the_maximum() -> None:
    with pytest.raises(ValueError, match="at most 24 hours"):
        issue_token(SETTINGS, sub="a", org="acme", roles=["viewer"], ttl=_hours(25))


def _b64(raw: bytes) -> bytes:
    return base64.urlsafe_b64encode(raw).rstrip(b"=")


def _hours(n: float) -> Any:
    from datetime import timedelta

    return timedelta(hours=n)


@pytest.fixture
def provider(tmp_path: Path) -> tuple[Settings, rsa.RSAPrivateKey, ed25519.Ed25519PrivateKey]:
    """An identity provider's JWKS file: an RS256 key and an EdDSA key."""
    rs = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ed = ed25519.Ed25519PrivateKey.generate()
    keys = []
    for private, kid, alg, algorithm in (
        (rs, "idp-rsa", "RS256", jwt.algorithms.RSAAlgorithm),
        (ed, "idp-ed", "EdDSA", jwt.algorithms.OKPAlgorithm),
    ):
        jwk = json.loads(algorithm.to_jwk(private.public_key()))
        keys.append(jwk | {"kid": kid, "alg": alg, "use": "sig"})
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": keys}))
    return msgspec.structs.replace(SETTINGS, jwt_jwks_file=str(path)), rs, ed


def test_an_identity_providers_public_keys_are_accepted(provider: Any) -> None:
    settings, rs, ed = provider
    assert check(signed(rs, kid="idp-rsa", alg="RS256"), settings) == "alice"
    assert check(signed(ed, kid="idp-ed", alg="EdDSA"), settings) == "alice"
    # the secrets are still there beside them
    assert check(signed(OLD, kid="2026-11"), settings) == "alice"


def test_a_public_key_is_never_used_as_an_hmac_secret(provider: Any) -> None:
    """The classic confusion: sign HS256 with the public key's bytes under its `kid`."""
    settings, rs, _ = provider
    public = rs.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    # written by hand: PyJWT itself refuses to sign HS256 with a PEM key
    header = {"alg": "HS256", "typ": "JWT", "kid": "idp-rsa"}
    body = CLAIMS | {"iat": int(time.time()), "exp": int(time.time() + 60)}
    signing_input = b".".join(_b64(json.dumps(part).encode()) for part in (header, body))
    mac = hmac.new(public, signing_input, hashlib.sha256).digest()
    forged = (signing_input + b"." + _b64(mac)).decode()
    with pytest.raises(NotAuthenticated):
        check(forged, settings)


@pytest.mark.parametrize(
    "previous",
    ["2026-11", "=x", "k=", "a=b,2026-11"],
    ids=["no-equals", "no-kid", "no-secret", "mixed"],
)
def test_a_malformed_previous_secret_list_is_a_configuration_error(previous: str) -> None:
    with pytest.raises(ConfigError, match="kid=secret"):
        Authenticator(msgspec.structs.replace(SETTINGS, jwt_previous_secrets=previous))


@pytest.mark.parametrize(
    ("given", "seconds"), [("3600", 3600), ("600s", 600), ("30m", 1800), ("10h", 36000)]
)
def test_a_lifetime_is_seconds_or_minutes_or_hours(given: str, seconds: int) -> None:
    assert lifetime(given).total_seconds() == seconds


@pytest.mark.parametrize("given", ["0", "0h", "10d", "h", "-5m", "1.5h", ""])
def test_a_lifetime_that_is_none_of_those_is_refused(given: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        lifetime(given)
