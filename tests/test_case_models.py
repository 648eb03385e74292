"""fct_cases__all's `model`: the model most of a case's calls used. Counted per model only
in the cases whose calls used two or more models; the others take their one model. Run on
hand-made slices (no ingest, no warehouse file), every value worked out by hand."""

from __future__ import annotations

from pipelines.db import connect
from pipelines.models import load_models

CASES = next(m for m in load_models() if m.name == "fct_cases__all")

# case (agent × conversation) of each span: one invoke_agent span per case
CASE_IDS = ("mixed", "one-model", "some-unnamed", "no-calls", "only-unnamed")
# conversation, span, model of each LLM call
CALLS = [
    ("mixed", "m1", "gpt-x"),
    ("mixed", "m2", "gpt-y"),
    ("mixed", "m3", "gpt-y"),  # gpt-y: two calls of three
    ("one-model", "o1", "gpt-x"),
    ("one-model", "o2", "gpt-x"),
    ("some-unnamed", "s1", None),  # a call with no model is not counted
    ("some-unnamed", "s2", "gpt-z"),
    ("only-unnamed", "u1", None),
]


def _cases_connection():
    """The tables fct_cases__all reads, holding CASE_IDS and CALLS."""
    con = connect()
    con.execute(
        "create table int_spans__attributed as select "
        "'agent' as agent_name, 'agent' as case_agent_name, conversation_id, "
        "'trace-' || conversation_id as trace_id, span_id, operation, "
        "null::varchar as agent_version, "
        "timestamptz '2026-10-01 00:00:00+00' + to_seconds(position) as started_at, "
        "timestamptz '2026-10-01 00:01:00+00' as ended_at, "
        "'ok' as status, null::varchar as tool_name, true as is_audit_complete, "
        "operation = 'chat' as is_llm_call, null::varchar as case_outcome, "
        "null::varchar as intent, false as is_fallback, null::varchar as eval_run_id, "
        "null::varchar as eval_item_id, null::varchar as eval_dataset, "
        "null::varchar as eval_variant, null::varchar as variant, false as is_shadow "
        "from (values "
        + ", ".join(f"('{case}', 'root-{case}', 'invoke_agent', 0)" for case in CASE_IDS)
        + ", "
        + ", ".join(
            f"('{case}', '{span}', 'chat', {i + 1})" for i, (case, span, _) in enumerate(CALLS)
        )
        + ") as spans(conversation_id, span_id, operation, position)"
    )
    con.execute(
        "create table fct_llm_calls as select 'agent' as agent_name, "
        "'agent' as case_agent_name, conversation_id, model, 0.001 as cost_usd, "
        "'computed' as cost_source, 10 as input_tokens, 1 as output_tokens "
        "from (values "
        + ", ".join(
            f"('{case}', {'NULL' if model is None else repr(model)})" for case, _, model in CALLS
        )
        + ") as calls(conversation_id, model)"
    )
    con.execute(
        "create table stg_evaluations (trace_id varchar, span_id varchar, name varchar, "
        "score_value double, score_label varchar, evaluated_at timestamptz)"
    )
    con.execute(
        "create table agents as select 'agent' as agent_name, null::varchar as quality_metric"
    )
    return con


def test_a_case_takes_the_model_most_of_its_calls_used():
    con = _cases_connection()
    got = dict(con.sql(f"select conversation_id, model from ({CASES.sql})").fetchall())
    assert got == {
        "mixed": "gpt-y",
        "one-model": "gpt-x",
        "some-unnamed": "gpt-z",
        "no-calls": None,
        "only-unnamed": None,
    }
