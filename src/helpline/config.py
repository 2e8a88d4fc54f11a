"""Settings, read once from the environment (12-factor); nothing reads os.environ elsewhere."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


def _flag(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str
    host: str = "127.0.0.1"
    port: int = 8000
    redis_url: str | None = None
    #: Region used to read phone numbers typed without a country code.
    default_region: str = "RU"
    #: Cookies carry `Secure`; browsers accept that on http://localhost and 127.0.0.1 too.
    cookie_secure: bool = True
    session_hours: int = 12
    login_attempts: int = 5
    login_window_seconds: int = 900
    log_json: bool = True
    #: Origins (scheme://host[:port]) of the sites allowed to embed the chat widget.
    widget_origins: tuple[str, ...] = ()
    #: Where uploaded files are kept (local file storage).
    data_dir: str = "var"
    #: Outgoing mail: smtp://user:password@host:587?starttls=true (unset: no e-mail is sent).
    smtp_url: str | None = None
    #: Run outbound delivery inside `helpline serve` (the one-process default); turn off when
    #: separate `helpline worker` processes do it.
    worker_in_web: bool = True
    #: How long a claimed outbox item stays with its worker; after that (the worker died)
    #: another worker takes it. Longer than the slowest provider call, short enough to recover.
    delivery_lease_seconds: float = 60.0
    #: Web server processes. More than one needs Redis, so events reach every process's sockets.
    web_workers: int = 1
    mail_from: str = "Helpline <helpline@localhost>"
    #: Hosts flow lookups may ask (names, addresses, networks; comma-separated). Empty: any but
    #: link-local, multicast and unspecified addresses (see bot/lookup_hosts.py).
    lookup_hosts: str = ""
    #: Addresses of the reverse proxies in front of Helpline (comma-separated): their
    #: X-Forwarded-For names the client. Empty: the connection's address is the client's, as
    #: headers from anyone else could be forged ("*" trusts any sender: only for a port that
    #: nothing but the proxy reaches).
    trusted_proxies: str = ""
    #: New anonymous web chats one client address may open per hour (an office or a mobile
    #: carrier's NAT shows many customers behind one address; scripts opening chats are held back).
    new_chats_per_hour: int = 120

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)
        data_dir = Path(env.get("HELPLINE_DATA_DIR", "var"))
        default_db = f"sqlite+aiosqlite:///{data_dir / 'helpline.db'}"
        return cls(
            database_url=env.get("HELPLINE_DATABASE_URL") or default_db,
            host=env.get("HELPLINE_HOST", "127.0.0.1"),
            port=int(env.get("HELPLINE_PORT", "8000")),
            redis_url=env.get("HELPLINE_REDIS_URL") or None,
            default_region=env.get("HELPLINE_DEFAULT_REGION", "RU"),
            cookie_secure=_flag(env.get("HELPLINE_COOKIE_SECURE"), True),
            session_hours=int(env.get("HELPLINE_SESSION_HOURS", "12")),
            login_attempts=int(env.get("HELPLINE_LOGIN_ATTEMPTS", "5")),
            login_window_seconds=int(env.get("HELPLINE_LOGIN_WINDOW_SECONDS", "900")),
            log_json=_flag(env.get("HELPLINE_LOG_JSON"), True),
            widget_origins=tuple(
                o.strip().rstrip("/") for o in env.get("HELPLINE_WIDGET_ORIGINS", "").split(",") if o.strip()
            ),
            data_dir=str(data_dir),
            smtp_url=env.get("HELPLINE_SMTP_URL") or None,
            worker_in_web=_flag(env.get("HELPLINE_WORKER_IN_WEB"), True),
            delivery_lease_seconds=float(env.get("HELPLINE_DELIVERY_LEASE_SECONDS", "60")),
            mail_from=env.get("HELPLINE_MAIL_FROM", "Helpline <helpline@localhost>"),
            web_workers=max(1, int(env.get("HELPLINE_WEB_WORKERS", "1"))),
            lookup_hosts=env.get("HELPLINE_LOOKUP_HOSTS", ""),
            trusted_proxies=env.get("HELPLINE_TRUSTED_PROXIES", "").strip(),
            new_chats_per_hour=max(1, int(env.get("HELPLINE_NEW_CHATS_PER_HOUR", "120"))),
        )
