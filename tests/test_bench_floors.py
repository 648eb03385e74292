"""The README states the floors a target is measured against, and what a target leaves
beyond them: the facts' re-write beside the build's floor, the read_json floor at the
nightly's 8.3M spans."""

from __future__ import annotations

from tests.bench_readme import _marts_rows, nightly_table

MARTS = {
    "full_build_ratio": 10.0, "full_s": 20.0, "floor_s": 2.0, "spans": 1_000_000, "days": 56,
    "full_rss_mb": 900.0, "incremental_per_day_ratio": 2.0, "incremental_s": 1.0,
    "full_per_day_s": 0.5,
}  # fmt: skip
NIGHTLY = {
    "day_spans": 2_075_000, "day_mb": 1_000.0, "prior_days": 30, "prior_day_spans": 60_000,
    "ingest_s": 40.0, "build_s": 15.0, "report_s": 3.0, "total_s": 58.0, "floor_s": 20.0,
    "extrapolated_8_3m_s": 232.0, "build_mode": "incremental",
}  # fmt: skip


def test_the_facts_rewrite_floor_is_shown_beside_the_build_floor():
    (full, _) = _marts_rows({**MARTS, "facts_write_s": 3.0, "fact_rows": 4_200_000})
    assert full[-1].endswith(
        "re-writing the built facts' 4,200,000 rows alone: 3.00 s = 1.50× floor"
    )


def test_an_older_results_file_without_the_facts_floor_still_renders():
    (full, _) = _marts_rows(MARTS)
    assert full[-1].endswith("peak RSS 900 MB")


def test_the_nightly_states_the_floor_at_8_3m_spans_and_the_room_it_leaves():
    lines = nightly_table({"nightly": NIGHTLY})
    # 20 s for 2,075,000 spans → 80 s at 8.3M (× 4): 40 s left of 120 s, 120 / 80 = 1.5×
    assert "| the floor, extrapolated the same way | 80 s | |" in lines
    assert lines[1].endswith(
        "At 8.3M spans the floor alone would take 80 s: the 120 s target leaves 40 s beyond "
        "it for parsing, checks, the build, drift and the report (the nightly within 1.50× "
        "the floor):"
    )


def test_a_floor_over_the_target_is_said_to_be_over_it():
    lines = nightly_table({"nightly": {**NIGHTLY, "floor_s": 35.0}})  # 140 s at 8.3M
    assert lines[1].endswith("At 8.3M spans the floor alone would take 140 s: over 120 s.")
