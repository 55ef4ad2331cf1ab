"""`licenceflow dev` shows the domain's events as they happen, one line each (issue 19: the
terminal was 719 lines of banners and HTTP requests in two minutes, and said nothing of them)."""

from __future__ import annotations

import io

from litestar import Litestar
from litestar.testing import AsyncTestClient

from licenceflow.dev_console import Console
from tests.integration.conftest import Tokens, application_body
from tests.polling import eventually


async def test_each_event_worth_seeing_is_a_line_naming_who_what_and_which_file(
    client: AsyncTestClient[Litestar], auth: Tokens, database_url: str
) -> None:
    out = io.StringIO()  # not a terminal: no colour codes
    console = Console(database_url, out)
    console.start()
    try:
        draft = await client.post(
            "/v1/applications", json=application_body(), headers=auth("exporter")
        )
        app_id = draft.json()["id"]
        for role, action in (("exporter", "submit"), ("officer", "accept")):
            done = await client.post(
                f"/v1/applications/{app_id}/actions", json={"action": action}, headers=auth(role)
            )
            assert done.status_code == 200, done.text
        reference = done.json()["reference"]

        async def shown() -> bool:
            return "accepted for review" in out.getvalue()

        await eventually(shown, "the console's line for the acceptance")
    finally:
        console.stop()
    lines = out.getvalue().splitlines()
    mine = [line for line in lines if reference in line]
    assert len(mine) == 2  # the draft itself has no line: it was never filed
    filed, accepted = mine
    assert filed.split()[2:] == ["exporter-1", reference, "acme", "filed"]
    assert accepted.split()[2:4] == ["officer-1", reference]
    assert accepted.endswith("accepted for review")
    assert "\033[" not in out.getvalue()
