"""The Prefect flows wire the stages together (logic is tested through plain functions)."""

from __future__ import annotations

import pytest

from pipelines.flows import backfill, nightly


@pytest.fixture(scope="session")
def prefect_harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.mark.flow
def test_backfill_then_nightly(prefect_harness, demo):
    locations = (str(demo.data_dir), str(demo.config_dir), str(demo.reports_dir))
    reports = backfill(*locations)
    assert reports == [str(demo.reports_dir / "2026-10" / "portfolio-review.html")]
    assert nightly(*locations) == reports[0]
