"""The one settings object: built once at the edge (CLI, flow), passed down."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

DATA_DIR_ENV = "FLEETLEDGER_DATA_DIR"
ALERT_WEBHOOK_ENV = "FLEETLEDGER_ALERT_WEBHOOK"


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

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Settings from explicit overrides, then the environment, then defaults."""
        env = os.environ if env is None else env
        values = {k: v for k, v in overrides.items() if v is not None}
        if "data_dir" not in values and env.get(DATA_DIR_ENV):
            values["data_dir"] = Path(env[DATA_DIR_ENV])
        if "alert_webhook_url" not in values and env.get(ALERT_WEBHOOK_ENV):
            values["alert_webhook_url"] = env[ALERT_WEBHOOK_ENV]
        settings = cls(**values)  # type: ignore[arg-type]
        return settings.resolved()

    def resolved(self) -> Settings:
        """The same settings with absolute folders."""
        return replace(
            self,
            data_dir=Path(self.data_dir).resolve(),
            config_dir=Path(self.config_dir).resolve(),
            reports_dir=Path(self.reports_dir).resolve(),
        )

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
