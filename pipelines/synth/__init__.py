"""The demo fleet generator: the raw files a real company would have, and the truth.

`generate_demo` writes, deterministically for (seed, end, days, calls_per_day):
  <data>/raw/traces/otlp-<day>.jsonl    OTLP/JSON Lines, one file per arrival day
  <data>/raw/billing/openai/…json       Costs + Usage API pages
  <data>/raw/billing/anthropic/…json    cost_report + usage_report pages
  <data>/raw/billing/azure/…csv         a FOCUS 1.0 export (Azure OpenAI)
  <data>/raw/evals/kb-answerer.jsonl    offline eval runs of its model migration
  <data>/demo_ground_truth.json         every injected event, dated
  <config>/agents.yaml                  the registry (20 agents, 5 teams)
  <config>/models.local.yaml            the retirement date of the model hr-faq calls
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import yaml

from pipelines.retirements import LOCAL_FILE
from pipelines.synth import fleet
from pipelines.synth.billing import write_billing
from pipelines.synth.evals import write_evals
from pipelines.synth.otlp_writer import write_otlp
from pipelines.synth.simulate import Calendar, simulate

GROUND_TRUTH_FILE = "demo_ground_truth.json"


@dataclass(frozen=True)
class DemoSummary:
    start: date
    end: date
    n_cases: int
    n_spans: int
    n_malformed_records: int
    trace_files: int
    trace_bytes: int
    billed_usd: dict


def agents_table(agents=fleet.AGENTS) -> pa.Table:
    """Per-agent facts the writers join on (service, billing route, untraced share)."""
    untraced = fleet.UNTRACED
    return pa.table(
        {
            "agent_idx": pa.array(range(len(agents)), pa.int32()),
            "agent_name": [a.name for a in agents],
            "service_name": [f"{a.team}-agents" for a in agents],
            "provider": [a.route.provider for a in agents],
            "account": [a.route.account for a in agents],
            "api_key": [a.route.api_key for a in agents],
            "billed_per_traced": [
                1 / (1 - untraced["share_untraced"]) if a.name == untraced["agent"] else 1.0
                for a in agents
            ],
        }
    )


def inject_malformed(files: list[Path], every_n_days: int) -> int:
    """Append a truncated line and a span with a bad traceId to every n-th file
    (at least one file, however short the period)."""
    injected = 0
    offset = (every_n_days // 2) % max(len(files), 1)
    for index, path in enumerate(files):
        if index % every_n_days != offset:
            continue
        first = path.read_text().split("\n", 1)[0]
        bad_span = {
            "resourceSpans": [
                {
                    "resource": {"attributes": []},
                    "scopeSpans": [
                        {
                            "scope": {"name": "broken-exporter"},
                            "spans": [
                                {
                                    "traceId": "not-a-trace-id",
                                    "spanId": "00f067aa0ba902b7",
                                    "name": "chat",
                                    "startTimeUnixNano": "1",
                                    "endTimeUnixNano": "2",
                                    "attributes": [],
                                    "status": {},
                                }
                            ],
                        }
                    ],
                }
            ]
        }
        with open(path, "a") as handle:
            handle.write(first[:200] + "\n")
            handle.write(json.dumps(bad_span) + "\n")
        injected += 2
    return injected


def ground_truth(calendar: Calendar, summary_counts: dict) -> dict:
    def on(day_index: int) -> str:
        return calendar.day(day_index).isoformat()

    end = calendar.day(calendar.days - 1)
    by_name = {a.name: a for a in fleet.AGENTS}
    contract = by_name["contract-review"]
    return {
        "period": {"start": calendar.start.isoformat(), "end": end.isoformat()},
        **summary_counts,
        "events": [
            {
                "type": "quality_drift",
                "agent": fleet.QUALITY_DRIFT["agent"],
                "start": on(fleet.QUALITY_DRIFT["day"]),
                "metric": "quality",
                "change": -fleet.QUALITY_DRIFT["quality_drop"],
                "cause": f"prompt change {fleet.QUALITY_DRIFT['from_version']} → "
                f"{fleet.QUALITY_DRIFT['to_version']}",
            },
            {
                "type": "intent_mix_shift",
                "agent": fleet.INTENT_SHIFT["agent"],
                "start": on(fleet.INTENT_SHIFT["day"]),
                "intent": fleet.INTENT_SHIFT["intent"],
                "share_after": fleet.INTENT_SHIFT["share"],
            },
            {
                "type": "model_migration",
                "agent": fleet.MIGRATION["agent"],
                "start": on(fleet.MIGRATION["day"]),
                "from_model": by_name["kb-answerer"].route.model,
                "to_model": fleet.MIGRATION["to_model"],
                "expect": "cost per case drops",
            },
            {
                "type": "cost_above_human_baseline",
                "agent": contract.name,
                "human_baseline_usd_per_case": contract.human_baseline_usd_per_case,
            },
            {
                "type": "below_quality_target",
                "agent": "lead-scorer",
                "quality_mean": by_name["lead-scorer"].quality_mean,
                "quality_target": by_name["lead-scorer"].quality_target,
            },
            {
                "type": "untraced_spend",
                "agent": fleet.UNTRACED["agent"],
                "share_untraced": fleet.UNTRACED["share_untraced"],
                "billing_key": by_name[fleet.UNTRACED["agent"]].route.api_key,
            },
            {
                "type": "unregistered_agent",
                "agent": "shadow-summarizer",
                "billing_key": by_name["shadow-summarizer"].route.api_key,
            },
            {
                "type": "model_near_retirement",
                "agent": fleet.RETIRING_MODEL["agent"],
                "model": fleet.RETIRING_MODEL["model"],
                "retirement_date": _demo_retirement(end)["retires_on"].isoformat(),
                "note": "demo assumption, not the vendor's announced date",
            },
            {
                "type": "late_files",
                "share_of_cases": fleet.LATE["share_of_cases"],
                "delay_days": fleet.LATE["delay_days"],
                "days": [
                    on(d) for d in range(calendar.days) if d % fleet.LATE["every_n_days"] == 3
                ],
            },
            {
                "type": "malformed_lines",
                "files_every_n_days": fleet.MALFORMED["every_n_days"],
                "records": summary_counts["n_malformed_records"],
            },
        ],
    }


def _demo_retirement(end: date) -> dict:
    by_name = {a.name: a for a in fleet.AGENTS}
    retiring = fleet.RETIRING_MODEL
    return {
        "provider": by_name[retiring["agent"]].route.provider,
        "model": retiring["model"],
        "retires_on": end + timedelta(days=retiring["days_after_end"]),
        "note": "demo assumption, not the vendor's announced date",
    }


def generate_demo(
    data_dir: Path,
    config_dir: Path,
    *,
    days: int = 90,
    calls_per_day: int = 6000,
    seed: int = 7,
    end: date | None = None,
    progress=None,
) -> DemoSummary:
    """Write the demo fleet's raw exports, registry and ground truth."""
    step = progress or (lambda message: None)
    end = end or (datetime.now(UTC).date() - timedelta(days=1))
    calendar = Calendar(end - timedelta(days=days - 1), days)
    step(f"simulating {days} days of {len(fleet.AGENTS)} agents")
    sim = simulate(fleet.AGENTS, calendar, calls_per_day, seed)
    agents = agents_table()
    raw = data_dir / "raw"
    step("writing OTLP/JSON traces")
    files = write_otlp(sim, agents, calendar, raw / "traces")
    malformed = inject_malformed(files, fleet.MALFORMED["every_n_days"])
    step("writing billing exports")
    billed = write_billing(sim, agents, calendar, raw / "billing")
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "agents.yaml").write_text(
        "# The agent registry. Generated by `fleetledger demo`; edit freely.\n"
        + yaml.safe_dump(fleet.registry_document(), sort_keys=False, width=100)
    )
    (config_dir / LOCAL_FILE).write_text(
        "# Local model retirement dates, over models.yaml. Generated by `fleetledger demo`.\n"
        + yaml.safe_dump({"models": [_demo_retirement(end)]}, sort_keys=False)
    )
    n_spans = sim.cases.num_rows + sim.calls.num_rows + sim.tools.num_rows
    counts = {
        "n_cases": sim.cases.num_rows,
        "n_spans": n_spans,
        "n_malformed_records": malformed,
        "billed_usd": billed,
    }
    truth = ground_truth(calendar, counts)
    step("writing eval runs")
    eval_day = calendar.day(max(min(fleet.MIGRATION["day"], calendar.days - 1) - 3, 0))
    truth["events"].append(write_evals(raw, eval_day, seed))
    (data_dir / GROUND_TRUTH_FILE).write_text(json.dumps(truth, indent=2))
    return DemoSummary(
        calendar.start,
        end,
        sim.cases.num_rows,
        n_spans,
        malformed,
        len(files),
        sum(f.stat().st_size for f in files),
        billed,
    )
