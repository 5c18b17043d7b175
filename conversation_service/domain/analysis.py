"""Message analysis (sentiment, intent, entities): what an NLP step says about a message.

Written with the message (`addMessage`, any door) or later by `annotateMessage`; stored in
columns of its own so the intent and sentiment filters are index lookups.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from conversation_service.domain import validation as v
from conversation_service.domain.errors import ValidationFailed

MAX_INTENT_CHARS = 128
MAX_ENTITIES_BYTES = 16 * 1024


@dataclass(slots=True)
class MessageAnalysis:
    sentiment: float | None = None
    intent: str | None = None
    entities: Any = None

    @classmethod
    def of(cls, src: Any) -> MessageAnalysis | None:
        """From any door's parsed input (an object with the three fields, or a dict)."""
        if src is None:
            return None
        if isinstance(src, dict):
            return cls(src.get("sentiment"), src.get("intent"), src.get("entities"))
        return cls(src.sentiment, src.intent, src.entities)

    @property
    def empty(self) -> bool:
        return self.sentiment is None and self.intent is None and self.entities is None


def sentiment(value: Any, field: str) -> float | None:
    """A finite number in -1..1 (a JSON integer such as 1 is read as 1.0)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationFailed(f"{field} must be a number between -1 and 1", field=field)
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number) or not -1.0 <= number <= 1.0:
        raise ValidationFailed(f"{field} must be a finite number between -1 and 1", field=field)
    return number


def intent(value: Any, field: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValidationFailed(f"{field} must be a string", field=field)
    if value.strip() == "":
        raise ValidationFailed(f"{field} must not be blank", field=field)
    if len(value) > MAX_INTENT_CHARS:
        raise ValidationFailed(f"{field} must be 1-{MAX_INTENT_CHARS} characters", field=field)
    return v.identifier(value, field)


def validate_analysis(a: MessageAnalysis | None, field: str = "analysis") -> MessageAnalysis | None:
    """The analysis as stored, or None when nothing was given (all three fields null)."""
    if a is None:
        return None
    a.sentiment = sentiment(a.sentiment, f"{field}.sentiment")
    a.intent = intent(a.intent, f"{field}.intent")
    if a.entities is not None:
        if not isinstance(a.entities, dict | list):
            raise ValidationFailed(
                f"{field}.entities must be a JSON object or list", field=f"{field}.entities"
            )
        v.json_document(a.entities, f"{field}.entities", max_bytes=MAX_ENTITIES_BYTES)
    return None if a.empty else a


@dataclass(frozen=True, slots=True)
class AnalysisFilter:
    """Messages whose intent is `intent` and whose sentiment lies in [min, max] (each optional;
    a sentiment bound leaves out messages without a sentiment)."""

    intent: str | None = None
    min_sentiment: float | None = None
    max_sentiment: float | None = None

    @property
    def empty(self) -> bool:
        return self.intent is None and self.min_sentiment is None and self.max_sentiment is None

    def validated(self) -> AnalysisFilter:
        low = sentiment(self.min_sentiment, "minSentiment")
        high = sentiment(self.max_sentiment, "maxSentiment")
        if low is not None and high is not None and low > high:
            raise ValidationFailed(
                "minSentiment must not exceed maxSentiment", field="minSentiment"
            )
        return AnalysisFilter(intent(self.intent, "intent"), low, high)


def analysis_columns(a: MessageAnalysis | None, at: datetime | None) -> dict[str, Any]:
    """The stored columns of an analysis (all null without one)."""
    if a is None:
        return {"sentiment": None, "intent": None, "entities": None, "analyzed_at": None}
    return {"sentiment": a.sentiment, "intent": a.intent, "entities": a.entities, "analyzed_at": at}
