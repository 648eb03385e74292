"""Hostile OTLP/JSON: every line ends as records or as quarantine rows naming the field
and the reason; nothing aborts the file, nothing is silently dropped or read as NULL
(issue 20, items 2–6)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.db import connect
from pipelines.ingest import FORMATS, ingest_file, otlp
from pipelines.ingest.seen import SeenRows
from pipelines.ingest.split import Lineage
from pipelines.schemas import INGEST_LOG
from tests.otlp_builder import NS, attr, line, ns, span

T0 = datetime(2026, 10, 5, 12, 0, 0)
TRACE = "0af7651916cd43dd8448eb211c80319c"
GOOD = span(TRACE, "b7ad6b7169203331", T0, 100, gen_ai__operation__name="chat")
OTHER = span(TRACE, "b7ad6b7169203332", T0, 100, gen_ai__operation__name="chat")
GOOD_LINE = line(GOOD)


def _parse(path: Path, lines: list[str] | pa.Table, *, keep_content: bool = False):
    """(records read, rows accepted per table, quarantine rows) of one parse, as ingest
    runs it: lines written to `path` and read back by the OTLP reader, or a hand-made
    lines table."""
    con = connect(memory_limit="512MB")
    seen = SeenRows(con, path.parent / "lake", path, INGEST_LOG.empty())
    lineage = Lineage(otlp.FORMAT, str(path), datetime.now(UTC))
    if isinstance(lines, pa.Table):
        batches = [lines]
    else:
        path.write_text("\n".join(lines) + "\n")
        batches = FORMATS[otlp.FORMAT].batches(path)
    read, accepted, quarantine = 0, {}, []
    for batch in batches:
        parsed = otlp.parse_batch(con, batch, lineage, keep_content=keep_content, seen=seen)
        read += parsed.records_read
        for name, rows in parsed.rows.items():
            if rows.num_rows:
                accepted.setdefault(name, []).extend(rows.to_pylist())
        quarantine += [
            (r["line_no"], r["record_index"], r["field"], r["reason"])
            for r in parsed.quarantine.to_pylist()
        ]
    con.close()
    return read, accepted, sorted(quarantine, key=lambda r: (r[0], r[1], r[2] or "", r[3]))


def _export(*resource_spans) -> str:
    return json.dumps({"resourceSpans": list(resource_spans)})


def _resource(*scope_spans, attributes=None) -> dict:
    resource = {"attributes": attributes or [attr("service.name", "svc")]}
    return {"resource": resource, "scopeSpans": list(scope_spans)}


def _with(base: dict, **fields) -> dict:
    return {**base, **fields}


def _attribute_json(key: str, value_json: str, base: dict = GOOD) -> str:
    """A line holding `base` with an extra attribute `key` whose value is the literal
    JSON `value_json` (e.g. `{"intValue": 1e400}`, which json.dumps cannot write), then
    OTHER, a good span."""
    marked = _with(base, attributes=[*base["attributes"], "@attribute@"])
    text = line(marked, OTHER)
    return text.replace('"@attribute@"', f'{{"key": "{key}", "value": {value_json}}}')


# --- item 3: malformed structure is one quarantined line naming the bad path ----------

MALFORMED = {
    "scopeSpans is an object": (
        _export({"scopeSpans": {"spans": [GOOD]}}),
        "resourceSpans[0].scopeSpans must be a list, got OBJECT",
    ),
    "spans is an object": (
        _export(_resource({"spans": GOOD})),
        "resourceSpans[0].scopeSpans[0].spans must be a list, got OBJECT",
    ),
    "resourceSpans holds numbers": (
        _export(1, 2),
        "resourceSpans[0] must be an object, got UBIGINT",
    ),
    "a span is not an object": (
        _export(_resource({"spans": [GOOD, "span"]})),
        "resourceSpans[0].scopeSpans[0].spans[1] must be an object, got VARCHAR",
    ),
    "a span is null": (
        _export(_resource({"spans": [GOOD, None]})),
        "resourceSpans[0].scopeSpans[0].spans[1] must be an object, got NULL",
    ),
    "a scopeSpans entry is a list": (
        _export(_resource({"spans": [GOOD]}, [GOOD])),
        "resourceSpans[0].scopeSpans[1] must be an object, got ARRAY",
    ),
    "the second resource is broken, the first is fine": (
        _export(_resource({"spans": [GOOD]}), _resource({"spans": {"0": OTHER}})),
        "resourceSpans[1].scopeSpans[0].spans must be a list, got OBJECT",
    ),
    "resourceSpans is an object": (
        json.dumps({"resourceSpans": {"scopeSpans": []}}),
        "resourceSpans must be a list, got OBJECT",
    ),
    "span attributes are an object": (
        _export(_resource({"spans": [_with(GOOD, attributes={"gen_ai.operation.name": "x"})]})),
        "resourceSpans[0].scopeSpans[0].spans[0].attributes must be a list, got OBJECT",
    ),
    "resource attributes are a string": (
        _export(_resource({"spans": [GOOD]}, attributes="service.name=svc")),
        "resourceSpans[0].resource.attributes must be a list, got VARCHAR",
    ),
    "resource is a list": (
        _export({"resource": [], "scopeSpans": [{"spans": [GOOD]}]}),
        "resourceSpans[0].resource must be an object, got ARRAY",
    ),
    "events are an object": (
        _export(_resource({"spans": [_with(GOOD, events={"name": "gen_ai.evaluation.result"})]})),
        "resourceSpans[0].scopeSpans[0].spans[0].events must be a list, got OBJECT",
    ),
    "no span at all": (_export(), "holds no spans"),
    "no scopeSpans": (_export({"resource": {"attributes": []}}), "holds no spans"),
    "empty spans lists": (_export(_resource({"spans": []}, {"spans": None})), "holds no spans"),
}


@pytest.mark.parametrize("text, reason", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_line_is_one_quarantined_line_naming_the_bad_part(tmp_path, text, reason):
    assert _parse(tmp_path / "in.jsonl", [text]) == (1, {}, [(1, 0, None, reason)])


def test_well_formed_but_unusual_lines_are_read(tmp_path):
    """Parts that are absent or null are empty; a span without attributes or a resource
    is still a span (these lines are walked again, and found well-formed)."""
    bare = {k: v for k, v in GOOD.items() if k not in ("attributes", "status")}
    lines = [
        _export({"scopeSpans": [{"spans": [bare]}]}),  # no resource, no attributes
        _export(_resource({"spans": None}, {"scope": None, "spans": [OTHER]})),
        _export({"resource": None, "scopeSpans": [{"spans": [_with(OTHER, events=None)]}]}),
    ]
    read, accepted, quarantine = _parse(tmp_path / "in.jsonl", lines)
    assert (read, len(accepted["spans"])) == (3, 2)  # OTHER twice: a duplicate
    assert quarantine == [
        (3, 1, "span_id", "duplicate: the same span appears earlier in this file")
    ]
    bare_span = accepted["spans"][0]  # no attributes: the operation is the span's name
    assert (bare_span["operation"], bare_span["attributes"]) == ("chat", [])


def test_a_file_of_malformed_lines_ingests_and_conserves_every_line(settings):
    path = settings.raw_dir / "malformed.jsonl"
    texts = [GOOD_LINE, *(text for text, _ in MALFORMED.values())]
    path.write_text("\n\n".join(texts) + "\n")
    result = ingest_file(path, settings)
    assert (result.status, result.rows_read) == ("ingested", 1 + len(MALFORMED))
    assert (result.rows_accepted, result.rows_quarantined) == (1, len(MALFORMED))
    stored = duckdb.sql(
        "select line_no, field, reason from read_parquet($glob) order by line_no",
        params={"glob": str(settings.lake_dir / "quarantine" / "*" / "*.parquet")},
    ).fetchall()
    assert stored == [(3 + 2 * n, None, reason) for n, (_, reason) in enumerate(MALFORMED.values())]


# --- item 2: poison values quarantine their span, never abort the file ----------------

POISON = {
    "an attribute with a null key": (
        _with(GOOD, attributes=[*GOOD["attributes"], {"key": None, "value": {"intValue": "1"}}]),
        ("attributes", "span attributes include one without a key"),
    ),
    "an attribute that is not an object": (
        _with(GOOD, attributes=[*GOOD["attributes"], "gen_ai.usage.input_tokens"]),
        ("attributes", "span attributes include one without a key"),
    ),
    "an attribute key twice": (
        _with(GOOD, attributes=GOOD["attributes"] * 2),
        ("attributes", "span attributes hold the key gen_ai.operation.name twice"),
    ),
    "a content attribute beside its summary's name": (
        _with(GOOD, attributes=[attr("input.value", "hi"), attr("input.value.chars", "2")]),
        (
            "attributes",
            "an attribute is named like the summary of a content attribute "
            "(<key>.chars or <key>.sha256)",
        ),
    ),
    "start 1e25 ns": (
        _with(GOOD, startTimeUnixNano=str(10**25), endTimeUnixNano=str(10**25 + 1)),
        ("started_at", f"startTimeUnixNano is too large to be a time: {10**25}"),
    ),
    "end 2^80 ns": (
        _with(GOOD, endTimeUnixNano=str(2**80)),
        ("ended_at", f"endTimeUnixNano is too large to be a time: {2**80}"),
    ),
    "start with 60 digits": (
        _with(GOOD, startTimeUnixNano="9" * 60),
        ("started_at", "startTimeUnixNano must be a positive integer of nanoseconds"),
    ),
    "negative start": (
        _with(GOOD, startTimeUnixNano="-5"),
        ("started_at", "startTimeUnixNano must be a positive integer of nanoseconds"),
    ),
    "end before start": (
        _with(GOOD, endTimeUnixNano="1"),
        ("ended_at", "endTimeUnixNano must be an integer not before startTimeUnixNano"),
    ),
    # DuckDB holds these times, so the split's plausible-range rule judges them
    "end in the year 40000": (
        _with(GOOD, endTimeUnixNano=str(2**70)),
        (
            "ended_at",
            "must be on or after 2000-01-01 and before 2100-01-01 "
            "(FLEETLEDGER_PLAUSIBLE_FROM/_UNTIL), got 39381-06-16 20:51:57.411303+00",
        ),
    ),
    "start in 1970": (
        _with(GOOD, startTimeUnixNano="1000000000"),
        (
            "started_at",
            "must be on or after 2000-01-01 and before 2100-01-01 "
            "(FLEETLEDGER_PLAUSIBLE_FROM/_UNTIL), got 1970-01-01 00:00:01+00",
        ),
    ),
    "counts that overflow when added": (
        _with(
            GOOD,
            attributes=[
                attr("gen_ai.usage.input_tokens", 9 * 10**18),
                attr("gen_ai.usage.cache_read.input_tokens", 9 * 10**18),
                attr("gen_ai.usage.cache_creation.input_tokens", 9 * 10**18),
            ],
        ),
        ("input_tokens", "must be at most 1e+13, got 9000000000000000000"),
    ),
}


@pytest.mark.parametrize("bad, problem", POISON.values(), ids=POISON.keys())
def test_a_poison_value_quarantines_its_span_only(tmp_path, bad, problem):
    read, accepted, quarantine = _parse(tmp_path / "in.jsonl", [line(bad, OTHER)])
    assert (read, [s["span_id"] for s in accepted["spans"]]) == (2, [OTHER["spanId"]])
    assert quarantine == [(1, 1, *problem)]


def test_a_resource_attribute_without_a_key_quarantines_each_of_its_spans(tmp_path):
    keyless = [attr("service.name", "svc"), {"key": None, "value": {"stringValue": "x"}}]
    text = _export(_resource({"spans": [GOOD, OTHER]}, attributes=keyless))
    reason = ("attributes", "resource attributes include one without a key")
    assert _parse(tmp_path / "in.jsonl", [text]) == (2, {}, [(1, 1, *reason), (1, 2, *reason)])


def test_a_file_of_poison_values_ingests(settings):
    path = settings.raw_dir / "poison.jsonl"
    path.write_text("".join(line(bad, OTHER) + "\n" for bad, _ in POISON.values()))
    result = ingest_file(path, settings)
    assert (result.status, result.rows_read) == ("ingested", 2 * len(POISON))
    # OTHER is accepted once; its copies on the other lines are duplicates
    assert (result.rows_accepted, result.rows_quarantined) == (1, 2 * len(POISON) - 1)


# --- item 4: present but unreadable counts and costs name their column ----------------

UNREADABLE_COUNTS = {
    "a word": ('{"stringValue": "abc"}', "abc"),
    "NaN as text": ('{"intValue": "NaN"}', "NaN"),
    "NaN as a double": ('{"doubleValue": "NaN"}', "nan"),
    "Infinity": ('{"doubleValue": "Infinity"}', "inf"),
    "1e400 as a number": ('{"intValue": 1e400}', "1e400"),
    "1e400 as a double": ('{"doubleValue": 1e400}', "inf"),
    "2^63": ('{"intValue": "9223372036854775808"}', "9223372036854775808"),
    "a boolean": ('{"boolValue": true}', "true"),
    "a fraction": ('{"doubleValue": 12.5}', "12.5"),
    "a negative number": ('{"intValue": "-5"}', "-5"),
    "hexadecimal": ('{"intValue": "0x10"}', "0x10"),
    "a list": ('{"arrayValue": {"values": [{"intValue": "1"}]}}', '["1"]'),
    "a long text": ('{"stringValue": "' + "x" * 100 + '"}', "x" * 79 + "…"),
}


@pytest.mark.parametrize("value, shown", UNREADABLE_COUNTS.values(), ids=UNREADABLE_COUNTS.keys())
def test_an_unreadable_token_count_quarantines_its_span(tmp_path, value, shown):
    text = _attribute_json("gen_ai.usage.input_tokens", value)
    read, accepted, quarantine = _parse(tmp_path / "in.jsonl", [text])
    assert (read, len(accepted["spans"])) == (2, 1)
    reason = f"gen_ai.usage.input_tokens cannot be read as a count: {shown}"
    assert quarantine == [(1, 1, "input_tokens", reason)]


@pytest.mark.parametrize(
    "key, column",
    [
        ("llm.token_count.prompt", "input_tokens"),
        ("gen_ai.usage.completion_tokens", "output_tokens"),
        ("gen_ai.usage.cache_read.input_tokens", "cache_read_tokens"),
        ("gen_ai.usage.cache_creation_input_tokens", "cache_write_tokens"),
        ("llm.token_count.completion_details.reasoning", "reasoning_tokens"),
    ],
)
def test_every_count_column_and_alias_is_checked(tmp_path, key, column):
    text = _attribute_json(key, '{"stringValue": "many"}')
    _, _, quarantine = _parse(tmp_path / "in.jsonl", [text])
    assert quarantine == [(1, 1, column, f"{key} cannot be read as a count: many")]


@pytest.mark.parametrize(
    "value, shown",
    [
        ('{"stringValue": "abc"}', "abc"),
        ('{"stringValue": "NaN"}', "NaN"),
        ('{"doubleValue": "Infinity"}', "inf"),
        ('{"doubleValue": 1e400}', "inf"),
        ('{"boolValue": false}', "false"),
    ],
)
def test_an_unreadable_cost_quarantines_its_span(tmp_path, value, shown):
    text = _attribute_json("gen_ai.usage.cost", value)
    read, accepted, quarantine = _parse(tmp_path / "in.jsonl", [text])
    assert (read, len(accepted["spans"])) == (2, 1)
    reason = f"gen_ai.usage.cost cannot be read as a finite number: {shown}"
    assert quarantine == [(1, 1, "reported_cost_usd", reason)]


def test_readable_counts_and_costs_in_every_written_form(tmp_path):
    forms = {
        "b7ad6b7169203341": ('{"intValue": "75"}', 75),
        "b7ad6b7169203342": ('{"intValue": 75}', 75),
        "b7ad6b7169203343": ('{"doubleValue": 75.0}', 75),
        "b7ad6b7169203344": ('{"stringValue": " 75 "}', 75),
        "b7ad6b7169203345": ('{"doubleValue": 7.5e1}', 75),
        "b7ad6b7169203346": ('{"intValue": "0"}', 0),
        "b7ad6b7169203347": ("{}", None),  # an empty value: no count, as if absent
    }
    lines = [
        _attribute_json("gen_ai.usage.output_tokens", value, _with(GOOD, spanId=span_id))
        for span_id, (value, _) in forms.items()
    ]
    costed = _with(OTHER, spanId="b7ad6b7169203350")
    cost = _attribute_json("gen_ai.usage.cost", '{"stringValue": "0.25"}', costed)
    read, accepted, quarantine = _parse(tmp_path / "in.jsonl", [*lines, cost])
    assert read == 2 * len(forms) + 2
    assert (len(accepted["spans"]), len(quarantine)) == (len(forms) + 2, len(forms))
    assert {r[2:] for r in quarantine} == {  # OTHER, the same span on each line
        ("span_id", "duplicate: the same span appears earlier in this file")
    }
    spans = {s["span_id"]: s for s in accepted["spans"]}
    assert {span_id: spans[span_id]["output_tokens"] for span_id in forms} == {
        span_id: expected for span_id, (_, expected) in forms.items()
    }
    assert spans[costed["spanId"]]["reported_cost_usd"] == pytest.approx(0.25)
    assert spans[OTHER["spanId"]]["output_tokens"] is None  # absent: unknown, no problem
    assert spans[OTHER["spanId"]]["reported_cost_usd"] is None


def test_an_unreadable_evaluation_score_or_time_quarantines_the_evaluation(tmp_path):
    def evaluation(score: str, time: str | None = None) -> dict:
        event = {
            "name": otlp.EVALUATION_EVENT,
            "attributes": [
                attr("gen_ai.evaluation.name", "quality"),
                {"key": "gen_ai.evaluation.score.value", "value": {"stringValue": score}},
            ],
        }
        return event if time is None else {**event, "timeUnixNano": time}

    events = [
        evaluation("0.5"),
        evaluation("NaN"),
        evaluation("0.5", "zero"),
        evaluation("0.5", str(10**25)),
        evaluation("0.5", "0"),  # unset: dated by the span's end
        {"name": otlp.EVALUATION_EVENT, "attributes": [{"key": None, "value": {}}]},
    ]
    text = line(_with(GOOD, events=events))
    read, accepted, quarantine = _parse(tmp_path / "in.jsonl", [text])
    assert (read, len(accepted["spans"]), len(accepted["evaluations"])) == (7, 1, 1)
    assert quarantine == [
        (1, 2, "score_value", "gen_ai.evaluation.score.value cannot be read as a finite "
         "number: NaN"),
        (1, 3, "evaluated_at", "timeUnixNano must be a positive integer of nanoseconds"),
        (1, 4, "evaluated_at", f"timeUnixNano is too large to be a time: {10**25}"),
        (1, 5, "evaluated_at", "duplicate: the same row appears earlier in this file"),
        (1, 6, None, "event attributes include one without a key"),
    ]  # fmt: skip


def test_a_span_with_a_thousand_evaluations_keeps_each_apart(tmp_path):
    """Records are told apart by their position in the line, however many there are (as
    span × 1000 + event, event 1001 of one span was event 1 of the next: de-duplication
    joins on it)."""

    def evaluated(span_id: str, n: int) -> dict:
        events = [
            {
                "timeUnixNano": str(int(ns(T0)) + i * 1000),
                "name": otlp.EVALUATION_EVENT,
                "attributes": [attr("gen_ai.evaluation.name", "quality")],
            }
            for i in range(n)
        ]
        return _with(span(TRACE, span_id, T0, 100), events=events)

    text = line(evaluated(GOOD["spanId"], 1001), evaluated(OTHER["spanId"], 1))
    read, accepted, quarantine = _parse(tmp_path / "in.jsonl", [text])
    assert (read, len(accepted["spans"]), len(accepted["evaluations"])) == (1004, 2, 1002)
    assert quarantine == []


# --- item 5: evaluations are de-duplicated like spans ---------------------------------


def _evaluated_trace() -> str:
    """Two spans, each with a quality evaluation; the second evaluation has no time of
    its own (it is dated by its span's end)."""
    scored = []
    for n, score in enumerate((0.9, 0.4)):
        event = {
            "timeUnixNano": ns(T0),
            "name": otlp.EVALUATION_EVENT,
            "attributes": [
                attr("gen_ai.evaluation.name", "quality"),
                attr("gen_ai.evaluation.score.value", score),
            ],
        }
        if n:
            del event["timeUnixNano"]  # dated by its span's end
        scored.append(_with(span(TRACE, f"{n + 1:016x}", T0, 100), events=[event]))
    return line(*scored)


def test_the_same_evaluations_delivered_again_are_duplicates(settings):
    first, again = settings.raw_dir / "evals.jsonl", settings.raw_dir / "evals-resent.jsonl"
    first.write_text(_evaluated_trace() + "\n")
    again.write_text(_evaluated_trace() + "\n")
    assert first.read_bytes() == again.read_bytes()
    once = ingest_file(first, settings)
    twice = ingest_file(again, settings)
    assert (once.rows_read, once.rows_accepted, once.rows_quarantined) == (4, 4, 0)
    assert (twice.rows_read, twice.rows_accepted, twice.rows_quarantined) == (4, 0, 4)
    stored = duckdb.sql(
        "select table_name, field, reason from read_parquet($glob) order by all",
        params={"glob": str(settings.lake_dir / "quarantine" / "*" / "*.parquet")},
    ).fetchall()
    holder = str(first.resolve())
    assert stored == [
        ("evaluations", "evaluated_at", f"duplicate: this row is already stored from {holder}"),
        ("evaluations", "evaluated_at", f"duplicate: this row is already stored from {holder}"),
        ("spans", "span_id", f"duplicate: this span is already stored from {holder}"),
        ("spans", "span_id", f"duplicate: this span is already stored from {holder}"),
    ]
    evaluations = pq.read_table(settings.lake_dir / "evaluations").to_pylist()
    assert sorted((e["span_id"], e["score_value"]) for e in evaluations) == [
        (f"{1:016x}", 0.9),
        (f"{2:016x}", 0.4),
    ]
    assert {e["evaluated_at"] for e in evaluations} == {
        T0.replace(tzinfo=UTC),
        T0.replace(tzinfo=UTC, microsecond=100_000),
    }


def test_an_evaluation_without_trace_or_span_is_deduplicated_too(tmp_path):
    """Key parts may be NULL (no traceId): the same evaluation twice is still one."""
    event = {
        "timeUnixNano": ns(T0),
        "name": otlp.EVALUATION_EVENT,
        "attributes": [attr("gen_ai.evaluation.name", "quality")],
    }
    bare = _with(GOOD, traceId=None, events=[event, event])
    read, accepted, quarantine = _parse(tmp_path / "in.jsonl", [line(bare)])
    assert (read, len(accepted["evaluations"])) == (3, 1)
    assert quarantine == [
        (1, 1, "trace_id", "is required but missing"),
        (1, 2, "evaluated_at", "duplicate: the same row appears earlier in this file"),
    ]


# --- item 6: content is never stored unless keep_content --------------------------------

CONTENT = {
    "llm.input_messages.0.message.content": "What is the weather in Paris?",
    "llm.output_messages.0.message.content": "Sunny, 21 degrees.",
    "llm.prompts.0.content": "You are a weather assistant.",
    "llm.prompt_template.variables": '{"city": "Paris"}',
    "retrieval.documents.3.document.content": "Paris lies on the Seine.",
    "gen_ai.prompt.0.content": "Hello there, model.",
    "gen_ai.completion.0.content": "Hello there, human.",
    "input.value": "Will it rain tomorrow?",
    "output.value": "No rain is expected.",
    "gen_ai.input.messages": '[{"role": "user", "content": "Hi"}]',
}


def _content_line() -> str:
    attributes = [attr(key, value) for key, value in CONTENT.items()]
    resource = [attr("service.name", "svc"), attr("input.value", "resource secret")]
    spans = [_with(GOOD, attributes=[*GOOD["attributes"], *attributes])]
    return _export(_resource({"spans": spans}, attributes=resource))


def test_content_attributes_become_length_and_hash(tmp_path):
    read, accepted, quarantine = _parse(tmp_path / "in.jsonl", [_content_line()])
    assert (read, quarantine) == (1, [])
    attributes = dict(accepted["spans"][0]["attributes"])
    stored = " ".join(f"{k}={v}" for k, v in attributes.items())
    for key, value in CONTENT.items():
        assert key not in attributes
        assert attributes[f"{key}.chars"] == str(len(value))
        assert len(attributes[f"{key}.sha256"]) == 64
        assert value not in stored
    assert "resource secret" not in stored  # resource attributes too (the span's wins)
    assert attributes["service.name"] == "svc"


def test_a_resource_content_attribute_is_summarised(tmp_path):
    resource = [attr("service.name", "svc"), attr("llm.prompts.0.content", "secret prompt")]
    text = _export(_resource({"spans": [GOOD]}, attributes=resource))
    _, accepted, _ = _parse(tmp_path / "in.jsonl", [text])
    attributes = dict(accepted["spans"][0]["attributes"])
    assert "llm.prompts.0.content" not in attributes
    assert attributes["llm.prompts.0.content.chars"] == "13"


def test_content_is_kept_when_asked(tmp_path):
    _, accepted, _ = _parse(tmp_path / "in.jsonl", [_content_line()], keep_content=True)
    attributes = dict(accepted["spans"][0]["attributes"])
    assert {key: attributes[key] for key in CONTENT} == CONTENT
    assert "input.value.chars" not in attributes


# --- item 6 (reader): a line the reader marks with a problem is quarantined as it is ---


@pytest.mark.parametrize("with_column", [True, False])
def test_a_line_with_a_reader_problem_is_one_quarantined_line(tmp_path, with_column):
    lines = {
        "line_no": pa.array([1, 3, 4], pa.int64()),
        "line": pa.array([GOOD_LINE, GOOD_LINE.replace("chat", "ch\ufffdt"), '{"resourceSp']),
    }
    if with_column:
        problems = [None, "not valid UTF-8 at byte 212", "file ends early: truncated gzip stream"]
        lines["problem"] = pa.array(problems, pa.string())
    read, accepted, quarantine = _parse(tmp_path / "in.jsonl", pa.table(lines))
    if with_column:
        assert (read, len(accepted["spans"])) == (3, 1)
        assert quarantine == [
            (3, 0, None, "not valid UTF-8 at byte 212"),
            (4, 0, None, "file ends early: truncated gzip stream"),
        ]
    else:  # the same span twice, and a cut line
        assert (read, len(accepted["spans"])) == (3, 1)
        assert quarantine == [
            (3, 1, "span_id", "duplicate: the same span appears earlier in this file"),
            (4, 0, None, "invalid JSON (truncated or corrupt line)"),
        ]


def test_the_clock_bounds_reach_times_as_timestamps(tmp_path):
    """A time DuckDB holds reaches the candidates as a timestamp, so the plausible range
    (not NULL, not an error) decides; NS keeps the builder's unit honest."""
    start = int(ns(datetime(2099, 12, 31, 23, 59, 59)))
    late = _with(GOOD, startTimeUnixNano=str(start), endTimeUnixNano=str(start + 2 * NS))
    _, _, quarantine = _parse(tmp_path / "in.jsonl", [line(late, OTHER)])
    assert quarantine == [
        (
            1,
            1,
            "ended_at",
            "must be on or after 2000-01-01 and before 2100-01-01 "
            "(FLEETLEDGER_PLAUSIBLE_FROM/_UNTIL), got 2100-01-01 00:00:01+00",
        )
    ]
