"""A seeded mutator over one small real export per ingest format (issue 20's fuzz suite).

Each mutated file is a real sample changed by exactly ONE mutation, named in the file's
name and in `Case.mutation`, so a failure points at the one change that caused it.
Deterministic: every base has its own `random.Random(f"{SEED}:{base.name}")`, so adding
a base or a mutation does not reshuffle the others, and the same seed gives the same bytes.

Before it is mutated, each file's row keys are made its own (`Base.unique`, from a tag
derived from the file name): otherwise every copy after the first would be quarantined
as a duplicate, and a poison value would never reach the lake and the warehouse build.

The samples are the project's fixtures (tests/fixtures, copied from shared/fixtures),
cut to at most 50 records; native eval results have no fixture and are written here
in the documented native schema (README, "Native format").
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

SEED = 20  # issue 20
MAX_RECORDS = 50
FIXTURES = Path(__file__).parent.parent / "fixtures"
NESTING = 5000
NESTING_SLUG = f"list-nested-{NESTING}"
LONG_TEXT = 10_000
LONG_NAME = 250
DEEP_LIST = "[" * NESTING + "]" * NESTING


@dataclass(frozen=True)
class Raw:
    """A JSON token written as is: what `json` will not write (1e400, a 5,000-deep list)."""

    token: str


@dataclass(frozen=True)
class Poison:
    label: str
    json: object  # in a JSON record
    text: str  # in a CSV cell


POISONS = (
    Poison("abc", "abc", "abc"),
    Poison("NaN", Raw("NaN"), "NaN"),
    Poison("Infinity", Raw("Infinity"), "Infinity"),
    Poison("1e400", Raw("1e400"), "1e400"),
    Poison("1e30", Raw("1e30"), "1e30"),
    Poison("2^63", 2**63, str(2**63)),
    Poison("-1", -1, "-1"),
    Poison("-1e12", Raw("-1e12"), "-1e12"),
    Poison("1e20", Raw("1e20"), "1e20"),
    Poison("true", True, "true"),
    Poison("null", None, ""),
    Poison("{}", {}, "{}"),
    Poison("[]", [], "[]"),
    Poison(NESTING_SLUG, Raw(DEEP_LIST), DEEP_LIST),
    Poison(f"str-{LONG_TEXT}", "x" * LONG_TEXT, "x" * LONG_TEXT),
)  # fmt: skip


def epoch_seconds(year: int, month: int = 1, day: int = 1) -> int:
    """Unix seconds of a proleptic Gregorian date, any year (datetime stops at year 1)."""
    y = year - (month <= 2)
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return (era * 146097 + doe - 719468) * 86400


YEARS = {  # label: (ISO text, unix seconds)
    "year-minus-100": ("-0100-01-01T00:00:00Z", epoch_seconds(-100)),
    "year-0001": ("0001-01-01T00:00:00Z", epoch_seconds(1)),
    "year-9999": ("9999-12-31T23:59:59Z", epoch_seconds(9999, 12, 31) + 86399),
}
TIME_POISONS = {  # by how a format writes time: label → value
    "iso": {label: iso for label, (iso, _) in YEARS.items()},
    "ns": {"1e25ns": "1" + "0" * 25, **{k: str(s * 10**9) for k, (_, s) in YEARS.items()}},
    "unix": {"1e20s": 10**20, "2^63s": 2**63, "-1s": -1, **{k: s for k, (_, s) in YEARS.items()}},
}


@dataclass(frozen=True)
class Case:
    name: str  # the file name: base, number, mutation
    base: str
    fmt: str  # the format of the unmutated sample
    container: str  # otlp | jsonl | csv | page | parquet: how a test counts its records
    mutation: str  # what was changed, exactly
    data: bytes
    pristine: bytes = b""  # the same file before its mutation (keys already made unique)
    intact: bool = False  # the container still parses: only records, keys or values changed


@dataclass(frozen=True)
class Base:
    name: str
    fmt: str
    container: str  # otlp | jsonl | csv | page
    load: Callable[[], list | dict]  # records (otlp, jsonl, csv) or the page
    targets: tuple[tuple, ...]  # path suffixes of values worth poisoning
    times: tuple[tuple, ...]  # path suffixes of timestamps
    time_kind: str  # iso | ns | unix
    unique: Callable[[list | dict, str], None]  # make the row keys this file's own
    columns: tuple[str, ...] = ()  # CSV header
    extra: tuple[str, ...] = ()  # mutations beyond the common ones


# ---------------------------------------------------------------- the real samples


def _jsonl(*names: str) -> Callable[[], list]:
    def load() -> list:
        lines = [x for n in names for x in (FIXTURES / n).read_text().splitlines() if x.strip()]
        return [json.loads(x) for x in lines[:MAX_RECORDS]]

    return load


def _csv_rows(name: str) -> list[dict]:
    with open(FIXTURES / name, newline="", encoding="utf-8") as handle:
        rows = csv.DictReader(handle)
        return [dict(row) for _, row in zip(range(MAX_RECORDS), rows, strict=False)]


def _csv_header(name: str) -> tuple[str, ...]:
    with open(FIXTURES / name, newline="", encoding="utf-8") as handle:
        return tuple(next(csv.reader(handle)))


def _page(name: str) -> Callable[[], dict]:
    return lambda: json.loads((FIXTURES / "billing" / name).read_text())


def _eval_results() -> list:
    return [
        {"run_id": "run-7", "dataset": "refunds-v3", "item_id": f"item-{i}", "trial": 1,
         "agent_name": "refund-agent", "variant": "gpt-4.1-mini", "model": "gpt-4.1-mini",
         "prompt_version": "v7", "score_name": "quality", "score_value": 0.5 + i / 10,
         "cost_usd": 0.0021, "input_tokens": 1200 + i, "output_tokens": 300,
         "latency_ms": 812.5, "evaluated_at": f"2026-10-07T08:0{i}:00Z"}
        for i in range(3)
    ]  # fmt: skip


# ---------------------------------------------------------------- keys made unique


def _retag_hex(value: object, tag: str) -> object:
    """An id with its first 8 characters replaced by the tag (hex stays hex, a UUID a UUID)."""
    return tag + value[8:] if isinstance(value, str) and len(value) > 8 else value


def _each(key: str, rewrite: Callable[[object, str], object]):
    def unique(records: list, tag: str) -> None:
        for record in records:
            if key in record:
                record[key] = rewrite(record[key], tag)

    return unique


def _otlp_unique(records: list, tag: str) -> None:
    for path, value in walk(records):
        if path[-1] == "traceId":
            put(records, path, _retag_hex(value, tag))


def _page_unique(key: str, prefix: str):
    def unique(doc: dict, tag: str) -> None:
        for bucket in doc["data"]:
            for result in bucket["results"]:
                result[key] = f"{prefix}{tag}"

    return unique


def _nothing(tree, tag: str) -> None:
    """Rows of this table are not deduplicated (scores, evaluations)."""


# ---------------------------------------------------------------- the bases

SPAN_TIMES = (("startTimeUnixNano",), ("endTimeUnixNano",))
LF_OBS_TARGETS = (("trace_id",), ("id",), ("type",), ("total_cost",), ("metadata",),
                  ("level",), ("cost_details",), ("parent_observation_id",))  # fmt: skip
LF_OBS_JSON_TARGETS = (*LF_OBS_TARGETS, ("usage_details",), ("usage_details", "input"),
                       ("usage_details", "output"))  # fmt: skip
OBSERVATIONS_CSV = "langfuse/observations_v2.csv"
FOCUS_CSV = "focus/focus_1.0_sample_1000.csv"

BASES = (
    Base("otlp", "otlp_json", "otlp",
         _jsonl("otlp/otel_openai_v2_latest_semconv.jsonl", "otlp/otel_openllmetry_openai.jsonl"),
         (("traceId",), ("spanId",), ("parentSpanId",), *SPAN_TIMES, ("name",),
          ("status", "code"), ("value",), ("value", "intValue"), ("attributes",), ("events",)),
         SPAN_TIMES, "ns", _otlp_unique,
         extra=("scopeSpans-object", "spans-object", "resourceSpans-ints", "attribute-null-key")),
    Base("langfuse_obs", "langfuse_observations", "jsonl",
         _jsonl("langfuse/observations_v2.jsonl"), LF_OBS_JSON_TARGETS,
         (("start_time",), ("end_time",)), "iso", _each("trace_id", _retag_hex)),
    Base("langfuse_obs_csv", "langfuse_observations", "csv",
         lambda: _csv_rows(OBSERVATIONS_CSV), LF_OBS_TARGETS,
         (("start_time",), ("end_time",)), "iso", _each("trace_id", _retag_hex),
         columns=_csv_header(OBSERVATIONS_CSV)),
    Base("langfuse_scores", "langfuse_scores", "jsonl", _jsonl("langfuse/scores.jsonl"),
         (("value",), ("trace_id",), ("data_type",), ("string_value",), ("name",),
          ("observation_id",), ("source",)),
         (("timestamp",),), "iso", _nothing),
    Base("langfuse_traces", "langfuse_traces", "jsonl", _jsonl("langfuse/traces_legacy.jsonl"),
         (("id",), ("metadata",), ("tags",), ("name",), ("session_id",)),
         (("timestamp",),), "iso", _each("id", lambda v, tag: f"{tag}-{v}")),
    Base("native_spans", "native_spans", "jsonl", _jsonl("native/spans.jsonl"),
         (("trace_id",), ("span_id",), ("duration_ms",), ("input_tokens",), ("output_tokens",),
          ("cache_read_tokens",), ("attributes",), ("reported_cost_usd",), ("status",)),
         (("started_at",), ("ended_at",)), "iso", _each("trace_id", _retag_hex)),
    Base("native_evaluations", "native_evaluations", "jsonl", _jsonl("native/evaluations.jsonl"),
         (("score_value",), ("trace_id",), ("name",), ("score_label",), ("source",)),
         (("evaluated_at",),), "iso", _nothing),
    Base("native_eval_results", "native_eval_results", "jsonl", _eval_results,
         (("score_value",), ("trial",), ("cost_usd",), ("latency_ms",), ("input_tokens",),
          ("run_id",), ("item_id",)),
         (("evaluated_at",),), "iso", _each("run_id", lambda v, tag: f"{v}-{tag}")),
    Base("openai_costs", "openai_costs", "page", _page("openai_costs_example.json"),
         (("amount", "value"), ("amount", "currency"), ("amount",), ("quantity",),
          ("line_item",), ("results",)),
         (("start_time",), ("end_time",)), "unix", _page_unique("project_id", "proj_"),
         extra=("results-object", "data-object")),
    Base("openai_usage", "openai_usage", "page", _page("openai_usage_completions_example.json"),
         (("input_tokens",), ("input_cached_tokens",), ("output_tokens",),
          ("num_model_requests",), ("batch",), ("model",)),
         (("start_time",), ("end_time",)), "unix", _page_unique("project_id", "proj_")),
    Base("anthropic_cost", "anthropic_cost_report", "page",
         _page("anthropic_cost_report_example.json"),
         (("amount",), ("currency",), ("token_type",), ("model",), ("results",)),
         (("starting_at",), ("ending_at",)), "iso", _page_unique("workspace_id", "wrkspc_")),
    Base("anthropic_usage", "anthropic_usage_report", "page",
         _page("anthropic_usage_report_messages_example.json"),
         (("uncached_input_tokens",), ("cache_creation", "ephemeral_5m_input_tokens"),
          ("cache_creation",), ("output_tokens",), ("cache_read_input_tokens",)),
         (("starting_at",), ("ending_at",)), "iso", _page_unique("workspace_id", "wrkspc_")),
    Base("focus", "focus", "csv", lambda: _csv_rows(FOCUS_CSV),
         (("BilledCost",), ("EffectiveCost",), ("ListCost",), ("ConsumedQuantity",),
          ("Tags",), ("BillingCurrency",), ("ChargeCategory",)),
         (("ChargePeriodStart",), ("ChargePeriodEnd",)), "iso",
         _each("BillingAccountId", lambda v, tag: tag), columns=_csv_header(FOCUS_CSV)),
)  # fmt: skip
SUFFIXES = {"otlp": ".jsonl", "jsonl": ".jsonl", "csv": ".csv", "page": ".json"}


# ---------------------------------------------------------------- paths in a tree


def walk(tree, path: tuple = ()) -> Iterator[tuple[tuple, object]]:
    """(path, value) of every node under `tree`, parents first."""
    if path:
        yield path, tree
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from walk(value, (*path, key))
    elif isinstance(tree, list):
        for index, value in enumerate(tree):
            yield from walk(value, (*path, index))


def put(tree, path: tuple, value) -> None:
    for step in path[:-1]:
        tree = tree[step]
    tree[path[-1]] = value


def get(tree, path: tuple):
    for step in path:
        tree = tree[step]
    return tree


def spelled(path: tuple) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")


def _matches(tree, suffixes: tuple[tuple, ...]) -> list[tuple]:
    return [p for p, _ in walk(tree) if any(p[-len(s) :] == s for s in suffixes)]


# ---------------------------------------------------------------- writing


def encode(value) -> str:
    """JSON text, with `Raw` tokens written as they are."""
    if isinstance(value, Raw):
        return value.token
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{encode(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(encode(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def serialise(base: Base, tree, columns: tuple[str, ...] | None = None) -> bytes:
    if base.container == "page":
        return encode(tree).encode()
    if base.container == "csv":
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(columns or base.columns)
        for row in tree:
            writer.writerow([row.get(c, "") for c in base.columns])
        return text.getvalue().encode()
    return "".join(encode(record) + "\n" for record in tree).encode()


# ---------------------------------------------------------------- mutations


def _renamed(key: str) -> str:
    """The same key in another case: trace_id → Trace_Id, traceId → TraceId, ListCost →
    listcost."""
    renamed = "_".join(part[:1].upper() + part[1:] for part in key.split("_"))
    return renamed if renamed != key else key.lower()


def _poisoned(base: Base, tree, rng: random.Random, value, label: str, suffixes) -> str:
    path = rng.choice(_matches(tree, suffixes))
    if base.container == "csv":
        value = value.text if isinstance(value, Poison) else str(value)
    elif isinstance(value, Poison):
        value = value.json
    put(tree, path, value)
    return f"{spelled(path)} = {label}"


def _key_case(base: Base, tree, rng: random.Random) -> tuple[str, tuple | None]:
    """Rename one key in another case; for CSV, the header (returned) names the column."""
    if base.container == "csv":
        column = rng.choice([s[0] for s in base.targets + base.times])
        header = tuple(_renamed(c) if c == column else c for c in base.columns)
        return f"header {column} → {_renamed(column)}", header
    path = rng.choice(_matches(tree, base.targets + base.times))
    parent, key = get(tree, path[:-1]), path[-1]
    parent[_renamed(key)] = parent.pop(key)
    return f"key {spelled(path)} → {_renamed(key)}", None


def _structure(base: Base, tree, kind: str) -> str:
    """A list where an object is expected, or the other way round."""
    if kind == "scopeSpans-object":
        path = (0, "resourceSpans", 0, "scopeSpans")
        put(tree, path, get(tree, (*path, 0)))
        return f"{spelled(path)} = its first element (an object, not a list)"
    if kind == "spans-object":
        path = (0, "resourceSpans", 0, "scopeSpans", 0, "spans")
        put(tree, path, get(tree, (*path, 0)))
        return f"{spelled(path)} = its first element (an object, not a list)"
    if kind == "resourceSpans-ints":
        tree[0]["resourceSpans"] = [1, 2]
        return "[0].resourceSpans = [1, 2]"
    if kind == "attribute-null-key":
        path = (0, "resourceSpans", 0, "scopeSpans", 0, "spans", 0, "attributes", 0, "key")
        put(tree, path, None)
        return f"{spelled(path)} = null"
    if kind == "results-object":
        tree["data"][0]["results"] = tree["data"][0]["results"][0]
        return "data[0].results = its first element (an object, not a list)"
    if kind == "data-object":
        tree["data"] = tree["data"][0]
        return "data = its first bucket (an object, not a list)"
    raise ValueError(kind)  # pragma: no cover


def _cut_line(data: bytes, rng: random.Random, *, rest: bool, header: bool) -> tuple[str, bytes]:
    """Cut one record's line (never a CSV header) mid-way; with `rest`, later lines stay."""
    lines = data.split(b"\n")
    candidates = [i for i, line in enumerate(lines) if i >= header and len(line) > 2]
    i = rng.choice(candidates)
    cut = rng.randrange(1, len(lines[i]))
    if rest:
        lines[i] = lines[i][:cut]
        return f"line {i + 1} cut after {cut} bytes, later lines kept", b"\n".join(lines)
    offset = sum(len(line) + 1 for line in lines[:i]) + cut
    return f"file cut after {offset} of {len(data)} bytes (mid line {i + 1})", data[:offset]


def _byte_mutations(base: Base):
    """(slug, function(bytes, rng) → (description, bytes)) of the byte-level mutations.

    Pages share one reader, so two pages get them; a cut middle line, CR-only line endings
    and gzip go to one base per reader (OTLP lines, JSONL records, CSV records, pages)."""
    header = base.container == "csv"
    if base.container == "page" and base.name not in PAGE_BYTES:
        return
    if base.container == "page":  # one JSON document: its "line" is the file
        yield (
            "cut-file",
            lambda data, rng: (
                f"file cut after {len(data) * 2 // 3} of {len(data)} bytes",
                data[: len(data) * 2 // 3],
            ),
        )
    else:
        if base.name in CUT_LINE:  # a bad middle line; the others get a cut last line
            yield "cut-line", lambda data, rng: _cut_line(data, rng, rest=True, header=header)
        yield "cut-file", lambda data, rng: _cut_line(data, rng, rest=False, header=header)

    def flip(data: bytes, rng: random.Random):
        at = rng.randrange(len(data))
        return f"byte {at} ({data[at : at + 1]!r}) → 0xff", data[:at] + b"\xff" + data[at + 1 :]

    yield "byte-ff", flip
    yield "bom", lambda data, rng: ("a UTF-8 BOM before the first byte", b"\xef\xbb\xbf" + data)
    if base.name in CR_ONLY:
        yield (
            "cr-only",
            lambda data, rng: (
                "every \\n replaced by \\r (CR-only line endings)",
                data.replace(b"\n", b"\r"),
            ),
        )
    if base.name in GZIPPED[:2]:  # the two ways gzip is read: Python's (text), Arrow's (CSV)
        yield "gzip", lambda data, rng: ("gzip-compressed, complete", gzip.compress(data, mtime=0))
    if base.name in GZIPPED:

        def cut_gzip(data: bytes, rng: random.Random):
            packed = gzip.compress(data, mtime=0)
            keep = len(packed) * 2 // 3
            return f"gzip-compressed, cut after {keep} of {len(packed)} bytes", packed[:keep]

        yield "gzip-cut", cut_gzip


def _records_of(base: Base, tree) -> list:
    return tree["data"] if base.container == "page" else tree


def _tree_mutations(base: Base, poisons: list[Poison], times: list[str]):
    """(slug, function(tree, rng) → (description, CSV header or None)) of the record-level
    mutations: a key in another case, a repeated record, shuffled records, poison values,
    extreme timestamps, and the base's structural ones."""
    yield "key-case", lambda tree, rng: _key_case(base, tree, rng)

    def duplicate(tree, rng: random.Random):
        records = _records_of(base, tree)
        i = rng.randrange(len(records))
        records.insert(i + 1, json.loads(json.dumps(records[i])))
        return f"{'bucket' if base.container == 'page' else 'record'} {i + 1} repeated", None

    yield "duplicate", duplicate
    if base.name in SHUFFLED:

        def reorder(tree, rng: random.Random):
            rng.shuffle(tree)
            return f"the {len(tree)} records shuffled", None

        yield "reorder", reorder
    for p in poisons:
        yield (
            f"value-{p.label}",
            lambda tree, rng, p=p: (_poisoned(base, tree, rng, p, p.label, base.targets), None),
        )
    for label in times:
        value = TIME_POISONS[base.time_kind][label]
        yield (
            f"time-{label}",
            lambda tree, rng, v=value, lb=label: (
                _poisoned(base, tree, rng, v, lb, base.times),
                None,
            ),
        )
    for kind in base.extra:
        yield kind, lambda tree, rng, k=kind: (_structure(base, tree, k), None)


VALUES_PER_BASE = 3
PAGE_BYTES = ("openai_usage", "anthropic_cost")
CR_ONLY = CUT_LINE = ("otlp", "native_spans", "focus")
GZIPPED = ("otlp", "focus", "native_spans", "openai_usage")
SHUFFLED = ("otlp", "native_spans", "focus")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.=^-]+", "_", text)


def _tag(name: str) -> str:
    """Hex, so a hex id or a UUID stays one when the tag replaces its first 8 characters."""
    return hashlib.sha256(name.encode()).hexdigest()[:8]


def base_cases(base: Base, poisons: list[Poison], times: list[str]) -> list[Case]:
    """The control file and every mutated file of one base."""
    rng = random.Random(f"{SEED}:{base.name}")
    suffix = SUFFIXES[base.container]
    cases: list[Case] = []

    def fresh(slug: str, suffix: str = suffix) -> tuple[str, list | dict, bytes]:
        name = f"{base.name}--{len(cases):02d}-{_slug(slug)}{suffix}"
        tree = base.load()
        base.unique(tree, _tag(name))
        return name, tree, serialise(base, tree)

    name, _, control = fresh("control")
    cases.append(Case(name, base.name, base.fmt, base.container, "none (the sample, keys made "
                      "unique)", control, control, intact=True))  # fmt: skip
    for slug, mutate in _tree_mutations(base, poisons, times):
        name, tree, pristine = fresh(slug)
        description, header = mutate(tree, rng)
        data = serialise(base, tree, header)
        # a page is one JSON document: nested deeper than Python's reader goes, it cannot
        # be read at all, so it is set aside (a JSON Lines record is quarantined instead)
        unreadable = slug == "data-object" or (base.container == "page" and NESTING_SLUG in slug)
        cases.append(Case(name, base.name, base.fmt, base.container, f"{slug}: {description}",
                          data, pristine, intact=not unreadable))  # fmt: skip
    for slug, mutate in _byte_mutations(base):
        gz = ".gz" if slug.startswith("gzip") else ""
        name, _, pristine = fresh(slug, suffix + gz)
        description, data = mutate(pristine, rng)
        cases.append(Case(name, base.name, base.fmt, base.container, f"{slug}: {description}",
                          data, pristine, intact=slug == "gzip"))  # fmt: skip
    return cases


# ---------------------------------------------------------------- Parquet exports

LANGFUSE_PARQUET_TYPES = {
    "start_time": pa.timestamp("us"),
    "end_time": pa.timestamp("us"),
    "usage_details": pa.map_(pa.string(), pa.int64()),
    "total_cost": pa.float64(),
}
FOCUS_PARQUET_TYPES = {
    "ChargePeriodStart": pa.timestamp("us"),
    "ChargePeriodEnd": pa.timestamp("us"),
    "BilledCost": pa.float64(),
}


def _langfuse_parquet(tag: str) -> tuple[list[dict], pa.Schema]:
    """The observations as a Langfuse Parquet export types them (as tests/ingest/test_langfuse)."""
    rows = _jsonl("langfuse/observations_v2.jsonl")()
    _each("trace_id", _retag_hex)(rows, tag)
    for row in rows:
        for key, value in row.items():
            if key in ("start_time", "end_time"):
                try:
                    row[key] = datetime.fromisoformat(value) if value else None
                except ValueError:
                    row[key] = None
            elif key == "usage_details":
                row[key] = list(value.items())
            elif key not in LANGFUSE_PARQUET_TYPES and not isinstance(value, str | None):
                row[key] = json.dumps(value)
    return rows, pa.schema([(k, LANGFUSE_PARQUET_TYPES.get(k, pa.string())) for k in rows[0]])


def _focus_parquet(tag: str) -> tuple[list[dict], pa.Schema]:
    """The FOCUS sample with typed charge periods and billed cost, the rest as text."""
    rows = _csv_rows(FOCUS_CSV)
    for row in rows:
        row["BillingAccountId"] = tag
        for key in ("ChargePeriodStart", "ChargePeriodEnd"):
            row[key] = datetime.fromisoformat(row[key])
        row["BilledCost"] = None if row["BilledCost"] == "NULL" else float(row["BilledCost"])
    columns = _csv_header(FOCUS_CSV)
    return rows, pa.schema([(k, FOCUS_PARQUET_TYPES.get(k, pa.string())) for k in columns])


PARQUET_BASES = (  # name, format, rows, poisons (slug, column, value)
    ("langfuse_obs_parquet", "langfuse_observations", _langfuse_parquet,
     (("time-year-9999", "start_time", datetime(9999, 12, 31, 23, 59, 59)),
      ("value-Infinity", "total_cost", float("inf")))),
    ("focus_parquet", "focus", _focus_parquet,
     (("time-year-0001", "ChargePeriodStart", datetime(1, 1, 1)),
      ("value-NaN", "BilledCost", float("nan")))),
)  # fmt: skip


def _parquet_bytes(rows: list[dict], schema: pa.Schema) -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), sink)
    return sink.getvalue()


def parquet_cases() -> list[Case]:
    cases = []
    for base, fmt, load, poisons in PARQUET_BASES:
        rng = random.Random(f"{SEED}:{base}")
        slugs = ["control", *(p[0] for p in poisons), "cut-file", "byte-ff"]
        for n, slug in enumerate(slugs):
            name = f"{base}--{n:02d}-{slug}.parquet"
            rows, schema = load(_tag(name))
            pristine = _parquet_bytes(rows, schema)
            data, mutation = pristine, "none (the sample, keys made unique)"
            if slug.startswith(("time-", "value-")):
                _, column, value = poisons[n - 1]
                i = rng.randrange(len(rows))
                rows[i][column] = value
                data, mutation = _parquet_bytes(rows, schema), f"{slug}: [{i}].{column} = {value}"
            elif slug == "cut-file":
                keep = len(pristine) * 2 // 3
                data, mutation = (
                    pristine[:keep],
                    f"cut-file: cut after {keep} of {len(pristine)} bytes",
                )
            elif slug == "byte-ff":
                at = rng.randrange(len(pristine) // 3, len(pristine) * 2 // 3)
                data = pristine[:at] + b"\xff" + pristine[at + 1 :]
                mutation = f"byte-ff: byte {at} ({pristine[at : at + 1]!r}) → 0xff"
            intact = slug not in ("cut-file", "byte-ff")
            cases.append(Case(name, base, fmt, "parquet", mutation, data, pristine, intact))
    return cases


# ---------------------------------------------------------------- odd files


def odd_cases() -> list[Case]:
    """A name of 250 characters (a good export, and an unrecognised file), an empty file."""
    spans = next(b for b in BASES if b.name == "native_spans")
    head, tail = "native_spans--99-long-name-", ".jsonl"
    name = head + "n" * (LONG_NAME - len(head) - len(tail)) + tail
    rows = spans.load()
    spans.unique(rows, _tag(name))
    good = serialise(spans, rows)
    junk_head, junk_tail = "junk--01-long-name-", ".json"
    junk = junk_head + "j" * (LONG_NAME - len(junk_head) - len(junk_tail)) + junk_tail
    not_export = b'{"hello": "not an export"}\n'
    return [
        Case(name, "native_spans", "native_spans", "jsonl",
             f"long-name: a {LONG_NAME}-character file name", good, good, intact=True),
        Case(junk, "junk", "", "jsonl", f"long-name: an unrecognised file, {LONG_NAME}-character "
             "name", not_export, not_export),
        Case("junk--00-empty.jsonl", "junk", "", "jsonl", "empty: a file of 0 bytes", b"", b""),
    ]  # fmt: skip


# ---------------------------------------------------------------- the corpus

TIMES_PER_KIND = {"iso": 2, "unix": 3, "ns": len(TIME_POISONS["ns"])}


def corpus() -> list[Case]:
    """Every control and mutated file, in name order, the same bytes on every call.

    Poison values are dealt round-robin over the bases from one seeded shuffle, so each
    value lands in two or three formats; extreme timestamps likewise by the way a base
    writes time (ISO text, OTLP nanoseconds, OpenAI unix seconds)."""
    deal = list(POISONS)
    random.Random(f"{SEED}:poisons").shuffle(deal)
    dealt_times: dict[str, int] = {}
    cases = []
    for b, base in enumerate(BASES):
        poisons = [deal[(b * VALUES_PER_BASE + k) % len(deal)] for k in range(VALUES_PER_BASE)]
        labels, n = list(TIME_POISONS[base.time_kind]), TIMES_PER_KIND[base.time_kind]
        k = dealt_times[base.time_kind] = dealt_times.get(base.time_kind, -1) + 1
        times = [labels[(k * n + j) % len(labels)] for j in range(n)]
        cases += base_cases(base, poisons, times)
    cases += parquet_cases() + odd_cases()
    names = [c.name for c in cases]
    assert len(set(names)) == len(names), "two mutated files share a name"
    return sorted(cases, key=lambda c: c.name)
