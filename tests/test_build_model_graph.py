"""Which models a model reads (`pipelines.models.upstream`), and the column docs a
warehouse model inherits through that graph (`warehouse.inherited_column_docs`)."""

from __future__ import annotations

from pipelines import warehouse
from pipelines.models import Model, load_models, upstream


def _models(**sql: str) -> dict[str, Model]:
    return {name: Model(name, "marts", text) for name, text in sql.items()}


def test_a_name_counts_only_as_a_whole_word_outside_comments():
    models = _models(
        fct_cases="select 1 as n",
        fct_cases__all="select 2 as n",
        stg_spans="select 3 as n",
        daily=(
            "-- reads stg_spans? no: only named in this comment\n"
            "select * from fct_cases__all join fct_cases using (n)\n"
            "where my_stg_spans_flag -- stg_spans again in a trailing comment\n"
        ),
    )
    assert upstream(models["daily"], models) == {"fct_cases", "fct_cases__all"}
    assert upstream(models["fct_cases"], models) == set()


def test_a_model_does_not_read_itself():
    models = _models(agent_daily="select * from agent_daily_source", agent_daily_source="select 1")
    assert upstream(models["agent_daily"], models) == {"agent_daily_source"}


def test_the_graph_is_the_one_a_regex_per_name_finds():
    """Every model of sql/: the word lookup finds what a `\\bname\\b` search finds."""
    import re

    by_name = {m.name: m for m in load_models()}
    for model in by_name.values():
        code = re.sub(r"--[^\n]*", "", model.sql)
        searched = {n for n in by_name if n != model.name and re.search(rf"\b{n}\b", code)}
        assert upstream(model, by_name) == searched, model.name


def test_inherited_docs_walk_the_graph_nearest_first():
    # fct_cases reads fct_cases__all: its columns documented there are inherited
    docs = warehouse.inherited_column_docs("fct_cases")
    assert docs["n_subagent_calls"] == (
        "LLM calls of the case made by sub-agents (agents other than the case's)"
    )
    assert warehouse.inherited_column_docs("stg_spans") == {}
