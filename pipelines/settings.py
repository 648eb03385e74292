"""The one settings object: built once at the edge (CLI, flow), passed down."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from pipelines.db import is_local, is_url
from pipelines.errors import UserError
from pipelines.schemas import PLAUSIBLE_FROM, PLAUSIBLE_UNTIL

DATA_DIR_ENV = "FLEETLEDGER_DATA_DIR"
ALERT_WEBHOOK_ENV = "FLEETLEDGER_ALERT_WEBHOOK"
LOCK_WAIT_ENV = "FLEETLEDGER_LOCK_WAIT"
PLAUSIBLE_FROM_ENV = "FLEETLEDGER_PLAUSIBLE_FROM"
PLAUSIBLE_UNTIL_ENV = "FLEETLEDGER_PLAUSIBLE_UNTIL"
DASK_ADDRESS_ENV = "FLEETLEDGER_DASK_ADDRESS"
# DuckDB 2.0 cuts a file path at `?` (as if URL options followed: the WAL of /a?b/w.duckdb
# becomes /a.wal?b/w.duckdb, and read_parquet finds no /a?b/x.parquet), escaped or not.


class MissingDataDir(UserError):
    """The data dir named does not exist."""


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("data")
    config_dir: Path = Path("config")
    reports_dir: Path = Path("reports")
    keep_content: bool = False  # copy prompt/response text into the lake (off: lengths only)
    duckdb_memory_limit: str = "4GB"
    # a full build runs in batches of whole cases of about this many spans (memory bound)
    spans_per_build_batch: int = 4_000_000
    # drift alerts are also POSTed here as JSON when set (env FLEETLEDGER_ALERT_WEBHOOK)
    alert_webhook_url: str | None = None
    # how long a writing command waits for another writer of the data dir (env
    # FLEETLEDGER_LOCK_WAIT); 0: exit at once, naming the holder
    lock_wait_seconds: float = 0.0
    # a record stamped outside [plausible_from, plausible_until) is quarantined (env
    # FLEETLEDGER_PLAUSIBLE_FROM / _UNTIL, ISO dates): a broken clock, not history
    plausible_from: datetime = PLAUSIBLE_FROM
    plausible_until: datetime = PLAUSIBLE_UNTIL
    # the Dask scheduler the nightly and backfill flows fan their work out to (env
    # FLEETLEDGER_DASK_ADDRESS, or --cluster); None: everything runs in this process
    dask_address: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Settings from explicit overrides, then the environment, then defaults."""
        env = os.environ if env is None else env
        values = {k: v for k, v in overrides.items() if v is not None}
        if "data_dir" not in values and env.get(DATA_DIR_ENV):
            values["data_dir"] = location(env[DATA_DIR_ENV])
        elif isinstance(values.get("data_dir"), str):  # --data-dir, as the user typed it
            values["data_dir"] = location(values["data_dir"])
        if "alert_webhook_url" not in values and env.get(ALERT_WEBHOOK_ENV):
            values["alert_webhook_url"] = env[ALERT_WEBHOOK_ENV]
        if "dask_address" not in values and env.get(DASK_ADDRESS_ENV):
            values["dask_address"] = env[DASK_ADDRESS_ENV]
        if "lock_wait_seconds" not in values and env.get(LOCK_WAIT_ENV):
            values["lock_wait_seconds"] = _seconds(env[LOCK_WAIT_ENV], LOCK_WAIT_ENV)
        for field, name in (
            ("plausible_from", PLAUSIBLE_FROM_ENV),
            ("plausible_until", PLAUSIBLE_UNTIL_ENV),
        ):
            if field not in values and env.get(name):
                values[field] = _moment(env[name], name)
        settings = cls(**values)  # type: ignore[arg-type]
        if settings.plausible_from >= settings.plausible_until:
            raise UserError(
                f"{PLAUSIBLE_FROM_ENV} ({settings.plausible_from:%Y-%m-%d}) must be before "
                f"{PLAUSIBLE_UNTIL_ENV} ({settings.plausible_until:%Y-%m-%d})"
            )
        return settings.resolved()

    def resolved(self) -> Settings:
        """The same settings with absolute folders (a data dir DuckDB can use). A data
        dir on object storage (a UPath) is a URL already: kept as it is (a local
        `resolve` would put the working folder in front of it)."""
        data_dir = location(self.data_dir) if isinstance(self.data_dir, str) else self.data_dir
        if is_local(data_dir):
            data_dir = Path(data_dir).resolve()
        if "?" in str(data_dir):
            raise UserError(
                f"data dir {data_dir}: DuckDB 2.0 cannot use a path holding '?' (it reads "
                "what follows as URL options); choose a folder without one"
            )
        return replace(
            self,
            data_dir=data_dir,
            config_dir=Path(self.config_dir).resolve(),
            reports_dir=Path(self.reports_dir).resolve(),
        )

    def require_data_dir(self) -> Settings:
        """These settings, if the data dir exists; else a MissingDataDir saying what to do."""
        if not self.data_dir.is_dir():
            raise MissingDataDir(
                f"data dir {self.data_dir}: no such folder; check --data-dir (or "
                f"{DATA_DIR_ENV}), or make one with `fleetledger demo` or `fleetledger ingest`"
            )
        return self

    @property
    def raw_dir(self) -> Path:
        return self.data_dir / "raw"

    @property
    def lake_dir(self) -> Path:
        return self.data_dir / "lake"

    @property
    def marts_dir(self) -> Path:
        return self.data_dir / "marts"

    @property
    def warehouse_path(self) -> Path:
        return self.data_dir / "warehouse.duckdb"

    @property
    def gx_dir(self) -> Path:
        """Great Expectations project (suites and validation results)."""
        return self.data_dir / "gx"

    @property
    def data_quality_dir(self) -> Path:
        """Great Expectations Data Docs HTML."""
        return self.reports_dir / "data-quality"


def location(text: str) -> Path:
    """A data dir as the user named it: a local Path, or for an object-store URL
    (`s3://bucket/prefix`) a UPath, pathlib's API over fsspec (endpoint and credentials
    from the AWS environment). `pipelines.objectstore` is imported first: it makes UPath
    build the filesystem DuckDB can use; a URL of another store (gs://, az://) is a
    UserError naming it. Give the text itself: `Path("s3://b/p")` has already lost a
    slash."""
    if not is_url(text):
        return Path(text)
    from upath import UPath

    from pipelines import objectstore

    objectstore.filesystem(text)  # only s3:// (UserError otherwise)
    return UPath(text)


def _moment(text: str, name: str) -> datetime:
    """An ISO date or time from the environment (UTC unless it says otherwise)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise UserError(f"{name}={text!r}: not an ISO date such as 2015-01-01") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _seconds(text: str, name: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < float("inf"):
        raise UserError(f"{name}={text!r}: not a number of seconds (0 or more)")
    return seconds
