"""A `worker` process serves Prometheus metrics (WORKER_METRICS_PORT): actions by type and
outcome, their latency, entries in flight and held, and per stream the group's pending and lag."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from conversation_service.bootstrap import Container
from tests.realtime.conftest import free_port
from tests.worker.conftest import Wire

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("container", ["postgresql"], indirect=True)]


async def test_worker_process_metrics(
    container: Container, wire: Wire, redis_url: str, env: str
) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "conversation_service", "worker"],
        env={
            **os.environ,
            "DATABASE_URL": container.settings.database_url,
            "AUTH_MODE": "none",
            "REDIS_URL": redis_url,
            "NOOBLE_ENV": env,
            "WORKER_METRICS_PORT": str(port),
            "LOG_LEVEL": "WARNING",
        },
    )
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        async with httpx.AsyncClient(timeout=5) as http, asyncio.timeout(60):
            while True:  # the exporter starts once the worker consumes
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get(url)).status_code == 200:
                        break
                await asyncio.sleep(0.2)
        reply = await wire.call("conversation.create", {"title": "metrics"})
        assert reply["success"] is True
        async with httpx.AsyncClient(timeout=5) as http, asyncio.timeout(30):
            while True:  # the stream figures refresh every few seconds
                with contextlib.suppress(httpx.TransportError):
                    text = (await http.get(url)).text
                    if "conversation_service_worker_stream_pending{" in text and (
                        'outcome="ok"' in text
                    ):
                        break
                await asyncio.sleep(0.2)
        families = {f.name: f for f in text_string_to_metric_families(text)}
        actions = {
            (s.labels["action_type"], s.labels["outcome"]): s.value
            for s in families["conversation_service_worker_actions"].samples
            if s.name.endswith("_total")
        }
        assert actions[("conversation.create", "ok")] == 1
        assert "conversation_service_worker_action_duration_seconds" in families
        assert "conversation_service_worker_in_flight" in families
        lag = {
            s.labels["stream"]: s.value
            for s in families["conversation_service_worker_stream_lag"].samples
        }
        assert lag[wire.stream] == 0
        promtool = shutil.which("promtool")
        if promtool is not None:
            checked = subprocess.run(
                [promtool, "check", "metrics"], input=text.encode(), capture_output=True
            )
            assert checked.stdout.decode() + checked.stderr.decode() == ""
    finally:
        proc.terminate()
        proc.wait(20)
