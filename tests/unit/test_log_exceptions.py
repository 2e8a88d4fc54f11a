"""A logged exception shows its traceback, without the secrets its message quotes."""

from __future__ import annotations

import json

import httpx
import pytest

from helpline.logs import REDACTED, configure_logging, get_logger

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
