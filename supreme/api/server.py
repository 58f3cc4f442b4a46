"""Serving the API: uvicorn over :class:`~supreme.api.services.Services` built from the settings.

WebSocket clients are closed with 1001 by :class:`~supreme.api.streaming.StreamServer` before
uvicorn's own shutdown (which would send 1012), and the event log, when kept, is written in the
app's shutdown: uvicorn re-raises SIGTERM after shutting down, so later is too late.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from supreme.config import load_settings
from supreme.events import EventLog

__all__ = ["serve"]


def serve(host: str = "127.0.0.1", port: int = 8000, *, log_level: str = "info",
          event_log_path: str | None = None, echo: Callable[[str], None] = print,
          drain_seconds: int = 25, gc_tuning: bool = True, **options: Any) -> None:
    """Serve until interrupted, then close the services; ``options`` go to ``Services.from_settings``.

    On SIGTERM/SIGINT the server drains: it stops accepting, closes stream clients with 1001, lets
    requests in flight finish for up to ``drain_seconds`` (default 25, inside Kubernetes' 30-second
    grace period), then flushes and closes the cache tiers.

    The event log is kept only with ``event_log_path`` (a long-running server must not grow an
    unbounded log unless asked to) and written there as Parquet at shutdown; ``echo`` says so.
    ``gc_tuning``: freeze the start-up heap and collect in larger batches (:mod:`supreme.api.gc_tuning`).
    """
    import uvicorn

    from supreme.api.app import create_app
    from supreme.api.services import Services
    from supreme.api.streaming import StreamServer, uvicorn_ws_options

    settings = load_settings()
    event_log = EventLog(world="real", enabled=bool(event_log_path))
    services = Services.from_settings(settings, event_log=event_log, **options)

    def save_events() -> None:
        if event_log_path:
            frame = event_log.to_frame()
            frame.to_parquet(event_log_path)
            echo(f"wrote {len(frame)} event rows to {event_log_path}")

    app = create_app(services, close_on_shutdown=True, on_shutdown=save_events)
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, lifespan="on",
                            timeout_graceful_shutdown=drain_seconds, **uvicorn_ws_options())
    if gc_tuning:
        from supreme.api.gc_tuning import tune_for_server

        tune_for_server()  # after the services and the app exist: the start-up heap is frozen
    StreamServer(config, app.state.stream_gateway).run()
