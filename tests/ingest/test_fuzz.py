"""Issue 20: whatever an exporter writes, the ingest reads it without a traceback, keeps
going, and loses no record; the warehouse builds over whatever it accepted.

About 175 files, each one real sample (one per format, tests/ingest/mutations.py) changed
by one seeded mutation, go through ONE `ingest_paths` run, as `fleetledger ingest` runs
them: one Great Expectations context, one lake, the files in name order. For every file:
no exception escapes; it is ingested or set aside; records read = accepted +
quarantined; and records read agree with a count made here from the bytes alone. A
good file named after every mutated one must still be ingested, and one warehouse build
over the lake must succeed.

A seeded mutator, not hypothesis: the whole corpus shares one lake and one ingest run (a
file per example would cost ~0.3 s and a GX context each), every failure is reported at
once with the exact mutation that causes it (hypothesis stops at the first and shrinks),
and a file's name says its mutation, so a failure is reproduced by ingesting that file.
When an exception escapes, the run is resumed after the file that raised it, so one run
lists every failure.
"""

from __future__ import annotations

import csv
import io
import json
import traceback
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipelines import warehouse
from pipelines.ingest import FileResult, ingest_paths, raw_files
from pipelines.ingest.detect import SIGNATURES
from pipelines.settings import Settings
from tests.conftest import TINY_REGISTRY, settings_with_registry
from tests.ingest import mutations
from tests.ingest.mutations import Case

EVALUATION_EVENT = "gen_ai.evaluation.result"
SENTINEL = "zz-sentinel.jsonl"  # sorts after every mutated file
SENTINEL_SPANS = [
    {"trace_id": "5e" * 16, "span_id": f"5e5e5e5e5e5e5e{i:02x}", "operation": "chat",
     "agent_name": "weather-agent", "started_at": f"2026-10-07T08:0{i}:00Z",
     "ended_at": f"2026-10-07T08:0{i}:01Z", "status": "ok", "input_tokens": 10}
    for i in range(3)
]  # fmt: skip


@dataclass
class Run:
    settings: Settings
    cases: dict[str, Case]
    results: dict[str, FileResult] = field(default_factory=dict)
    raised: dict[str, str] = field(default_factory=dict)  # file → exception, where
    first_stop: str | None = None  # the file whose exception ended the first run
    build_error: str | None = None


def described(error: BaseException) -> str:
    """Type, first line of the message, and the deepest frame in pipelines/."""
    frames = traceback.extract_tb(error.__traceback__)
    ours = [f for f in frames if "/pipelines/" in f.filename] or frames
    where = ours[-1] if ours else None
    message = (str(error).strip().splitlines() or [""])[0]
    message = message if len(message) <= 240 else message[:240] + "…"
    at = f" [{Path(where.filename).parent.name}/{Path(where.filename).name}:{where.lineno} " \
         f"{where.name}]" if where else ""  # fmt: skip
    return f"{type(error).__name__}: {message}{at}"


def ingest_everything(run: Run) -> None:
    """One `ingest_paths` over the raw folder; when an exception escapes, it is noted
    against the file that raised it and the run resumes after that file."""
    order = list(raw_files([run.settings.raw_dir]))
    remaining: list[Path] | None = None  # None: the first run, over the folder
    while remaining is None or remaining:
        pending = order if remaining is None else remaining
        done: list[FileResult] = []
        try:
            ingest_paths([run.settings.raw_dir] if remaining is None else remaining,
                         run.settings, on_file=done.append)  # fmt: skip
            remaining = []
        except Exception as error:
            culprit = pending[len(done)].name if len(done) < len(pending) else "(Data Docs)"
            run.raised[culprit] = described(error)
            if run.first_stop is None and remaining is None:
                run.first_stop = culprit
            remaining = pending[len(done) + 1 :]
        run.results.update({r.path.name: r for r in done})


@pytest.fixture(scope="module")
def fuzz(tmp_path_factory) -> Run:
    settings = settings_with_registry(tmp_path_factory.mktemp("fuzz"), TINY_REGISTRY)
    cases = {c.name: c for c in mutations.corpus()}
    for case in cases.values():
        (settings.raw_dir / case.name).write_bytes(case.data)
    sentinel = "".join(json.dumps(span) + "\n" for span in SENTINEL_SPANS)
    (settings.raw_dir / SENTINEL).write_text(sentinel)
    run = Run(settings, cases)
    ingest_everything(run)
    try:
        warehouse.build(settings)
    except Exception as error:
        run.build_error = described(error)
    return run


# ---------------------------------------------------------------- independent counts


def text_of(data: bytes) -> str:
    """The file as text: gunzipped (as much as a cut stream holds), bad bytes replaced."""
    if data[:2] == b"\x1f\x8b":
        try:
            data = zlib.decompressobj(wbits=31).decompress(data)
        except zlib.error:
            data = b""
    return data.decode("utf-8", errors="replace")


def nonblank_lines(data: bytes) -> list[str]:
    """Lines as the readers end them: at LF, CRLF or a lone CR."""
    text = text_of(data).replace("\r\n", "\n").replace("\r", "\n")
    return [line for line in text.split("\n") if line.strip()]


def not_json(token: str):
    raise ValueError(f"{token} is not JSON")


def strict_json(text: str):
    """JSON as the spec has it: NaN and Infinity are not JSON."""
    return json.loads(text, parse_constant=not_json)


def otlp_records(line: str) -> int:
    """The records an OTLP/JSON line holds: each span and each evaluation event in it, and
    each container that is not what the spec says (a resourceSpans, scopeSpans or spans
    that is not a list, an element of one that is not an object) as one bad record;
    a line that is not JSON, or holds no resourceSpans list, is one bad record."""
    try:
        document = strict_json(line)
    except (ValueError, TypeError, RecursionError):
        return 1
    if not isinstance(document, dict) or not isinstance(document.get("resourceSpans"), list):
        return 1

    def inside(container, key: str, count) -> int:
        items = container.get(key, [])
        if not isinstance(items, list):
            return 1
        return sum(count(item) if isinstance(item, dict) else 1 for item in items)

    def span(s: dict) -> int:
        events = s.get("events", [])
        events = events if isinstance(events, list) else []
        return 1 + sum(isinstance(e, dict) and e.get("name") == EVALUATION_EVENT for e in events)

    def resource(rs: dict) -> int:
        return inside(rs, "scopeSpans", lambda ss: inside(ss, "spans", span))

    return max(inside(document, "resourceSpans", resource), 1)


@dataclass(frozen=True)
class Expected:
    """Records read, as counted here from the file's bytes."""

    says: str
    allows: Callable[[int], bool]


def exactly(n: int, container: str) -> Expected:
    return Expected(f"{n} ({container})", lambda read: read == n)


def expected_records(case: Case) -> Expected | None:
    """Records read, from the bytes alone; None when the container is unreadable here.

    A JSONL record is a non-blank line; a CSV record a row after the header; a Parquet
    record a row; a page's bucket holds its results, or is one bad record when it is not
    a bucket with a results list. OTLP: a line the sample has unchanged holds exactly its
    records (`otlp_records`); a changed line holds either one (quarantined whole) or at
    least its records; several changed lines at least one each."""
    if case.container == "jsonl":
        return exactly(len(nonblank_lines(case.data)), "non-blank lines")
    if case.container == "otlp":
        own = {line: otlp_records(line) for line in nonblank_lines(case.pristine)}
        lines = nonblank_lines(case.data)
        kept = sum(own[line] for line in lines if line in own)
        changed = [otlp_records(line) for line in lines if line not in own]
        if not changed:
            return exactly(kept, "OTLP records of unchanged lines")
        if len(changed) == 1 and changed[0] > 1:
            least = kept + changed[0]
            return Expected(
                f"{kept} in unchanged lines + the changed line: 1 (quarantined whole) or its "
                f"{changed[0]} records, so {kept + 1} or at least {least}",
                lambda read: read == kept + 1 or read >= least,
            )
        return Expected(
            f"{kept} in unchanged lines + at least 1 in each of {len(changed)} changed line(s)",
            lambda read: read >= kept + len(changed),
        )
    if case.container == "csv":
        rows = [r for r in csv.reader(io.StringIO(text_of(case.data), newline="")) if r]
        return exactly(max(len(rows) - 1, 0), "CSV rows after the header")
    if case.container == "page":
        try:
            page = json.loads(text_of(case.data))
        except (ValueError, RecursionError):
            return None
        if not isinstance(page, dict) or not isinstance(page.get("data"), list):
            return None
        return exactly(sum(
            len(b["results"]) if isinstance(b, dict) and isinstance(b.get("results"), list) else 1
            for b in page["data"]
        ), "results of the page's buckets")  # fmt: skip
    try:
        return exactly(pq.read_metadata(io.BytesIO(case.data)).num_rows, "Parquet rows")
    except Exception:  # a cut or corrupt Parquet file: no count
        return None


def problems(case: Case, result: FileResult | None, raised: str | None) -> list[str]:
    """What is wrong with one file's outcome (nothing, when all is well)."""
    if raised:
        return [f"raised {raised}"]
    if result is None:
        return ["never reached by the ingest"]
    if result.status not in ("ingested", "set aside"):
        return [f"status {result.status!r} (expected ingested or set aside)"]
    if result.status == "set aside":
        return []
    found = []
    read, accepted, quarantined = result.rows_read, result.rows_accepted, result.rows_quarantined
    if read != accepted + quarantined:
        found.append(f"conservation: read {read} ≠ accepted {accepted} + quarantined {quarantined}")
    expected = expected_records(case)
    if expected is not None and not expected.allows(read):
        found.append(
            f"count: read {read} (accepted {accepted}, quarantined {quarantined}), but the "
            f"file holds {expected.says}"
        )
    return found


def report(failures: list[tuple[Case, str]]) -> str:
    lines = [f"{len(failures)} failure(s):"]
    for case, problem in failures:
        lines.append(f"- {case.name}\n    mutation: {case.mutation}\n    {problem}")
    return "\n".join(lines)


# ---------------------------------------------------------------- the tests


def test_the_corpus_is_deterministic_and_covers_every_format():
    first, second = mutations.corpus(), mutations.corpus()
    assert [(c.name, c.data) for c in first] == [(c.name, c.data) for c in second]
    assert {c.fmt for c in first if c.fmt} == {name for name, _ in SIGNATURES}
    assert all(len(c.data) > 0 for c in first if not c.name.startswith("junk--00"))
    assert max(len(c.name) for c in first) == mutations.LONG_NAME
    assert all(c.name < SENTINEL for c in first)


def test_every_control_file_is_ingested_as_its_own_format(fuzz):
    """The unmutated samples ingest: else the mutations below prove nothing."""
    wrong = [
        (case, f"{r.status} as {r.source_format} (expected ingested as {case.fmt}) {r.note}")
        for case in fuzz.cases.values()
        if case.mutation.startswith("none")
        and (r := fuzz.results.get(case.name)) is not None
        and (r.status, r.source_format) != ("ingested", case.fmt)
    ]
    assert not wrong, report(wrong)


def test_every_mutated_file_is_read_without_a_traceback_and_loses_no_record(fuzz):
    """No exception escapes; ingested or set aside; read = accepted + quarantined; read
    agrees with the independent count. Every failing mutation is listed at once."""
    failures = [
        (case, problem)
        for name, case in fuzz.cases.items()
        for problem in problems(case, fuzz.results.get(name), fuzz.raised.get(name))
    ]
    if "(Data Docs)" in fuzz.raised:
        pytest.fail(f"rendering the Data Docs raised {fuzz.raised['(Data Docs)']}")
    assert not failures, report(failures)


def test_a_bad_record_never_sets_its_file_aside(fuzz):
    """A bad value, key, timestamp or nesting in a file whose container still parses
    quarantines records; only an unreadable container (cut, corrupt bytes) sets the whole
    file aside."""
    wrong = [
        (case, f"set aside, not ingested: {result.note}")
        for name, case in fuzz.cases.items()
        if case.intact
        and (result := fuzz.results.get(name)) is not None
        and result.status == "set aside"
    ]
    assert not wrong, report(wrong)


def test_the_run_continues_past_every_mutated_file(fuzz):
    """The first `ingest_paths` run reaches the good file named after all the others."""
    stop = fuzz.first_stop
    case = fuzz.cases.get(stop)
    assert stop is None, (
        f"the run stopped at {stop} ({case.mutation if case else 'after the last file'}): "
        f"{fuzz.raised[stop]}; the files after it, {SENTINEL} last, were never read"
    )
    result = fuzz.results[SENTINEL]
    assert (result.status, result.rows_read, result.rows_accepted, result.rows_quarantined) == (
        "ingested", 3, 3, 0,
    )  # fmt: skip


def odd_days(lake_dir: Path) -> list[str]:
    """Lake partitions of days before 1970 or after 2100, with the files they came from."""
    found = []
    for folder in sorted(lake_dir.glob("*/day=*")):
        day = folder.name.removeprefix("day=")
        if not "1970" <= day <= "2100":  # a year before 0 starts with '-'
            sources = {
                Path(s).name
                for f in folder.glob("*.parquet")
                for s in pq.read_table(f, columns=["source_file"])["source_file"].to_pylist()
            }
            found.append(f"{folder.parent.name}/{folder.name} ← {', '.join(sorted(sources))}")
    return found


def test_the_warehouse_builds_over_everything_accepted(fuzz):
    """A poison value the ingest accepted must not break the build."""
    assert fuzz.build_error is None, (
        f"warehouse.build raised {fuzz.build_error}\nlake days before 1970 or after 2100:\n  "
        + "\n  ".join(odd_days(fuzz.settings.lake_dir))
    )
