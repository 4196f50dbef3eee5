"""What a proxy backend declares: its name, its settings (the search's block of the same name in the
project file), what it needs, and how it runs one trial from its job (core/proxies/trial.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# (job, the backend's settings) -> (metrics {target: value, objective, ...}, per-document losses or None)
RunTrial = Callable[[dict, Any], tuple[dict, dict | None]]


@dataclass(frozen=True)
class Backend:
    name: str  # the search's `backend:` value
    settings: type  # a dataclass with defaults: the search's `<block>:` in the project file
    block: str  # that block's key (the name, except where the name is a Python keyword)
    run: RunTrial
    needs_corpus: bool = False  # the shared proxy corpus and the search's targets, tokenized
    gpu: bool = False  # trains on a GPU where one is present (the pool asks for one per trial)
    in_step: bool = False  # runs in the Dagster step (an external command through Pipes), not a worker
    summary: str = ""

    def settings_of(self, values: dict | None) -> Any:
        """The settings from a job's plain values (unknown keys are refused by the settings type)."""
        return self.settings(**(values or {}))


@dataclass(frozen=True)
class NoSettings:
    """A backend with nothing to set."""
