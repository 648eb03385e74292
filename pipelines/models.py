"""The `sql/` models: one SELECT per file, its header comment declaring what it is.

Header lines (all optional but the first):
    -- <name>: what one row is.              first line: the table's comment
    -- materialized: view | slice | fact | rollup | table | macro
    -- partition: day | week_start | month_start     (rollups: the period column)
    -- parameters: period                            (macros: their arguments)
    -- grain: month_start, agent_name                 (marts: the columns unique per row)
    -- columns:
    --   <column>: meaning                   one line per column: the column's comment

Materializations (defaults: staging → view, intermediate and marts → table):
    view    a view, rebuilt each time (staging).
    slice   a table computed only for the traces a build touches, then dropped.
    fact    computed for the touched traces like a slice (there a view over the slices,
            evaluated as its rows are written), kept as day-partitioned Parquet under
            DATA/marts/<name>/ and shown in the warehouse as a view.
    rollup  a table per period (`partition`), recomputed only for the periods a build
            touches, from the facts of those periods.
    table   a table rebuilt whole each time (small inputs: bills, registry).
    macro   a DuckDB table macro other models call with `parameters`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from graphlib import TopologicalSorter
from pathlib import Path

from pipelines.errors import UserError

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
LAYERS = ("staging", "intermediate", "marts")
MATERIALIZATIONS = ("view", "slice", "fact", "rollup", "table", "macro")
PERIODS = {"day": "day", "week_start": "week", "month_start": "month"}
HEADER_COLUMN = re.compile(r"^--\s+(\w+):\s+(.+)$")
HEADER_SETTING = re.compile(r"^--\s(materialized|partition|parameters|grain):\s*(.+)$")
WORD = re.compile(r"\w+")  # a whole word of SQL: names a model when it is one


class ModelError(UserError, RuntimeError):
    """A SQL model is malformed or failed to build; the message names its file."""


@dataclass(frozen=True)
class Model:
    name: str
    layer: str
    sql: str

    @property
    def path(self) -> Path:
        return SQL_DIR / self.layer / f"{self.name}.sql"

    @property
    def header(self) -> list[str]:
        lines = []
        for line in self.sql.splitlines():
            if not line.startswith("--"):
                break
            lines.append(line)
        return lines

    def _setting(self, key: str) -> str | None:
        for line in self.header:
            if (match := HEADER_SETTING.match(line)) and match[1] == key:
                return match[2].strip()
        return None

    @property
    def materialization(self) -> str:
        default = "view" if self.layer == "staging" else "table"
        kind = self._setting("materialized") or default
        if kind not in MATERIALIZATIONS:
            raise ModelError(f"{self.path}: materialized: {kind} is not one of {MATERIALIZATIONS}")
        return kind

    @property
    def partition(self) -> str | None:
        column = self._setting("partition")
        if self.materialization == "rollup" and column not in PERIODS:
            raise ModelError(f"{self.path}: a rollup needs `-- partition:` one of {list(PERIODS)}")
        return column

    @property
    def grain(self) -> tuple[str, ...]:
        """The columns that identify a row (a mart's `-- grain:` header)."""
        return tuple(c.strip() for c in (self._setting("grain") or "").split(",") if c.strip())

    @property
    def parameters(self) -> str:
        return self._setting("parameters") or ""

    @property
    def doc(self) -> str:
        first = self.header[0] if self.header else ""
        return first.removeprefix("--").strip()

    @property
    def column_docs(self) -> dict[str, str]:
        """`--   column: meaning` lines after a `-- columns:` line of the header."""
        docs: dict[str, str] = {}
        in_columns = False
        for line in self.header:
            if line.strip() == "-- columns:":
                in_columns = True
            elif in_columns and (match := HEADER_COLUMN.match(line)):
                docs[match[1]] = match[2].strip()
        return docs


def load_models(sql_dir: Path = SQL_DIR) -> list[Model]:
    """Every `sql/<layer>/<name>.sql`, in dependency order."""
    models = {
        path.stem: Model(path.stem, layer, path.read_text())
        for layer in LAYERS
        for path in sorted((sql_dir / layer).glob("*.sql"))
    }
    graph = {name: upstream(m, models) for name, m in models.items()}
    return [models[name] for name in TopologicalSorter(graph).static_order()]


def upstream(model: Model, models) -> set[str]:
    """Names of the models this one reads (named outside its comments).

    A name is read where it stands as a whole word: the code's words are collected
    once, then each model name is looked up among them (a regex search per name and
    model made the build's column-docs walk cost a second)."""
    code = re.sub(r"--[^\n]*", "", model.sql)
    words = set(WORD.findall(code))
    return {
        other
        for other in models
        if other != model.name
        and (other in words if WORD.fullmatch(other) else re.search(rf"\b{other}\b", code))
    }


def ancestors(names: set[str], models: list[Model]) -> set[str]:
    """The given models and every model they read, transitively."""
    by_name = {m.name: m for m in models}
    found: set[str] = set()
    stack = list(names)
    while stack:
        name = stack.pop()
        if name not in found:
            found.add(name)
            stack.extend(upstream(by_name[name], by_name))
    return found


def readers(names: set[str], models: list[Model]) -> set[str]:
    """The models that read any of `names` (tables built outside sql/), transitively."""
    found: set[str] = set()
    for model in models:  # dependency order: a model's readers come after it
        code = re.sub(r"--[^\n]*", "", model.sql)
        if any(re.search(rf"\b{name}\b", code) for name in names | found):
            found.add(model.name)
    return found
