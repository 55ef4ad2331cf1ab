"""What `licenceflow dev` shows while it runs: one line per domain event worth seeing (a file
filed, accepted, asked about, delayed, decided; a licence issued, shipped against, expired),
who did it, and on which file, coloured on a terminal. Read from the event log every half
second, from the moment the console starts."""

from __future__ import annotations

import asyncio
import sys
import threading
from typing import Any, TextIO

from licenceflow.store import events
from licenceflow.store.pool import connect

SHOWN = {  # action → (what the line says, ANSI colour)
    "submit": ("filed", "36"),
    "accept": ("accepted for review", "34"),
    "request_info": ("information requested", "33"),
    "respond": ("answered", "36"),
    "delay": ("delayed (referred)", "33"),
    "deadline_passed": ("deadline passed", "33"),
    "approve": ("approved", "32"),
    "approve_temporary": ("approved for six months", "32"),
    "reject": ("rejected", "31"),
    "lapse": ("lapsed (no answer)", "31"),
    "withdraw": ("withdrawn", "90"),
    "issue": ("licence issued", "32"),
    "ship": ("shipment recorded", "35"),
    "expire": ("licence expired", "90"),
    "suspend": ("licence suspended", "33"),
    "reinstate": ("licence reinstated", "32"),
    "revoke": ("licence revoked", "31"),
    "surrender": ("licence surrendered", "90"),
}
POLL_SECONDS = 0.5


def line(row: Any, *, colour: bool) -> str | None:
    """The console's line for an event, or None for one not worth a line (drafts, edits)."""
    shown = SHOWN.get(row["action"])
    if shown is None:
        return None
    what, code = shown
    if colour:
        what = f"\033[{code}m{what}\033[0m"
    at = row["at"].strftime("%Y-%m-%d %H:%M")
    return f"  {at}  {row['actor_sub']:<24} {row['name'] or '':<15} {row['org']:<14} {what}"


class Console:
    """The tail, in a thread of its own (the supervisor's main thread runs the API)."""

    def __init__(self, database_url: str, out: TextIO = sys.stdout) -> None:
        self._url = database_url
        self._out = out
        self._colour = out.isatty()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dev-console", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        asyncio.run(self._tail())

    async def _tail(self) -> None:
        conn = await connect(self._url)
        try:
            seq = await events.newest_seq(conn)
            while not self._stop.is_set():
                for row in await events.since(conn, seq):
                    seq = row["seq"]
                    if (text := line(row, colour=self._colour)) is not None:
                        print(text, file=self._out, flush=True)
                await asyncio.sleep(POLL_SECONDS)
        finally:
            await conn.close()
