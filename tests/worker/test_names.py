"""Stream names with the default configuration match the platform's default senders."""

from __future__ import annotations

from conversation_service.config import Settings
from conversation_service.worker.streams import StreamNames


def test_default_environment_is_the_platforms_development() -> None:
    # The platform's ENVIRONMENT defaults to "development": with both defaults, the senders'
    # entries must land in the stream this worker reads.
    for settings in (Settings(), Settings.from_env({})):
        names = StreamNames.from_settings(settings)
        assert settings.nooble_env == "development"
        assert names.streams == ("nooble4:development:conversation:streams:main",)
        assert names.dead == "nooble4:development:conversation:streams:dead"
        assert names.group == "conversation_service-group"
        assert names.consumer.startswith("conversation_service-worker-")
