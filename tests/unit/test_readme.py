"""The README documents every setting the service reads."""

from __future__ import annotations

from pathlib import Path

from licenceflow.config import Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def test_every_setting_is_in_the_readme_table() -> None:
    text = README.read_text(encoding="utf-8")
    documented = {line.split("`")[1] for line in text.splitlines() if line.startswith("| `")}
    assert {variable for variable, _, _ in Settings.describe()} <= documented
