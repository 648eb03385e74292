"""Every command is documented with an example; the common locations work everywhere."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from rich.console import Console
from typer.testing import CliRunner

from pipelines import analyst
from pipelines.cli import app
from pipelines.settings import Settings

runner = CliRunner()
COMMANDS = sorted(c.name or c.callback.__name__ for c in app.registered_commands)


def test_the_expected_commands_exist():
    assert COMMANDS == [
        "backfill", "build", "compare", "demo", "diff", "eval-candidates", "ingest", "nightly",
        "report", "sql",
    ]  # fmt: skip


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help_with_an_example(command):
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Example:" in result.output
    for option in ("--data-dir", "--config-dir", "--reports-dir"):
        assert option in result.output


def test_top_level_help_tells_the_workflow():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for word in ("ingest", "build", "report", "demo", "warehouse.duckdb"):
        assert word in result.output


def test_data_dir_comes_from_the_environment_unless_given(tmp_path):
    env = {"FLEETLEDGER_DATA_DIR": str(tmp_path / "from-env")}
    assert Settings.from_env(env).data_dir == tmp_path / "from-env"
    given = Settings.from_env(env, data_dir=tmp_path / "given")
    assert given.data_dir == tmp_path / "given"


def _tmp_dirs(tmp_path: Path, data: Path | None = None) -> list[str]:
    """The three locations under tmp_path (the data dir itself unless given), never the
    repo's own config/ and reports/."""
    return ["--data-dir", str(data or tmp_path), "--config-dir", str(tmp_path / "config"),
            "--reports-dir", str(tmp_path / "reports")]  # fmt: skip


def test_ingest_of_a_missing_path_is_a_clear_error(tmp_path):
    result = runner.invoke(app, ["ingest", str(tmp_path / "nope"), *_tmp_dirs(tmp_path)])
    assert result.exit_code == 2
    assert "no such file or folder" in result.output


def test_ingest_cli_reports_conservation(tmp_path):
    fixture = "tests/fixtures/otlp/otel_openai_v2_latest_semconv.jsonl"
    where = ["--data-dir", str(tmp_path / "data"), "--reports-dir", str(tmp_path / "reports")]
    result = runner.invoke(app, ["ingest", fixture, *where])
    assert result.exit_code == 0, result.output
    assert "7 records = 7 accepted + 0 quarantined" in result.output


def test_report_without_a_warehouse_says_what_to_do(tmp_path):
    result = runner.invoke(app, ["report", "--month", "2026-10", *_tmp_dirs(tmp_path)])
    assert result.exit_code == 2
    assert "run `fleetledger build`" in result.output


def _one_line_error(args: list[str]) -> str:
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert len(result.output.strip().splitlines()) == 1, result.output  # no traceback
    return result.output


@pytest.mark.parametrize(
    "command",
    [["build"], ["report"], ["sql", "select 1"], ["nightly"], ["backfill"], ["ingest"],
     ["diff", "--agent", "a", "--baseline", "b", "--candidate", "c"],
     ["eval-candidates", "--agent", "a", "--month", "2026-10"]],
)  # fmt: skip
def test_a_mistyped_data_dir_is_one_line_and_exit_2(command, tmp_path):
    missing = tmp_path / "dta"
    output = _one_line_error([*command, *_tmp_dirs(tmp_path, data=missing)])
    assert f"data dir {missing}: no such folder; check --data-dir" in output
    assert not missing.exists()  # nothing was created under the mistyped name


def test_build_without_a_lake_says_to_ingest(tmp_path):
    output = _one_line_error(["build", *_tmp_dirs(tmp_path)])
    assert "no lake yet; ingest raw files first (`fleetledger ingest`)" in output
    assert not (tmp_path / "warehouse.duckdb").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["demo", "--end", "2026-02-30"], "--end '2026-02-30': not a day of the calendar"),
        (["demo", "--end", "2026-2-3"], "--end '2026-2-3': not a day of the calendar"),
        (["demo", "--days", "-3"], "--days -3: must be 1 or more"),
        (["demo", "--calls-per-day", "0"], "--calls-per-day 0: must be 1 or more"),
        (["backfill", "--start", "2026/09"], "start '2026/09': not a month; write it as YYYY-MM"),
        (["backfill", "--end", "2026-13"], "end '2026-13': not a month"),
        (["backfill", "--start", "2026-10", "--end", "2026-09"], "start 2026-10 is after end"),
        (["report", "--month", "Oct"], "--month 'Oct': not a month"),
        (["eval-candidates", "--agent", "a", "--month", "2026-1"], "--month '2026-1': not a"),
        (["ingest", "--format", "csv", "x.csv"], "--format csv: not one of otlp_json, "),
    ],
)
def test_impossible_dates_and_options_are_one_line_and_exit_2(args, message, tmp_path):
    assert message in _one_line_error([*args, *_tmp_dirs(tmp_path)])
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # refused before writing anything


def test_ingest_help_names_every_format():
    from pipelines.ingest import FORMATS

    text = " ".join(runner.invoke(app, ["ingest", "--help"]).output.split())
    assert all(name in text for name in FORMATS), text


def _readme_queries() -> list[str]:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme.split("<!-- analyst-queries -->")[1].split("<!-- /analyst-queries -->")[0]
    return [block.split("```")[0] for block in section.split("```sql")[1:]]


def test_readme_has_five_analyst_queries():
    assert len(_readme_queries()) == 5


@pytest.mark.parametrize("number", range(5))
def test_readme_analyst_queries_run_on_the_demo(demo, number):
    query = _readme_queries()[number]
    result = CliRunner().invoke(
        app, ["sql", query, "--format", "json", "--data-dir", str(demo.data_dir)]
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert rows, query  # every question has an answer on the demo


def test_sql_writes_csv_and_parquet(demo, tmp_path):
    query = "select agent_name, n_cases from agent_daily order by 1, 2 limit 3"
    csv = CliRunner().invoke(
        app, ["sql", query, "--format", "csv", "--data-dir", str(demo.data_dir)]
    )
    assert csv.exit_code == 0 and csv.stdout.splitlines()[0] == "agent_name,n_cases"
    target = tmp_path / "out.parquet"
    args = [
        "sql",
        query,
        "--format",
        "parquet",
        "-o",
        str(target),
        "--data-dir",
        str(demo.data_dir),
    ]
    assert CliRunner().invoke(app, args).exit_code == 0
    assert pl.read_parquet(target).height == 3


def test_sql_errors_are_clear_and_the_warehouse_is_read_only(demo):
    bad = CliRunner().invoke(
        app, ["sql", "select nope from agent_daily", "--data-dir", str(demo.data_dir)]
    )
    assert bad.exit_code == 2 and "nope" in bad.output
    write = CliRunner().invoke(app, ["sql", "drop table agents", "--data-dir", str(demo.data_dir)])
    assert write.exit_code == 2 and "read-only" in write.output


@pytest.mark.parametrize(
    "statement",
    [
        "copy (select 1) to '{outside}'",
        "select * from read_csv('/etc/passwd')",
        "attach '{outside}.duckdb' as other",
        "set enable_external_access = true",
        "install httpfs",
    ],
)
def test_sql_reads_the_warehouse_and_touches_no_other_file(demo, tmp_path, statement):
    outside = tmp_path / "written.csv"
    query = statement.format(outside=outside)
    result = CliRunner().invoke(app, ["sql", query, "--data-dir", str(demo.data_dir)])
    assert result.exit_code == 2, result.output
    assert list(tmp_path.iterdir()) == []  # nothing written
    lake = CliRunner().invoke(  # the views over the lake and the facts still read
        app, ["sql", "select (select count(*) from lake_spans) * (select count(*) from fct_cases)",
              "--format", "csv", "--data-dir", str(demo.data_dir)],
    )  # fmt: skip
    assert lake.exit_code == 0 and int(lake.stdout.splitlines()[1]) > 0


def test_sql_prompt_runs_statements_until_quit(demo):
    lines = iter(["select count(*) as n", "from agents;", ".quit"])
    console = Console(record=True, width=120)
    analyst.interactive(demo.warehouse_path, console, read=lambda prompt: next(lines))
    assert "20" in console.export_text()  # the demo registers 20 agents
