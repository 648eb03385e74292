"""The Prefect flows wire the stages together (logic is tested through plain functions)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
import yaml
from prefect import flow

from pipelines import flows
from pipelines.flows import HeldError, backfill, migration_diff, monthly_review, nightly
from pipelines.ingest import IngestError, lake
from pipelines.settings import MissingDataDir


@pytest.mark.flow
def test_backfill_then_nightly(prefect_harness, demo):
    locations = (str(demo.data_dir), str(demo.config_dir), str(demo.reports_dir))
    reports = backfill(*locations)
    assert reports == [str(demo.reports_dir / "2026-10" / "portfolio-review.html")]
    assert nightly(*locations, eval_candidates=True) == reports[0]
    written = sorted(p.name for p in (demo.data_dir / "eval_candidates").glob("*-2026-10.jsonl"))
    assert len(written) == 21 and "support-triage-2026-10.jsonl" in written  # 20 + shadow
    link, table = _artifact("portfolio-review"), _artifact("portfolio-verdicts")
    assert link.data == f"[Portfolio review 2026-10]({Path(reports[0]).as_uri()})"
    rows = json.loads(table.data)
    assert len(rows) == 21  # every agent with cases in 2026-10
    (triage,) = [r for r in rows if r["agent"] == "support-triage"]
    with duckdb.connect(str(demo.warehouse_path), read_only=True) as con:
        decided = con.execute(
            "select verdict, rule from portfolio_monthly "
            "where agent_name = 'support-triage' and month_start = '2026-10-01'"
        ).fetchone()
    assert (triage["verdict"], triage["why"]) == decided  # as the warehouse decided it
    assert triage["new alerts"] == ""


def _artifact(key: str):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])),
            sort=ArtifactSort.CREATED_DESC,
            limit=1,
        )
    return found[0]


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


@pytest.mark.flow
def test_a_mistyped_data_dir_fails_the_run_at_once(prefect_harness, tmp_path):
    with pytest.raises(MissingDataDir, match="no such folder"):
        nightly(str(tmp_path / "dta"), str(tmp_path), str(tmp_path))
    assert not (tmp_path / "dta").exists()


@flow
def _ingest_only(settings):
    return flows.ingest_new_files(settings)


@pytest.mark.flow
@pytest.mark.parametrize(("error", "attempts"), [(OSError("disk hiccup"), 3),
                                                 (IngestError("bad file"), 1)])  # fmt: skip
def test_a_failing_file_is_retried_alone_and_the_others_are_ingested(
    prefect_harness, settings, otlp_fixture, monkeypatch, error, attempts
):
    good = otlp_fixture("otel_openai_v2_latest_semconv.jsonl")
    bad = otlp_fixture("otel_openllmetry_openai.jsonl")
    tries = []

    def flaky(path, *args, **kwargs):
        if path == bad:
            tries.append(path)
            raise error
        return real(path, *args, **kwargs)

    real = flows.ingest_file
    monkeypatch.setattr(flows, "ingest_file", flaky)
    monkeypatch.setattr(flows, "ingest_raw_file",
                        flows.ingest_raw_file.with_options(retry_delay_seconds=0))  # fmt: skip
    assert _ingest_only(settings) == [f"{bad.name} failed (see its task run)"]
    assert len(tries) == attempts  # retried on its own; a user error is not retried
    logged = lake.read_log(settings.lake_dir)["source_file"].to_pylist()
    assert logged == [str(good)]


def test_a_user_error_inside_a_flow_run_from_the_cli_has_no_traceback(tmp_path, otlp_fixture,
                                                                       settings):  # fmt: skip
    otlp_fixture("otel_openai_v2_latest_semconv.jsonl")
    (settings.config_dir / "agents.yaml").unlink()
    where = ["--data-dir", settings.data_dir, "--config-dir", settings.config_dir,
             "--reports-dir", settings.reports_dir]  # fmt: skip
    done = subprocess.run(
        [Path(sys.executable).with_name("fleetledger"), "backfill", *where],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "COLUMNS": "300"},
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr + done.stdout
    assert f"error: {settings.config_dir / 'agents.yaml'}: not found" in done.stderr
    assert "7 records = 7 accepted + 0 quarantined" in done.stderr  # the run got that far
