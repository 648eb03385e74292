"""The demo keeps an existing registry, and its own registry is the tracked one, so neither
`make demo` nor `make test` changes a tracked file (conftest's `repo_stays_clean` guards
the rest)."""

from __future__ import annotations

import shutil
from datetime import date

from pipelines.synth import generate_demo, registry_text
from tests.conftest import REPO, repo_changes


def _demo(root, config, messages: list[str]) -> None:
    generate_demo(root / "data", config, days=1, calls_per_day=50, seed=3,
                  end=date(2026, 10, 2), progress=messages.append)  # fmt: skip


def test_the_demo_registry_is_the_tracked_one():
    assert registry_text() == (REPO / "config" / "agents.yaml").read_text()


def test_a_first_demo_in_a_fresh_clone_changes_no_tracked_config(tmp_path):
    config = tmp_path / "config"
    shutil.copytree(REPO / "config", config, ignore=shutil.ignore_patterns("models.local.yaml"))
    before = {p.name: p.read_bytes() for p in config.iterdir()}
    messages: list[str] = []
    _demo(tmp_path, config, messages)
    after = {p.name: p.read_bytes() for p in config.iterdir() if p.name != "models.local.yaml"}
    assert after == before
    assert f"kept the registry {config / 'agents.yaml'} (it is the demo's)" in messages


def test_an_edited_registry_is_kept_byte_identical_over_two_demos(tmp_path):
    config = tmp_path / "config"
    config.mkdir()
    edited = registry_text().replace("team: customer-care", "team: care", 1) + "# mine\n"
    (config / "agents.yaml").write_text(edited)
    messages: list[str] = []
    for _ in range(2):
        _demo(tmp_path, config, messages)
        assert (config / "agents.yaml").read_text() == edited
    kept = [m for m in messages if m.startswith("kept the existing registry")]
    assert len(kept) == 2 and "differs from the demo's" in kept[0]


def test_a_demo_into_an_empty_config_dir_writes_the_registry(tmp_path):
    messages: list[str] = []
    _demo(tmp_path, tmp_path / "config", messages)
    assert (tmp_path / "config" / "agents.yaml").read_text() == registry_text()
    assert f"wrote the registry {tmp_path / 'config' / 'agents.yaml'}" in messages


def test_the_guard_names_every_change():
    before = {"data/a": (1, 10), "data/b": (1, 10), "reports/x": ("folder",)}
    after = {"data/a": (2, 11), "reports/x": ("folder",), "reports/x/y": (3, 12)}
    assert repo_changes(before, after, [" M README.md"], ["?? junk.txt"]) == [
        "data/a: modified", "data/b: removed", "reports/x/y: created",
        "git status, now: ?? junk.txt", "git status, no longer:  M README.md",
    ]  # fmt: skip
