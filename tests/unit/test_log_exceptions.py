"""A logged exception shows its traceback, without the secrets its message quotes."""

from __future__ import annotations

import json

import httpx
import pytest

from helpline.logs import REDACTED, configure_logging, get_logger, scrub_text

TOKEN = "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11"


def test_a_logged_exception_carries_its_traceback_with_the_secrets_scrubbed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging(json=True)
    url = f"https://api.telegram.org/bot{TOKEN}/sendMessage?access_token=vk1.a.secret&v=5"
    try:
        raise httpx.ConnectError(f"cannot reach {url}; sent Authorization: Bearer abc.DEF-123")
    except httpx.ConnectError:
        get_logger("test").exception("send_failed")
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["event"] == "send_failed"
    assert "Traceback" in line["exception"]
    assert "ConnectError" in line["exception"]
    assert f"/bot{REDACTED}/sendMessage" in line["exception"]
    for secret in (TOKEN, "vk1.a.secret", "abc.DEF-123"):
        assert secret not in line["exception"]
    assert "v=5" in line["exception"]  # the rest of the text stays readable


def test_an_exception_passed_as_exc_info_is_rendered_too(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(json=True)
    get_logger("test").error("job_failed", exc_info=RuntimeError("the database went away"))
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert "RuntimeError: the database went away" in line["exception"]


def test_secrets_in_headers_json_and_connection_strings_are_scrubbed() -> None:
    text = (
        "{'X-Viber-Auth-Token': '4453b6ac-e02c'} {\"access_token\": \"EAAB123\"} password='hunter2' "
        "postgresql://helpline:s3cr3t@127.0.0.1/db redis://:pw123@localhost:6379/0"
    )
    scrubbed = scrub_text(text)
    for secret in ("4453b6ac-e02c", "EAAB123", "hunter2", "s3cr3t", "pw123"):
        assert secret not in scrubbed
    assert "postgresql://helpline:" in scrubbed  # who and where stay readable
    assert "X-Viber-Auth-Token" in scrubbed
