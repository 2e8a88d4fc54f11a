"""Two first uploads of one flow at once (two admins, or a double submit): both are stored."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from helpline.bootstrap import Container
from helpline.services.flows import do_upload_flow
from helpline.storage.models import Flow, FlowVersion

SOURCE = """\
name: Callback
start: main
nodes:
  main:
    prompt: {ru: "Соединяю", en: "Connecting", ar: "جارٍ التحويل"}
    options:
      - digit: 0
        label: {ru: "Оператор", en: "Operator", ar: "موظف"}
        handoff: {reason: asked}
"""


async def test_two_first_uploads_at_once_make_versions_1_and_2(on_postgres: Container) -> None:
    first = on_postgres.uow()
    async with first:
        one = await do_upload_flow(first, SOURCE, None)

        async def second_upload() -> int:
            async with on_postgres.uow() as uow:
                version = await do_upload_flow(uow, SOURCE, None)
                await uow.commit()
                return version.version

        second = asyncio.create_task(second_upload())
        await asyncio.sleep(0.3)
        assert not second.done()  # it waits on the new flow's name…
        await first.commit()
    async with asyncio.timeout(10):
        assert await second == 2  # …then takes the flow the first created
    assert one.version == 1
    async with on_postgres.uow() as uow:
        assert await uow.session.scalar(select(func.count()).select_from(Flow)) == 1
        assert await uow.session.scalar(select(func.count()).select_from(FlowVersion)) == 2
