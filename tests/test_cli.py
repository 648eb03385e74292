"""Every command is documented with an example; the common locations work everywhere."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.settings import Settings

runner = CliRunner()
COMMANDS = sorted(c.name or c.callback.__name__ for c in app.registered_commands)


def test_the_expected_commands_exist():
    assert COMMANDS == ["backfill", "build", "demo", "ingest", "nightly", "report"]


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


def test_ingest_of_a_missing_path_is_a_clear_error(tmp_path):
    result = runner.invoke(app, ["ingest", str(tmp_path / "nope"), "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "no such file or folder" in result.output


def test_ingest_cli_reports_conservation(tmp_path):
    fixture = "tests/fixtures/otlp/otel_openai_v2_latest_semconv.jsonl"
    result = runner.invoke(app, ["ingest", fixture, "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "7 records = 7 accepted + 0 quarantined" in result.output


def test_report_without_a_warehouse_says_what_to_do(tmp_path):
    result = runner.invoke(app, ["report", "--month", "2026-10", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "run `fleetledger build`" in result.output
