"""`config/models.yaml` (+ optional `models.local.yaml`): the dates providers stop serving
models, so the monthly review can name the agents still calling them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import yaml

from pipelines.errors import UserError

MODELS_FILE = "models.yaml"
LOCAL_FILE = "models.local.yaml"


class RetirementsError(UserError, ValueError):
    """models.yaml is not as expected; the message names the file, row and field."""


@dataclass(frozen=True)
class Retirement:
    provider: str
    model: str
    retires_on: date
    source: str | None = None
    note: str | None = None


def load_retirements(config_dir: Path) -> dict[tuple[str, str], Retirement]:
    """(provider, model) → its retirement; models.local.yaml overrides models.yaml."""
    found: dict[tuple[str, str], Retirement] = {}
    for name in (MODELS_FILE, LOCAL_FILE):
        path = config_dir / name
        if path.exists():
            found |= {(r.provider, r.model): r for r in _read(path)}
    return found


def _read(path: Path) -> list[Retirement]:
    document = yaml.safe_load(path.read_text()) or {}
    rows = document.get("models") if isinstance(document, dict) else None
    if not isinstance(rows, list):
        raise RetirementsError(f"{path}: expected `models:` with a list of models")
    result = []
    for index, row in enumerate(rows):
        where = f"{path}: models[{index}]"
        if not isinstance(row, dict):
            raise RetirementsError(f"{where}: expected provider, model, retires_on")
        for field in ("provider", "model"):
            if not isinstance(row.get(field), str) or not row[field]:
                raise RetirementsError(f"{where}.{field}: required text, got {row.get(field)!r}")
        if not isinstance(row.get("retires_on"), date):
            raise RetirementsError(
                f"{where}.retires_on: a date like 2026-12-31, got {row.get('retires_on')!r}"
            )
        unknown = set(row) - {"provider", "model", "retires_on", "source", "note"}
        if unknown:
            raise RetirementsError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
        result.append(Retirement(**row))
    return result
