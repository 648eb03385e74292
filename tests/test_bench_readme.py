"""The README's Performance tables are rewritten from a bench results file, between the
markers only, and the figures in them are the recorded ones."""

from __future__ import annotations

import pytest

from tests.bench_readme import BEGIN, END, README, nightly_table, replace_between_markers


def test_only_the_text_between_the_markers_is_replaced():
    text = f"intro\n{BEGIN}\nold table\n{END}\nmethod prose\n"
    assert replace_between_markers(text, "new table") == (
        f"intro\n{BEGIN}\nnew table\n{END}\nmethod prose\n"
    )


@pytest.mark.parametrize("text", ["no markers", f"{END}\n{BEGIN}", f"{BEGIN}{BEGIN}{END}"])
def test_a_readme_without_one_marker_block_is_refused(text):
    with pytest.raises(SystemExit, match="exactly one"):
        replace_between_markers(text, "x")


def test_the_readme_has_one_generated_block():
    text = README.read_text()
    assert text.count(BEGIN) == 1 and text.count(END) == 1


def test_nightly_rows_divide_the_recorded_figures():
    part = {
        "day_spans": 200_000,
        "day_mb": 150.4,
        "prior_days": 10,
        "prior_day_spans": 20_000,
        "build_mode": "incremental",
        "ingest_s": 20.0,
        "build_s": 8.0,
        "report_s": 4.0,
        "total_s": 32.0,
        "floor_s": 5.0,
        "extrapolated_8_3m_s": 1328.0,
    }
    lines = nightly_table({"nightly": part})
    assert "| `fleetledger ingest` | 20 s | 10,000 |" in lines
    assert "| `fleetledger build` | 8.00 s | 25,000 |" in lines
    assert "| **total** | 32 s | 6,250 |" in lines
    assert "| floor: `read_json` → Parquet of the same files | 5.00 s | 40,000 |" in lines
    assert lines[-1].startswith("| extrapolation (linear in spans) to 8,300,000 spans")
    assert "| 1,328 s |" in lines[-1]
