"""`licenceflow load-tokens` writes tokens the service accepts, one exporter per organisation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from licenceflow.api.auth import Authenticator
from licenceflow.cli import LOAD_ORGS, main
from licenceflow.config import Settings

SECRET = "a-load-test-secret-of-32-bytes-or-more"


def test_the_token_set_authenticates_each_role(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LICENCEFLOW_JWT_SECRET", SECRET)
    path = tmp_path / "tokens.json"
    assert main(["load-tokens", str(path)]) == 0
    tokens = json.loads(path.read_text())
    check = Authenticator(Settings(jwt_secret=SECRET))
    exporters = [check.principal(f"Bearer {token}") for token in tokens["exporter"]]
    assert [p.org for p in exporters] == list(LOAD_ORGS)
    assert all(p.roles == {"exporter"} for p in exporters)
    assert check.principal(f"Bearer {tokens['officer']}").is_officer
    assert check.principal(f"Bearer {tokens['viewer']}").roles == {"viewer"}
