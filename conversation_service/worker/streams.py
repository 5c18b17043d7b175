"""Stream, group and consumer names of the nooble4 protocol for this service."""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass

from conversation_service.config import Settings

PREFIX = "nooble4"
SERVICE_NAME = "conversation_service"
TARGET = "conversation"


def main_stream(env: str, target: str = TARGET) -> str:
    return f"{PREFIX}:{env}:{target}:streams:main"


def dead_stream(env: str) -> str:
    return f"{PREFIX}:{env}:{TARGET}:streams:dead"


def group_name() -> str:
    return f"{SERVICE_NAME}-group"


def default_consumer_name() -> str:
    suffix = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    return f"{SERVICE_NAME}-worker-{suffix}"


@dataclass(frozen=True, slots=True)
class StreamNames:
    streams: tuple[str, ...]
    dead: str
    group: str
    consumer: str
    released: str  # pub/sub channel: "an entry of this ordering key was acknowledged"

    @classmethod
    def from_settings(cls, settings: Settings) -> StreamNames:
        env = settings.nooble_env
        streams = settings.worker_streams or (main_stream(env),)
        if settings.worker_listen_service_stream and main_stream(env, SERVICE_NAME) not in streams:
            streams = (*streams, main_stream(env, SERVICE_NAME))
        return cls(
            streams=tuple(streams),
            dead=dead_stream(env),
            group=group_name(),
            consumer=settings.worker_consumer_name or default_consumer_name(),
            released=f"{PREFIX}:{env}:{SERVICE_NAME}:order:released",
        )
