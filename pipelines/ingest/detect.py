"""Tell a raw file's format from its content, not its name."""

from __future__ import annotations

from pathlib import Path

from pipelines.ingest.lines import open_text

PROBE_CHARS = 65536

# (format, markers that must all appear in the first PROBE_CHARS characters)
SIGNATURES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("otlp_json", ('"resourceSpans"',)),
    ("openai_costs", ('"organization.costs.result"',)),
    ("openai_usage", ('"organization.usage.completions.result"',)),
    ("anthropic_cost_report", ('"cost_type"', '"starting_at"')),
    ("anthropic_usage_report", ('"uncached_input_tokens"', '"starting_at"')),
    ("focus_csv", ("BilledCost", "ChargePeriodStart")),
)


def detect_format(path: Path) -> str | None:
    """The format name of a raw file, or None when nothing matches."""
    try:
        with open_text(path) as handle:
            head = handle.read(PROBE_CHARS)
    except OSError:
        return None
    for name, markers in SIGNATURES:
        if all(marker in head for marker in markers):
            return name
    return None
