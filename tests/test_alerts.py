"""The nightly's alerts, emitted once: every kind (drift, guardrail breaches, SLO burns,
budget forecasts) from the marts' `is_new_alert` rows, to a file, a webhook and a ledger."""

from __future__ import annotations

import json
import shutil
import threading
from collections import Counter
from contextlib import contextmanager
from dataclasses import replace
from datetime import date
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

import duckdb

from pipelines.alerts import SOURCES, alerts_in_warehouse, emit_new_alerts, split_backlog

MARTS = ("drift_daily", "drift_weekly", "evaluator_daily", "evaluator_weekly",
         "slo_burn_daily", "budget_forecast_daily")  # fmt: skip


class _Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict]] = []

    def do_POST(self):
        length = int(self.headers["Content-Length"])
        _Hook.received.append(json.loads(self.rfile.read(length)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def _own_data_dir(settings, tmp_path, *, ledger: bool):
    """The demo's warehouse in a data dir of the test's own, with an empty alert ledger
    (nightlies ran here before) or none (the first nightly on this data dir)."""
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(settings.warehouse_path, data / settings.warehouse_path.name)
    if ledger:
        (data / "alerts").mkdir()
        (data / "alerts" / "sent.jsonl").write_text("")
    return replace(settings, data_dir=data)


@contextmanager
def _hooked(settings):
    """`settings` with a webhook served on localhost for the block (nothing received yet)."""
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Hook.received.clear()
    try:
        yield replace(settings, alert_webhook_url=f"http://127.0.0.1:{server.server_port}/")
    finally:
        server.shutdown()


def _new_alert_rows(settings) -> dict[str, int]:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return {m: con.execute(f"select count(*) from {m} where is_new_alert").fetchone()[0]
                for m in MARTS}  # fmt: skip


def test_every_kind_is_emitted_once_to_file_and_webhook(ninety_day_demo, tmp_path):
    settings = _own_data_dir(ninety_day_demo, tmp_path, ledger=True)
    with _hooked(settings) as hooked:
        first, path = emit_new_alerts(hooked)
        again, no_path = emit_new_alerts(hooked)
    rows = _new_alert_rows(settings)
    kinds = Counter(alert["kind"] for alert in first)
    assert kinds == {
        "drift": rows["drift_daily"] + rows["drift_weekly"],
        "guardrail": rows["evaluator_daily"] + rows["evaluator_weekly"],
        "slo_burn": rows["slo_burn_daily"],
        "budget": rows["budget_forecast_daily"],
    }
    assert all(kinds[kind] > 0 for kind in ("drift", "guardrail", "slo_burn", "budget"))
    assert len({alert["id"] for alert in first}) == len(first)  # ids are unique
    assert json.loads(path.read_text())["alerts"] == first
    assert (again, no_path) == ([], None)
    assert [len(payload["alerts"]) for payload in _Hook.received] == [len(first)]
    assert {source.kind for source in SOURCES} == set(kinds)


def test_a_first_nightly_on_an_old_lake_announces_only_the_last_weeks_alerts(
    ninety_day_demo, tmp_path
):
    settings = _own_data_dir(ninety_day_demo, tmp_path, ledger=False)
    every = alerts_in_warehouse(settings.warehouse_path)
    with _hooked(settings) as hooked:
        announced, _ = emit_new_alerts(hooked)
        later = emit_new_alerts(hooked)
    # the demo's data ends 2026-10-27: windows that ended by 2026-10-20 are past
    recent = [a for a in every if a["window_end"] > "2026-10-20"]
    assert announced == recent
    ledger = [json.loads(line) for line in (settings.data_dir / "alerts" / "sent.jsonl").open()]
    backlog = [entry["id"] for entry in ledger if entry.get("backlog")]
    assert backlog == [a["id"] for a in every if a["window_end"] <= "2026-10-20"]
    assert len(backlog) + len(recent) == len(every) and backlog
    assert later == ([], None)  # and later runs do not announce them again


def _alert(window_end: str) -> dict:
    return {"id": f"daily/a/quality/{window_end}", "window_end": window_end}


def test_a_first_run_announces_only_the_last_days_alerts():
    alerts = [_alert("2026-10-01"), _alert("2026-10-20"), _alert("2026-10-21"),
              _alert("2026-10-27")]  # fmt: skip
    recent, past = split_backlog(alerts, date(2026, 10, 27), days=7)
    assert [a["window_end"] for a in recent] == ["2026-10-21", "2026-10-27"]
    assert [a["window_end"] for a in past] == ["2026-10-01", "2026-10-20"]
    assert split_backlog(alerts, None) == (alerts, [])  # no data: nothing is past
