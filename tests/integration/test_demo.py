"""`helpline demo` loads the demo data on a fresh SQLite file, prints the logins, and they work."""

from __future__ import annotations

import os
import re
from pathlib import Path

import httpx

from tests.integration.live_server import serving


def test_demo_prints_working_logins_and_serves(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "HELPLINE_DATABASE_URL"}
    # An 80-column terminal: the logins must still print whole.
    env.update(HELPLINE_COOKIE_SECURE="false", COLUMNS="80")
    log = tmp_path / "demo.log"
    # Loading runs the bot's conversations through the real bot, whose classifier trains first.
    with serving(["demo", "--data-dir", str(tmp_path / "demo")], env, log, ready_within=240):
        pass
    printed = log.read_text()
    logins = re.findall(r"│\s*(agent|supervisor|admin)\s*│[^│]*│\s*(\S+@\S+)\s*│\s*(\S+)\s*│", printed)
    assert {role for role, _, _ in logins} == {"agent", "supervisor", "admin"}, printed
    db = tmp_path / "demo" / "helpline.db"
    assert db.exists()
    # Serve the same data again and sign in with every printed login.
    env["HELPLINE_DATABASE_URL"] = f"sqlite+aiosqlite:///{db}"
    with serving(["serve"], env, tmp_path / "serve.log") as base:
        for role, email, password in logins:
            with httpx.Client(base_url=base) as client:
                r = client.post("/api/v1/auth/login", json={"email": email, "password": password})
                assert r.status_code == 200, (email, r.text)
                assert r.json()["role"] == role
                conversations = client.get("/api/v1/conversations").json()
                assert conversations, f"{role} {email} sees no conversation"
                if role != "agent":
                    assert {"ru", "en", "ar"} <= {c["language"] for c in conversations}
        # The history's replies reached their customers back then: the worker (running all
        # along, through the sign-ins above) has nothing to send, so none turns "failed".
        with httpx.Client(base_url=base) as client:
            admin_email, admin_password = next((e, p) for r, e, p in logins if r == "admin")
            client.post("/api/v1/auth/login", json={"email": admin_email, "password": admin_password})
            statuses = {
                m["delivery_status"]
                for c in client.get("/api/v1/conversations").json()
                for m in client.get(f"/api/v1/conversations/{c['id']}").json()["messages"]
                if m["direction"] == "outbound" and not m["is_internal"]
            }
            assert statuses, "the demo has agent replies"
            assert statuses <= {"sent", "delivered", "read"}, statuses
            # The bot met customers too: the report shows every way a session ends.
            report = client.get("/api/v1/reports/bot-sessions")  # the last 7 days
            assert report.status_code == 200, report.text
            outcomes = report.json()["outcomes"]
            ends = ("answered_confirmed", "handed_off", "ticket_created", "abandoned")
            assert all(outcomes[end] > 0 for end in ends), outcomes
            assert {c["channel"] for c in report.json()["channels"]} >= {"webchat", "telegram", "whatsapp"}
