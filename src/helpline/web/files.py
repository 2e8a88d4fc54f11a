"""Serving stored attachments safely: the sniffed type, no sniffing by the browser, sandboxed."""

from __future__ import annotations

from fastapi.responses import FileResponse, Response

from helpline.domain.attachments import IMAGE_TYPES
from helpline.storage.files import FileStore
from helpline.storage.models import Attachment

SAFE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    # Even if a file were crafted to look like HTML, it could run nothing here.
    "Content-Security-Policy": "sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline'",
    "Cache-Control": "private, max-age=3600",
}


async def attachment_response(files: FileStore, attachment: Attachment) -> Response:
    disposition = "inline" if attachment.content_type in IMAGE_TYPES else "attachment"
    path = files.local_path(attachment.storage_key)
    if path is not None:
        return FileResponse(
            path,
            media_type=attachment.content_type,
            filename=attachment.filename,
            content_disposition_type=disposition,
            headers=SAFE_HEADERS,
        )
    data = await files.get(attachment.storage_key)
    return Response(
        data,
        media_type=attachment.content_type,
        headers={
            **SAFE_HEADERS,
            "Content-Disposition": f"{disposition}; filename*=UTF-8''{attachment.filename}",
        },
    )
