"""Settings from the environment, with embedded defaults that need no server.

============================  =====================================================
variable                      meaning (default)
============================  =====================================================
``SUPREME_REDIS_URL``         L2 cache, nonce and session store: ``redis://`` or
                              ``rediss://`` URL (unset: fakeredis in process)
``SUPREME_DATABASE_URL``      L3 cache and API-key store: ``postgresql://…`` or
                              ``sqlite:///path`` (unset: SQLite in the user data dir)
``SUPREME_SHARED_DATA``       folder of the shared recordings (``../shared/data``)
``SUPREME_SHARED_TRACES``     folder of the shared cache traces (``../shared/traces``)
``SUPREME_DATA_DIR``          where the project writes its own files (user data dir)
``SUPREME_MASTER_KEY``        base64 32-byte key that encrypts stored HMAC secrets
``SUPREME_LOG_EVENTS``        ``1``/``0``: record the event log (``1``)
``SUPREME_ADAPTIVE``          the adaptive layer on the live cache manager: ``market``
                              (market-data keys only), ``all`` or ``off`` (``market``)
============================  =====================================================

Invalid values raise :class:`ConfigError` naming the variable.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from supreme.errors import SupremeError

__all__ = ["ADAPTIVE_MODES", "ConfigError", "Settings", "load_settings", "project_root"]


class ConfigError(SupremeError, ValueError):
    """A setting is missing or malformed; the message names the variable."""


def project_root() -> Path:
    """The checkout this package lives in (its parent folder holds ``shared/``)."""
    return Path(__file__).resolve().parent.parent


def _default_data_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir("supreme", appauthor=False))


def _check_redis_url(value: str) -> str:
    parsed = urlparse(value)
    if parsed.scheme not in ("redis", "rediss", "unix"):
        raise ConfigError(
            f"SUPREME_REDIS_URL must be a redis://, rediss:// or unix:// URL, got {value!r}"
        )
    if parsed.scheme != "unix" and not parsed.hostname:
        raise ConfigError(f"SUPREME_REDIS_URL has no host: {value!r}")
    try:
        _ = parsed.port
    except ValueError as exc:
        raise ConfigError(f"SUPREME_REDIS_URL has an invalid port: {value!r}") from exc
    return value


def _check_database_url(value: str) -> str:
    parsed = urlparse(value)
    if parsed.scheme in ("postgresql", "postgres"):
        try:
            _ = parsed.port
        except ValueError as exc:
            raise ConfigError(f"SUPREME_DATABASE_URL has an invalid port: {value!r}") from exc
        return value
    if parsed.scheme == "sqlite":
        if not value.startswith("sqlite:///") or value == "sqlite:///":
            raise ConfigError(
                f"SUPREME_DATABASE_URL for SQLite must look like sqlite:///path/to/file.db "
                f"or sqlite:///:memory:, got {value!r}"
            )
        return value
    raise ConfigError(
        f"SUPREME_DATABASE_URL must start with postgresql:// or sqlite:///, got {value!r}"
    )


def _check_master_key(value: str) -> bytes:
    try:
        key = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ConfigError("SUPREME_MASTER_KEY is not valid base64") from exc
    if len(key) != 32:
        raise ConfigError(f"SUPREME_MASTER_KEY must decode to 32 bytes, got {len(key)}")
    return key


def _check_bool(name: str, value: str) -> bool:
    low = value.strip().lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"{name} must be 1/0/true/false, got {value!r}")


@dataclass(frozen=True)
class Settings:
    """Resolved settings; build with :func:`load_settings`."""

    redis_url: str | None = None
    database_url: str = ""
    data_dir: Path = field(default_factory=_default_data_dir)
    shared_data: Path = field(default_factory=lambda: project_root().parent / "shared" / "data")
    shared_traces: Path = field(default_factory=lambda: project_root().parent / "shared" / "traces")
    master_key: bytes | None = None
    log_events: bool = True
    adaptive: str = "market"

    @property
    def uses_fakeredis(self) -> bool:
        """True when L2 is the in-process fakeredis."""
        return self.redis_url is None

    @property
    def database_kind(self) -> str:
        """``"postgresql"`` or ``"sqlite"``."""
        return "postgresql" if self.database_url.startswith(("postgresql", "postgres")) else "sqlite"

    @property
    def sqlite_path(self) -> str:
        """File path of the SQLite database (``:memory:`` allowed)."""
        if self.database_kind != "sqlite":
            raise ConfigError("SUPREME_DATABASE_URL is not a sqlite:/// URL")
        return self.database_url[len("sqlite:///"):]


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read settings from ``environ`` (default ``os.environ``), validating each."""
    env = os.environ if environ is None else environ
    redis_url = env.get("SUPREME_REDIS_URL") or None
    if redis_url is not None:
        _check_redis_url(redis_url)
    raw_dir = env.get("SUPREME_DATA_DIR")
    data_dir = Path(raw_dir).expanduser() if raw_dir else _default_data_dir()
    db_url = env.get("SUPREME_DATABASE_URL") or f"sqlite:///{data_dir / 'supreme.db'}"
    _check_database_url(db_url)
    root = project_root().parent / "shared"
    shared_data = Path(env.get("SUPREME_SHARED_DATA") or root / "data").expanduser()
    shared_traces = Path(env.get("SUPREME_SHARED_TRACES") or root / "traces").expanduser()
    master = env.get("SUPREME_MASTER_KEY")
    return Settings(
        redis_url=redis_url,
        database_url=db_url,
        data_dir=data_dir,
        shared_data=shared_data,
        shared_traces=shared_traces,
        master_key=_check_master_key(master) if master else None,
        log_events=_check_bool("SUPREME_LOG_EVENTS", env.get("SUPREME_LOG_EVENTS", "1")),
        adaptive=_check_choice("SUPREME_ADAPTIVE", env.get("SUPREME_ADAPTIVE", "market"), ADAPTIVE_MODES),
    )


#: values of ``SUPREME_ADAPTIVE``
ADAPTIVE_MODES = ("market", "all", "off")


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> str:
    low = value.strip().lower()
    if low not in choices:
        raise ConfigError(f"{name} must be one of {'/'.join(choices)}, got {value!r}")
    return low
