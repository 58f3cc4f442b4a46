"""Pydantic models of every request, response and error body of the signal API (they drive OpenAPI)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ERROR_RESPONSES", "ErrorBody", "HealthResponse", "MarketResponse", "ReadyResponse", "SessionResponse",
    "SignalMeta", "SignalRequest", "SignalResponse", "SymbolsResponse", "TierStatus", "errors",
]

SYMBOL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,31}$"
TIMEFRAME_PATTERN = r"^[1-9][0-9]{0,3}[smhdw]$"


class ErrorBody(BaseModel):
    """Every error: a stable machine code and a message naming what is at fault."""

    error: str = Field(description="machine-readable code, e.g. 'unknown_symbol', 'bad_signature'")
    message: str = Field(description="what is at fault, for humans")
    details: list[dict[str, Any]] | None = Field(default=None, description="per-field validation errors")
    request_id: str | None = Field(default=None, description="the request id (also in X-Request-ID)")


_ERROR_TEXT = {
    400: "Malformed request (body is not valid JSON)",
    401: "Missing, malformed, forged, stale, replayed or expired credentials",
    403: "Authenticated, but the key lacks the required scope",
    404: "No such resource",
    413: "Request body larger than the limit",
    422: "Request is well-formed but invalid (field values, unknown symbol or timeframe)",
    429: "Rate limit exceeded (see Retry-After)",
    503: "A dependency needed to decide is unavailable (key store, exchange)",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: each status code documented with :class:`ErrorBody`."""
    return {code: {"model": ErrorBody, "description": _ERROR_TEXT.get(code, "Error")} for code in codes}


#: The errors any route behind the gateway may answer.
ERROR_RESPONSES = errors(400, 413, 429)


class SignalRequest(BaseModel):
    """``POST /api/v1/trading/signal`` body."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"symbol": "SPX", "timeframe": "1d"}]})

    symbol: str = Field(pattern=SYMBOL_PATTERN, description="market symbol, see GET /api/v1/symbols",
                        examples=["SPX"])
    timeframe: str = Field(default="1d", pattern=TIMEFRAME_PATTERN, description="candle timeframe",
                           examples=["1d"])


class SignalMeta(BaseModel):
    """How the signal was produced."""

    request_id: str
    cached: bool = Field(description="true when the signal came from the signal cache")
    cache_key: str
    market_time: int = Field(description="replay clock's now (ms UTC) when the request was served")
    as_of_iso: str = Field(description="as_of as ISO-8601 UTC")


class SignalResponse(BaseModel):
    """A trading signal and its provenance."""

    symbol: str
    timeframe: str
    action: Literal["BUY", "SELL", "HOLD"]
    confidence: float = Field(ge=0.0, le=1.0)
    indicators: dict[str, float]
    as_of: int = Field(description="close time (ms UTC) of the newest candle used")
    reasons: list[str]
    meta: SignalMeta


class SessionResponse(BaseModel):
    """A session token (shown once) and its lifetime on the service clock (epoch seconds)."""

    token: str
    key_id: str
    scopes: list[str]
    expires_at: float
    refresh_until: float


class LogoutResponse(BaseModel):
    """Whether a session was ended."""

    ended: bool


class HealthResponse(BaseModel):
    """Liveness."""

    status: Literal["ok"] = "ok"


class TierStatus(BaseModel):
    """One dependency's readiness."""

    name: str
    status: Literal["ok", "degraded", "unavailable"]
    detail: str | None = None
    pending_writes: int = 0


class ReadyResponse(BaseModel):
    """Readiness: ``ready``, ``degraded`` (answers stay correct, a cache tier is down) or ``unavailable``."""

    status: Literal["ready", "degraded", "unavailable"]
    dependencies: list[TierStatus]


class MarketResponse(BaseModel):
    """One replayed market."""

    symbol: str
    timeframe: str
    first: int = Field(description="open time (ms UTC) of the first recorded candle")
    last_close: int = Field(description="close time (ms UTC) of the last recorded candle")
    last_closed: int | None = Field(description="open time of the newest candle visible now (market clock)")
    source: str


class SymbolsResponse(BaseModel):
    """Markets the service answers for, and the market clock's now."""

    market_time: int
    symbols: list[MarketResponse]
