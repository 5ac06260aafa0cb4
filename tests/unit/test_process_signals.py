"""A stack dump requested with SIGUSR1 shows where tasks wait, never their variables."""

from __future__ import annotations

import asyncio

from gateway.shell.process_signals import task_stacks


def test_task_dump_has_no_locals() -> None:
    async def holds_a_template() -> None:
        template = b"\x01\x02raw-template-bytes"  # a local the dump must not show
        await asyncio.sleep(10)
        del template

    async def main() -> str:
        task = asyncio.create_task(holds_a_template(), name="capture-agent")
        await asyncio.sleep(0)
        dump = task_stacks()
        task.cancel()
        return dump

    dump = asyncio.run(main())
    assert "capture-agent" in dump and "holds_a_template" in dump
    assert "raw-template-bytes" not in dump
