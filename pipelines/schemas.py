"""Canonical tables, declared once.

Every column list in the project derives from the declarations here: parsers select
`TABLE.column_names`, writers cast to `TABLE.arrow_schema`, the warehouse comments come
from `Column.doc`. Naming: `_at` UTC µs timestamps, `_ms` durations, `_usd` money,
`_tokens` counts, `is_` booleans.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pyarrow as pa

TIMESTAMP = pa.timestamp("us", tz="UTC")
STRING_MAP = pa.map_(pa.string(), pa.string())
MONEY = pa.decimal128(20, 10)  # billed amounts: exact decimals, never floats
HEX32 = "[0-9a-f]{32}"
HEX16 = "[0-9a-f]{16}"
MAX_COUNT = 1e13  # more tokens or requests than any one record can honestly hold
MAX_CALL_COST_USD = 1e6  # more than any one call or eval item can honestly cost
# Timestamps outside [PLAUSIBLE_FROM, PLAUSIBLE_UNTIL) are quarantined (a span dated year
# -100 or 9999 is a broken clock, not history); Settings can move the bounds.
PLAUSIBLE_FROM = datetime(2000, 1, 1, tzinfo=UTC)
PLAUSIBLE_UNTIL = datetime(2100, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Column:
    """A column and the rules a row must meet to be accepted (row-level checks and the
    Great Expectations suites are both generated from these). Every source column of a
    canonical table also meets two rules of its type: a float is finite, and a timestamp
    lies in the plausible range (`PLAUSIBLE_FROM`/`PLAUSIBLE_UNTIL`, configurable)."""

    name: str
    type: pa.DataType
    doc: str
    required: bool = False  # a row without it is quarantined
    pattern: str | None = None  # full-match regular expression for text
    allowed: tuple[str, ...] | None = None  # the only values text may take
    min_value: float | None = None  # inclusive lower bound for numbers
    max_value: float | None = None  # inclusive upper bound for numbers
    after: str | None = None  # another column this one must be strictly greater than


@dataclass(frozen=True)
class Table:
    name: str
    doc: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]  # what makes a row the same row; a second copy is a duplicate
    day_from: str | None  # timestamp column whose UTC date is the lake partition `day`
    row_noun: str = "row"  # what a row is, in messages: "this span is already stored"

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def source_columns(self) -> list[Column]:
        """Columns a source supplies: all but lineage, which the ingest itself sets."""
        lineage = {c.name for c in LINEAGE}
        return [c for c in self.columns if c.name not in lineage]

    @property
    def ruled_columns(self) -> list[Column]:
        """Source columns with a rule: the row checks and the GX suite both come from them."""
        return [
            c
            for c in self.source_columns
            if c.required
            or c.pattern
            or c.allowed
            or c.min_value is not None
            or c.max_value is not None
            or c.after
            or c.type in (pa.float64(), TIMESTAMP)
        ]

    @property
    def arrow_schema(self) -> pa.Schema:
        return pa.schema(
            [pa.field(c.name, c.type, nullable=not c.required) for c in self.columns],
            metadata={"table": self.name, "doc": self.doc},
        )

    def empty(self) -> pa.Table:
        return self.arrow_schema.empty_table()


def documented_schema(doc: str, *fields: tuple[str, pa.DataType, str]) -> pa.Schema:
    """An Arrow schema that carries its table's doc and each column's doc as metadata: for
    the seed tables built from config and libraries rather than declared as a Table."""
    return pa.schema(
        [pa.field(name, kind, metadata={"doc": doc}) for name, kind, doc in fields],
        metadata={"doc": doc},
    )


def schema_docs(schema: pa.Schema) -> tuple[str, dict[str, str]]:
    """(table doc, column → doc) from a documented_schema."""
    doc = (schema.metadata or {}).get(b"doc", b"").decode()
    return doc, {f.name: (f.metadata or {}).get(b"doc", b"").decode() for f in schema}


def token_count(name: str, doc: str) -> Column:
    """A count (of tokens, of requests): never negative, never absurd."""
    return Column(name, pa.int64(), doc, min_value=0, max_value=MAX_COUNT)


LINEAGE = (
    Column("source_format", pa.string(), "Parser that produced the row, e.g. otlp_json.", True),
    Column("source_file", pa.string(), "Absolute path of the raw file the row came from.", True),
    Column("ingested_at", TIMESTAMP, "When fleetledger ingested the row (UTC).", True),
)

SPANS = Table(
    name="spans",
    doc="One row per span: an LLM call, an agent invocation or a tool execution.",
    key=("trace_id", "span_id"),
    day_from="started_at",
    row_noun="span",
    columns=(
        Column("trace_id", pa.string(), "32 hex chars: the trace (usually one case).", True, HEX32),
        Column("span_id", pa.string(), "16 hex chars, unique within the trace.", True, HEX16),
        Column("parent_span_id", pa.string(), "Parent span; null for a root span.", pattern=HEX16),
        Column("agent_name", pa.string(), "gen_ai.agent.name, else the resource service.name."),
        Column("agent_version", pa.string(), "gen_ai.agent.version or service.version."),
        Column("conversation_id", pa.string(), "gen_ai.conversation.id or session.id: the case."),
        Column("operation", pa.string(), "gen_ai.operation.name: chat, invoke_agent, …", True),
        Column("provider", pa.string(), "gen_ai.provider.name (or deprecated gen_ai.system)."),
        Column("request_model", pa.string(), "Model asked for (gen_ai.request.model)."),
        Column("response_model", pa.string(), "Model that answered (gen_ai.response.model)."),
        Column("response_id", pa.string(), "Provider's response id (gen_ai.response.id)."),
        Column("started_at", TIMESTAMP, "Span start (UTC, µs).", True),
        Column("ended_at", TIMESTAMP, "Span end (UTC, µs).", True),
        Column("duration_ms", pa.float64(), "ended_at − started_at in ms.", True, min_value=0),
        token_count("input_tokens", "Input tokens, INCLUDING cached (OTel semantics)."),
        token_count("output_tokens", "Output tokens, INCLUDING reasoning."),
        token_count("cache_read_tokens", "Input tokens read from the prompt cache."),
        token_count("cache_write_tokens", "Input tokens written to the prompt cache."),
        token_count("reasoning_tokens", "Output tokens spent on reasoning."),
        Column(
            "status",
            pa.string(),
            "ok, error or unset (OTel status code).",
            True,
            allowed=("ok", "error", "unset"),
        ),
        Column("error_type", pa.string(), "error.type, class reprs reduced to the class name."),
        Column("tool_name", pa.string(), "gen_ai.tool.name for tool executions."),
        Column("service_tier", pa.string(), "Provider service tier (default, batch, priority…)."),
        Column(
            "reported_cost_usd",
            pa.float64(),
            "Cost the instrumentation reported, if any.",
            min_value=0,
            max_value=MAX_CALL_COST_USD,
        ),
        Column("attributes", STRING_MAP, "Every other span and resource attribute, as text."),
        *LINEAGE,
    ),
)

EVALUATIONS = Table(
    name="evaluations",
    doc="One row per score given to a span, response or conversation.",
    key=("trace_id", "span_id", "conversation_id", "response_id", "name", "evaluated_at"),
    day_from="evaluated_at",
    columns=(
        Column("trace_id", pa.string(), "Trace the score belongs to."),
        Column("span_id", pa.string(), "Span the score belongs to."),
        Column("conversation_id", pa.string(), "Conversation (case) the score belongs to."),
        Column("response_id", pa.string(), "Provider response id the score belongs to."),
        Column("name", pa.string(), "Score name, e.g. quality or case.outcome.", True),
        Column("score_value", pa.float64(), "Numeric score, if any."),
        Column("score_label", pa.string(), "Categorical score, e.g. resolved, if any."),
        Column("source", pa.string(), "human, llm_judge, heuristic or user_feedback."),
        Column("evaluated_at", TIMESTAMP, "When the score was given (UTC).", True),
        *LINEAGE,
    ),
)

CURRENCY = "[A-Z]{3}"  # ISO 4217 code; non-USD rows are kept, flagged, never summed into USD
TOKEN_TYPES = ("input", "output", "cache_read", "cache_write")

BILLING_COSTS = Table(
    name="billing_costs",
    doc="FOCUS-aligned billed line items from every billing source.",
    key=(
        "provider",
        "billing_account_id",
        "sub_account_id",
        "api_key_id",
        "resource_id",
        "service_name",
        "sku_id",
        "charge_description",
        "model",
        "token_type",
        "service_tier",
        "charge_category",
        "billing_currency",
        "charge_period_start",
        "charge_period_end",
        "tags",
    ),
    day_from="charge_period_start",
    row_noun="charge (same key, same period)",
    columns=(
        Column("provider", pa.string(), "openai, anthropic, AWS, Microsoft, Google …", True),
        Column("billing_account_id", pa.string(), "Organisation or billing account."),
        Column("sub_account_id", pa.string(), "OpenAI project, Anthropic workspace, subscription."),
        Column("api_key_id", pa.string(), "API key the charge was made with."),
        Column("resource_id", pa.string(), "Cloud resource (deployment) id."),
        Column("service_name", pa.string(), "Cloud service, e.g. Azure OpenAI, Amazon Bedrock."),
        Column("sku_id", pa.string(), "SKU, meter or the provider's token-type name."),
        Column("charge_description", pa.string(), "Line item / description as the bill says."),
        Column("model", pa.string(), "Model, where derivable."),
        Column(
            "token_type",
            pa.string(),
            "input (uncached), output, cache_read or cache_write, where derivable.",
            allowed=TOKEN_TYPES,
        ),
        Column("service_tier", pa.string(), "standard / default / batch / priority, if known."),
        Column("charge_period_start", TIMESTAMP, "Start of the charge period (inclusive).", True),
        Column(
            "charge_period_end",
            TIMESTAMP,
            "End of the charge period (exclusive).",
            True,
            after="charge_period_start",
        ),
        Column(
            "consumed_quantity",
            pa.float64(),
            "Quantity consumed in consumed_unit (negative in FOCUS corrections).",
            min_value=-MAX_COUNT * 100,
            max_value=MAX_COUNT * 100,
        ),
        Column("consumed_unit", pa.string(), "Unit of consumed_quantity, e.g. tokens."),
        Column("billed_cost", MONEY, "Amount invoiced, in billing_currency.", True),
        Column("effective_cost", MONEY, "Amortised cost after discounts."),
        Column("list_cost", MONEY, "Cost at public list prices."),
        Column(
            "billing_currency",
            pa.string(),
            "ISO 4217 code, upper case; non-USD rows are flagged, never summed into USD.",
            True,
            CURRENCY,
        ),
        Column("charge_category", pa.string(), "Usage, Purchase, Tax, Credit, Adjustment."),
        Column("tags", STRING_MAP, "Provider tags / labels."),
        Column("extensions", STRING_MAP, "Columns beyond this schema (FOCUS x_*, Id …), as text."),
        *LINEAGE,
    ),
)

BILLING_USAGE = Table(
    name="billing_usage",
    doc="Provider-reported token counts per bucket, project/workspace, key and model.",
    key=(
        "provider",
        "bucket_start_at",
        "bucket_end_at",
        "sub_account_id",
        "api_key_id",
        "model",
        "service_tier",
        "context_window",
        "details",
    ),
    day_from="bucket_start_at",
    row_noun="usage bucket (same key, same period)",
    columns=(
        Column("provider", pa.string(), "openai or anthropic.", True),
        Column("bucket_start_at", TIMESTAMP, "Bucket start (inclusive, UTC).", True),
        Column(
            "bucket_end_at",
            TIMESTAMP,
            "Bucket end (exclusive, UTC).",
            True,
            after="bucket_start_at",
        ),
        Column("sub_account_id", pa.string(), "OpenAI project or Anthropic workspace."),
        Column("api_key_id", pa.string(), "API key."),
        Column("model", pa.string(), "Model."),
        Column("service_tier", pa.string(), "standard / default / batch / priority …"),
        Column("context_window", pa.string(), "Anthropic context-window band, e.g. 0-200k."),
        token_count("input_tokens", "Input tokens INCLUDING cached (OTel semantics)."),
        token_count("cache_read_tokens", "Cached input tokens read."),
        token_count("cache_write_tokens", "Input tokens written to the cache."),
        token_count("output_tokens", "Output tokens."),
        token_count("n_requests", "Model requests in the bucket."),
        Column(
            "details",
            STRING_MAP,
            "Every other reported field, as text: user, batch, audio/image tokens, web "
            "searches, cache-write split 5m/1h …",
        ),
        *LINEAGE,
    ),
)

EVAL_RESULTS = Table(
    name="eval_results",
    doc="One row per offline eval item × trial × score.",
    key=("run_id", "item_id", "trial", "score_name"),
    day_from="evaluated_at",
    columns=(
        Column("run_id", pa.string(), "Eval run.", True),
        Column("dataset", pa.string(), "Eval dataset."),
        Column("item_id", pa.string(), "Dataset item.", True),
        Column("trial", pa.int64(), "Repetition number of the item within the run."),
        Column("agent_name", pa.string(), "Agent under evaluation.", True),
        Column("variant", pa.string(), "Variant label: model / prompt version."),
        Column("model", pa.string(), "Model used."),
        Column("prompt_version", pa.string(), "Prompt version used."),
        Column("score_name", pa.string(), "Score name.", True),
        Column("score_value", pa.float64(), "Score value."),
        Column(
            "cost_usd",
            pa.float64(),
            "Cost of the item, if given.",
            min_value=0,
            max_value=MAX_CALL_COST_USD,
        ),
        token_count("input_tokens", "Input tokens."),
        token_count("output_tokens", "Output tokens."),
        Column("latency_ms", pa.float64(), "Latency.", min_value=0),
        Column("evaluated_at", TIMESTAMP, "When the item ran (UTC).", True),
        *LINEAGE,
    ),
)

QUARANTINE = Table(
    name="quarantine",
    doc="A rejected record with the reason; nothing is dropped silently.",
    key=("source_file", "line_no", "record_index"),
    day_from="ingested_at",
    columns=(
        Column("table_name", pa.string(), "Canonical table the record was meant for.", True),
        Column("line_no", pa.int64(), "1-based line of the source file.", True),
        Column("record_index", pa.int64(), "Position of the record within the line (0 = line)."),
        Column("field", pa.string(), "Offending field, or null when the whole line is bad."),
        Column("reason", pa.string(), "What was wrong.", True),
        Column("raw", pa.string(), "The raw record as read.", True),
        *LINEAGE,
    ),
)

INGEST_LOG = Table(
    name="ingest_log",
    doc="One row per ingested file version: what came in and where it went.",
    key=("source_file", "content_sha256"),
    day_from="ingested_at",
    columns=(
        Column("source_file", pa.string(), "Absolute path of the raw file.", True),
        Column("content_sha256", pa.string(), "SHA-256 of the file's bytes.", True),
        Column("source_format", pa.string(), "Detected or forced format.", True),
        Column(
            "commit_id",
            pa.string(),
            "Id in the names of the lake files this version wrote: the log is the lake's "
            "manifest, and only files of logged commits are part of the lake.",
            True,
        ),
        Column(
            "rows_read", pa.int64(), "Records read (spans, scores, lines that hold none).", True
        ),
        Column("rows_accepted", pa.int64(), "Records written to the lake.", True),
        Column("rows_quarantined", pa.int64(), "Records written to quarantine.", True),
        Column("days", pa.list_(pa.string()), "Lake partitions the file wrote to."),
        Column("ingested_at", TIMESTAMP, "When it was ingested.", True),
    ),
)

AGENTS = Table(
    name="agents",
    doc="The agent registry (config/agents.yaml): who owns each agent and what it must meet.",
    key=("agent_name",),
    day_from=None,
    columns=(
        Column("agent_name", pa.string(), "Agent name as it appears in traces.", True),
        Column("team", pa.string(), "Owning team."),
        Column("owner", pa.string(), "Accountable person (email)."),
        Column("purpose", pa.string(), "What the agent is for, in a sentence."),
        Column("risk_tier", pa.string(), "low, medium or high."),
        Column("lifecycle", pa.string(), "pilot, production or retiring."),
        Column("human_baseline_usd_per_case", pa.float64(), "What a human costs per case."),
        Column(
            "escalation_cost_usd",
            pa.float64(),
            "What a human costs to handle a case the agent did not resolve (default: the "
            "human baseline).",
        ),
        Column("quality_metric", pa.string(), "Evaluation name that measures its quality."),
        Column("quality_target", pa.float64(), "Minimum acceptable mean quality."),
        Column("monthly_budget_usd", pa.float64(), "Monthly spend budget."),
        Column("billing_keys", STRING_MAP, "Billing keys attributing spend to it, kind → id."),
        Column("data_lineage", pa.string(), "What data it reads and where its outputs go."),
        Column(
            "slo_targets",
            pa.map_(pa.string(), pa.float64()),
            "Its own SLO targets, overriding config/policy.yaml, SLO name → target.",
        ),
    ),
)


DATA_QUALITY = Table(
    name="data_quality",
    doc="Great Expectations results per ingested batch, day, table and expectation.",
    key=("source_file", "table_name", "day", "expectation"),
    day_from=None,
    columns=(
        Column("table_name", pa.string(), "Canonical table the suite checked.", True),
        Column("day", pa.string(), "Lake partition (UTC date) of the checked rows.", True),
        Column(
            "expectation", pa.string(), "Expectation and column, e.g. not_null(trace_id).", True
        ),
        Column("success", pa.bool_(), "Whether the expectation held for these rows.", True),
        Column(
            "element_count",
            pa.int64(),
            "Rows GX checked: a sample of up to 5,000 per table and day per run.",
            True,
        ),
        Column("unexpected_count", pa.int64(), "Rows that broke the expectation."),
        Column("source_file", pa.string(), "Raw file the rows came from.", True),
        Column("validated_at", TIMESTAMP, "When the suite ran (UTC).", True),
    ),
)

LAKE_TABLES = (SPANS, EVALUATIONS, BILLING_COSTS, BILLING_USAGE, EVAL_RESULTS)
TABLES = {t.name: t for t in (*LAKE_TABLES, QUARANTINE, INGEST_LOG, AGENTS, DATA_QUALITY)}
