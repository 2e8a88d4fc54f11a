"""The `helpline` command: serve, migrate, demo, create-user, create-token."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
import uvicorn
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

from helpline.bootstrap import build_container
from helpline.config import Settings
from helpline.domain.errors import DomainError
from helpline.domain.users import Role
from helpline.logs import configure_logging, server_log_config
from helpline.storage import migrate as migrations

app = typer.Typer(help="Helpline: self-hosted omnichannel contact center.", no_args_is_help=True)
console = Console()


def _settings() -> Settings:
    return Settings.from_env()


def _serve(settings: Settings) -> None:
    from helpline.web.app import create_app

    configure_logging(json=settings.log_json)
    asyncio.run(_ensure_defaults(settings))
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": "info",
        "access_log": False,
        "log_config": server_log_config(),
        # The client's address (limits, logs) comes from X-Forwarded-For only when the
        # connection is from a proxy the operator named: anyone else could forge the header.
        "proxy_headers": bool(settings.trusted_proxies),
        "forwarded_allow_ips": settings.trusted_proxies or None,
        # Open websockets (consoles, widgets) must not hold a restart hostage.
        "timeout_graceful_shutdown": 5,
    }
    if settings.web_workers == 1:
        uvicorn.run(create_app(build_container(settings), server_process=True), **options)
        return
    if settings.redis_url is None:
        console.print(
            "[red]HELPLINE_WEB_WORKERS > 1 needs HELPLINE_REDIS_URL: events must reach every process.[/red]"
        )
        raise typer.Exit(2)
    # Each process builds its own container from the environment (nothing is shared but the
    # database and Redis); the outbox is safe to work from all of them (leased claims).
    uvicorn.run(
        "helpline.web.app:app_from_env",
        factory=True,
        workers=settings.web_workers,
        # A busy process must not be mistaken for a hung one and restarted mid-request.
        timeout_worker_healthcheck=30,
        **options,
    )


async def _ensure_defaults(settings: Settings) -> None:
    """A fresh install answers on the web chat at once: the default `Website` account exists."""
    from helpline.domain.conversations import Channel
    from helpline.services.channel_accounts import do_ensure_channel_account

    container = build_container(settings)
    try:
        async with container.uow() as uow:
            await do_ensure_channel_account(uow, Channel.WEBCHAT, "Website")
            await uow.commit()
    finally:
        await container.close()


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema to the latest version."""
    settings = _settings()
    migrations.upgrade(settings.database_url)
    console.print("[green]database is up to date[/green]")


@app.command()
def serve(
    migrate_first: Annotated[
        bool, typer.Option("--migrate/--no-migrate", help="apply migrations first")
    ] = True,
) -> None:
    """Run the web server (REST API, console, websockets) on HELPLINE_HOST:HELPLINE_PORT."""
    settings = _settings()
    if migrate_first:
        migrations.upgrade(settings.database_url)
    _serve(settings)


@app.command()
def worker() -> None:
    """Deliver outbound messages (retries, backoff) until stopped; run any number of these."""
    settings = _settings()
    configure_logging(json=settings.log_json)

    async def run() -> None:
        container = build_container(settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            await container.delivery_worker().run(stop)
        finally:
            await container.close()

    asyncio.run(run())


@app.command()
def demo(
    data_dir: Annotated[Path, typer.Option(help="where the demo's SQLite file goes")] = Path("var/demo"),
    serve_after: Annotated[bool, typer.Option("--serve/--no-serve", help="serve after loading")] = True,
) -> None:
    """Start from a fresh SQLite file, load demo data in ru/en/ar, print the logins and serve."""
    from helpline.demo_data import DemoLogin, seed_demo

    db = data_dir / "helpline.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    os.environ.setdefault("HELPLINE_DATABASE_URL", f"sqlite+aiosqlite:///{db}")
    settings = _settings()
    migrations.upgrade(settings.database_url)

    async def load() -> list[DemoLogin]:
        container = build_container(settings)
        try:
            return list(await seed_demo(container.uow, container.bot_brain))
        finally:
            await container.close()

    logins = asyncio.run(load())
    table = Table(title=f"Helpline demo on http://{settings.host}:{settings.port}  (sign in at /login)")
    for column in ("role", "name", "e-mail", "password", "languages"):
        table.add_column(column)
    for login in logins:
        table.add_row(login.role, login.name, login.email, login.password, ", ".join(login.languages))
    print_whole(table)  # a password cut to "1NbMf…" signs nobody in
    if serve_after:
        _serve(settings)


def print_whole(table: Table) -> None:
    """Print `table` at its natural width, however narrow the terminal or log: rich would cut
    its cells to fit ("irina.volkova@…"), and what is printed is meant to be copied."""
    natural = Measurement.get(console, console.options.update_width(1_000), table).maximum
    Console(width=max(console.width, natural)).print(table)


def _read_password(password_stdin: bool) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\n")
    password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


@app.command("create-user")
def create_user(
    email: str,
    name: Annotated[str, typer.Option(help="display name")],
    role: Annotated[Role, typer.Option(help="agent, supervisor or admin")] = Role.AGENT,
    password_stdin: Annotated[bool, typer.Option(help="read the password from standard input")] = False,
) -> None:
    """Create a console user. The password is prompted for (or read from stdin), never taken as an argument,
    so it does not end up in shell history or the process list."""
    from helpline.services.users import UserSpec, do_create_user

    settings = _settings()
    password = _read_password(password_stdin)

    async def run() -> int:
        container = build_container(settings)
        try:
            async with container.uow() as uow:
                user = await do_create_user(
                    uow, UserSpec(email=email, name=name, password=password, role=role)
                )
                await uow.commit()
                return user.id
        finally:
            await container.close()

    try:
        user_id = asyncio.run(run())
    except DomainError as exc:
        console.print(f"[red]{exc.field or 'error'}: {exc.reason}[/red]")
        raise typer.Exit(2) from exc
    console.print(f"created user {user_id} ({role.value})")


@app.command("create-token")
def create_token(
    email: str, name: Annotated[str, typer.Option(help="what the token is for")] = "cli"
) -> None:
    """Create an API token for a user and print it once (only its hash is stored)."""
    from sqlalchemy import select

    from helpline.services.auth import do_create_api_token
    from helpline.storage.models import User

    settings = _settings()

    async def run() -> str:
        container = build_container(settings)
        try:
            async with container.uow() as uow:
                user_id = await uow.session.scalar(select(User.id).where(User.email == email.strip().lower()))
                if user_id is None:
                    raise DomainError("no such user", field="email")
                created = await do_create_api_token(uow, user_id, name)
                await uow.commit()
                return created.token
        finally:
            await container.close()

    try:
        print(asyncio.run(run()))
    except DomainError as exc:
        console.print(f"[red]{exc.field or 'error'}: {exc.reason}[/red]")
        raise typer.Exit(2) from exc


@app.command("bot-eval")
def bot_eval(
    train: Annotated[Path, typer.Option(help="JSONL: rows of split 'train' train, rows of split 'dev' tune")],
    test: Annotated[Path, typer.Option(help="JSONL: every row is scored, whatever its split")],
    lang: Annotated[
        str | None, typer.Option(help="score only rows of this language (ru, en, ar) where rows carry 'lang'")
    ] = None,
    oos_label: Annotated[str, typer.Option(help="intent of out-of-scope rows ('' if none)")] = "oos",
    articles: Annotated[
        str,
        typer.Option(
            help="FAQ articles JSONL whose answers also train ('auto': faq_articles.jsonl beside --train)"
        ),
    ] = "auto",
    train_lang_only: Annotated[
        bool, typer.Option(help="train on --lang rows only (default: every language, as the product does)")
    ] = False,
    engine: Annotated[str, typer.Option(help="auto, use+tfidf or tfidf")] = "auto",
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
) -> None:
    """Train the FAQ bot's intent classifier and score it: accuracy, macro-F1, oos recall, latency.

    Latency is per message, one `predict` call each, with BLAS/OpenMP pinned to one thread."""
    import json

    from helpline.bot.classifier import ClassifierSettings
    from helpline.bot.evaluation import bot_eval as run_bot_eval
    from helpline.bot.evaluation import find_articles

    if lang is not None and lang not in ("ru", "en", "ar"):
        console.print("[red]--lang is one of ru, en, ar[/red]")
        raise typer.Exit(2)
    result = run_bot_eval(
        train,
        test,
        lang=lang,
        oos_label=oos_label or None,
        articles_path=find_articles(train, articles, oos_label or None),
        train_lang_only=train_lang_only,
        settings=ClassifierSettings(engine=engine),
    )
    if as_json:
        print(json.dumps(result, ensure_ascii=False))
        return
    table = Table(title=f"bot-eval: {test.name}" + (f" ({lang})" if lang else ""))
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in result.items():
        table.add_row(key, "-" if value is None else str(value))
    console.print(table)


if __name__ == "__main__":
    app()
