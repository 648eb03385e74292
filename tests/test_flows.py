"""The Prefect flows wire the stages together (logic is tested through plain functions)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pipelines.flows import HeldError, backfill, migration_diff, monthly_review, nightly


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
    assert nightly(*locations, eval_candidates=True) == reports[0]
    written = sorted(p.name for p in (demo.data_dir / "eval_candidates").glob("*-2026-10.jsonl"))
    assert len(written) == 21 and "support-triage-2026-10.jsonl" in written  # 20 + shadow


@pytest.mark.flow
def test_monthly_review_renders_the_month_asked(prefect_harness, demo):
    path = monthly_review("2026-10", str(demo.data_dir), str(demo.config_dir),
                          str(demo.reports_dir))  # fmt: skip
    assert path == str(demo.reports_dir / "2026-10" / "portfolio-review.html")


def test_monthly_review_is_deployed_on_the_first_of_the_month():
    document = yaml.safe_load((Path(__file__).parents[1] / "prefect.yaml").read_text())
    (deployment,) = [d for d in document["deployments"] if d["name"] == "monthly-review"]
    assert deployment["entrypoint"] == "pipelines/flows.py:monthly_review"
    assert deployment["schedules"] == [{"cron": "0 6 1 * *", "timezone": "UTC"}]
    assert deployment["parameters"]["month"] is None  # the month before the run


@pytest.mark.flow
def test_migration_diff_ships_or_fails_the_run(prefect_harness, demo):
    where = {"data_dir": str(demo.data_dir), "config_dir": str(demo.config_dir),
             "reports_dir": str(demo.reports_dir)}  # fmt: skip
    shipped = migration_diff("kb-answerer", "kb-baseline-gpt-4o", "kb-candidate-gpt-4.1-mini",
                             **where)  # fmt: skip
    assert shipped["decision"] == "ship"
    with pytest.raises(HeldError, match="hold: quality may be worse"):
        migration_diff("kb-answerer", "kb-baseline-gpt-4o", "kb-candidate-gpt-4.1-nano", **where)


def test_migration_diff_is_deployed_for_manual_runs():
    document = yaml.safe_load((Path(__file__).parents[1] / "prefect.yaml").read_text())
    (deployment,) = [d for d in document["deployments"] if d["name"] == "migration-diff"]
    assert deployment["entrypoint"] == "pipelines/flows.py:migration_diff"
    assert "schedules" not in deployment  # triggered by hand, with parameters
    assert {"agent", "baseline", "candidate"} <= set(deployment["parameters"])
