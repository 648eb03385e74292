"""Shared fixtures: tiny hand-made data per test, one small generated demo per session."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest

from pipelines import warehouse
from pipelines.ingest import ingest_paths
from pipelines.settings import Settings
from pipelines.synth import generate_demo

FIXTURES = Path(__file__).parent / "fixtures"
TINY_REGISTRY = """
agents:
  - name: weather-agent
    team: demo
    owner: a@example.com
    human_baseline_usd_per_case: 2.0
    quality_target: 0.8
"""


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Empty data/config/reports folders with a one-agent registry."""
    config = tmp_path / "config"
    config.mkdir()
    (config / "agents.yaml").write_text(TINY_REGISTRY)
    (tmp_path / "data" / "raw").mkdir(parents=True)
    return Settings(
        data_dir=tmp_path / "data", config_dir=config, reports_dir=tmp_path / "reports"
    ).resolved()


@pytest.fixture
def otlp_fixture(settings: Settings):
    """Copy a real OTLP fixture file into the raw folder; returns its new path."""

    def copy(name: str) -> Path:
        target = settings.raw_dir / name
        shutil.copy(FIXTURES / "otlp" / name, target)
        return target

    return copy


DEMO_END = date(2026, 10, 31)


def generated_demo(root: Path, *, days: int, calls_per_day: int, seed: int, end: date):
    """Settings under `root` holding a freshly generated demo fleet (not yet ingested)."""
    settings = Settings(
        data_dir=root / "data", config_dir=root / "config", reports_dir=root / "reports"
    ).resolved()
    generate_demo(settings.data_dir, settings.config_dir, days=days,
                  calls_per_day=calls_per_day, seed=seed, end=end)  # fmt: skip
    return settings


@pytest.fixture(scope="session")
def demo(tmp_path_factory) -> Settings:
    """A 4-day demo fleet, generated, ingested and built once per session."""
    settings = generated_demo(
        tmp_path_factory.mktemp("demo"), days=4, calls_per_day=400, seed=11, end=DEMO_END
    )
    ingest_paths([settings.raw_dir], settings)
    warehouse.build(settings)
    return settings


@pytest.fixture(scope="session")
def ninety_day_demo(tmp_path_factory) -> Settings:
    """The demo's 90 days at 6,000 calls a day (what `make demo` generates), ingested and
    built once per session (~4 min). It ends on Tuesday 2026-10-27: no injected drift
    starts on a weekend, and September is the last full month."""
    root = tmp_path_factory.mktemp("ninety")
    settings = generated_demo(root, days=90, calls_per_day=6000, seed=7, end=date(2026, 10, 27))
    ingest_paths([settings.raw_dir], settings)
    warehouse.build(settings)
    return settings
