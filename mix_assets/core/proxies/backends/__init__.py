"""The proxy backends a search can name (`backend:` in the project file). Each module declares one
Backend (backends/base.py); adding a backend is one module plus one line in REGISTERED below."""

from __future__ import annotations

from mix_assets.core.proxies.backends import external, gpt, imported, ngram
from mix_assets.core.proxies.backends.base import Backend, NoSettings

REGISTERED = (ngram.BACKEND, gpt.BACKEND, external.BACKEND, imported.BACKEND)

BACKENDS: dict[str, Backend] = {b.name: b for b in REGISTERED}
NAMES = tuple(BACKENDS)

__all__ = ["BACKENDS", "NAMES", "Backend", "NoSettings", "get"]


def get(name: str) -> Backend:
    if name not in BACKENDS:
        raise ValueError(f"unknown proxy backend {name!r}; choose one of {', '.join(NAMES)}")
    return BACKENDS[name]
