"""Files from the web chat: checked by content and size on the server, visible only to who may see them."""

from __future__ import annotations

import shutil
import struct
import zlib
from pathlib import Path

from starlette.testclient import TestClient

from helpline.bootstrap import build_container
from helpline.config import Settings
from helpline.domain.attachments import MAX_ATTACHMENT_BYTES
from helpline.domain.conversations import Channel
from helpline.domain.users import Role
from helpline.services.auth import do_create_api_token
from helpline.services.channel_accounts import do_ensure_channel_account
from helpline.services.users import UserSpec, do_create_user
from helpline.web.app import create_app


def png(width: int = 2, height: int = 2) -> bytes:
    """A real, decodable PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"


def test_uploads_are_checked_stored_and_scoped(tmp_path: Path, sqlite_template: Path) -> None:
    shutil.copy(sqlite_template, tmp_path / "h.db")
    container = build_container(
        Settings(
            database_url=f"sqlite+aiosqlite:///{tmp_path}/h.db",
            cookie_secure=False,
            data_dir=str(tmp_path / "data"),
        )
    )
    with TestClient(create_app(container)) as tc:

        async def seed() -> str:
            async with container.uow() as uow:
                await do_ensure_channel_account(uow, Channel.WEBCHAT, "Website")
                agent = await do_create_user(
                    uow, UserSpec(email="a@t.test", name="A", password="long enough pw", role=Role.AGENT)
                )
                token = (await do_create_api_token(uow, agent.id, "t")).token
                await uow.commit()
                return token

        staff = {"Authorization": f"Bearer {tc.portal.call(seed)}"}
        visitor = {"X-Visitor-Token": tc.post("/widget/v1/session", json={}).json()["token"]}
        files_dir = tmp_path / "data" / "files"

        # A disguised executable, an empty file and an oversized one are refused and nothing is stored.
        for name, data in [
            ("invoice.pdf", b"MZ\x90\x00 this is a windows program"),
            ("x.png", b""),
            ("big.png", png() + b"\x00" * MAX_ATTACHMENT_BYTES),
        ]:
            refused = tc.post(
                "/widget/v1/attachments",
                headers=visitor,
                data={"client_id": name},
                files={"file": (name, data, "image/png")},
            )
            assert refused.status_code == 422, (name, refused.text)
            assert refused.json()["detail"][0]["loc"] == ["body", "file"]
        assert not files_dir.exists() or not any(files_dir.rglob("*.*"))
        assert tc.get("/widget/v1/messages", headers=visitor).json() == []

        image = tc.post(
            "/widget/v1/attachments",
            headers=visitor,
            data={"client_id": "f1"},
            files={"file": ("../../etc/passwd photo.jpeg", png(), "application/octet-stream")},
        )
        assert image.status_code == 201, image.text
        sent = image.json()["attachments"][0]
        assert sent["content_type"] == "image/png"
        assert sent["filename"] == "passwd photo.png"
        again = tc.post(
            "/widget/v1/attachments",
            headers=visitor,
            data={"client_id": "f1"},
            files={"file": ("photo.png", png(), "image/png")},
        )
        assert again.json()["id"] == image.json()["id"]  # a resend is the same message
        doc = tc.post(
            "/widget/v1/attachments",
            headers=visitor,
            data={"client_id": "f2"},
            files={"file": ("ticket.pdf", PDF, "application/pdf")},
        )
        assert doc.json()["attachments"][0]["content_type"] == "application/pdf"

        own = tc.get(f"/widget/v1/attachments/{sent['id']}", headers=visitor)
        assert own.status_code == 200
        assert own.content == png()
        assert own.headers["content-type"] == "image/png"
        assert own.headers["x-content-type-options"] == "nosniff"
        assert own.headers["content-disposition"].startswith("inline")
        pdf = tc.get(f"/widget/v1/attachments/{doc.json()['attachments'][0]['id']}", headers=visitor)
        assert pdf.headers["content-disposition"].startswith("attachment")
        assert "sandbox" in pdf.headers["content-security-policy"]

        stranger = {"X-Visitor-Token": tc.post("/widget/v1/session", json={}).json()["token"]}
        assert tc.get(f"/widget/v1/attachments/{sent['id']}", headers=stranger).status_code == 404
        assert tc.get(f"/api/v1/attachments/{sent['id']}", headers=staff).content == png()
        conversation = tc.get("/api/v1/conversations", headers=staff).json()[0]
        detail = tc.get(f"/api/v1/conversations/{conversation['id']}", headers=staff).json()
        assert [a["filename"] for m in detail["messages"] for a in m["attachments"]] == [
            "passwd photo.png",
            "ticket.pdf",
        ]
