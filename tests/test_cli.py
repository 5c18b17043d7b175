"""The CLI as a user runs it: `serve` in an empty directory answers on the embedded SQLite default."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "BROADCAST_URL", "AUTH_MODE"}
    }
    env["LOG_LEVEL"] = "WARNING"
    return env


def wait_until_healthy(proc: subprocess.Popen[bytes], url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited early with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)  # polling interval, not synchronisation: the loop waits on the condition
    raise AssertionError(f"{url} did not answer within {timeout}s")


@pytest.mark.slow
def test_serve_with_embedded_sqlite_default(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "conversation_service", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(proc, f"{base}/healthz")
        headers = {"X-Tenant-ID": "cli-test"}
        created = httpx.post(
            f"{base}/graphql",
            json={"query": 'mutation { createConversation(input: {title: "hi"}) { id title } }'},
            headers=headers,
            timeout=10,
        ).json()
        assert created["data"]["createConversation"]["title"] == "hi"
        listed = httpx.get(
            f"{base}/graphql",
            params={"query": "{ conversations(first: 5) { totalCount nodes { title } } }"},
            headers=headers,
            timeout=10,
        ).json()
        assert listed == {"data": {"conversations": {"totalCount": 1, "nodes": [{"title": "hi"}]}}}
        assert httpx.get(f"{base}/readyz", timeout=5).status_code == 200
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert (tmp_path / "conversations.db").exists()
    # the embedded default runs without authentication, and says so loudly at start-up
    assert proc.stdout is not None
    assert b"AUTH_MODE=none: NO AUTHENTICATION" in proc.stdout.read()


def test_migrate_command_creates_the_tables(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    env = clean_env() | {"DATABASE_URL": f"sqlite+aiosqlite:///{db}"}
    out = subprocess.run(
        [sys.executable, "-m", "conversation_service", "migrate"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    with sqlite3.connect(db) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"conversations", "messages", "conversation_state", "alembic_version"} <= tables


def test_unknown_command_fails() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "conversation_service", "nope"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode != 0


def test_version_and_help_show_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    from conversation_service import __version__
    from conversation_service.cli import main

    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"conversation-service {__version__}"
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    help_text = capsys.readouterr().out
    assert "env PORT, default 8000" in help_text
    assert "env HOST, default 127.0.0.1" in help_text
    assert "--ssl-certfile" in help_text


def test_config_prints_every_setting_with_secrets_masked(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from conversation_service.cli import main
    from conversation_service.config import Settings

    monkeypatch.setenv("DATABASE_URL", "postgresql://app:hunter2@db.internal/conv")
    monkeypatch.setenv("REDIS_URL", "redis://:redispw@cache:6379/0")
    monkeypatch.setenv("METRICS_TOKEN", "scrape-secret")
    monkeypatch.setenv("PORT", "9001")
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    lines = dict(line.split("=", 1) for line in out.splitlines())
    assert set(lines) == {f.alias for f in Settings.model_fields.values()}
    assert lines["PORT"] == "9001"
    assert lines["DATABASE_URL"] == "postgresql://app:***@db.internal/conv"
    assert lines["REDIS_URL"] == "redis://:***@cache:6379/0"
    assert lines["METRICS_TOKEN"] == "***"
    for secret in ("hunter2", "redispw", "scrape-secret"):
        assert secret not in out
