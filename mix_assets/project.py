"""The project file, `mix_assets.yaml`: where the shards are, how to cluster them, and the searches.

Validated on load (pydantic). A mistake is reported with the file, the key and what to write
instead. Relative paths are relative to the file's folder, so a project moves as one folder.
Environment variables override only locations and the profile (environment.py); run config still
overrides any asset per run.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from mix_assets import schemas
from mix_assets.core.proxies import backends

NAME = re.compile(r"^[a-z][a-z0-9_]*$")
# a search's name is part of partition keys (news-r0000) and of paths
SearchName = Annotated[str, StringConstraints(pattern=NAME.pattern)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InputSpec(Strict):
    path: str = Field("data/corpus", description="folder or fsspec URI of parquet / JSONL shards")
    text_column: str = "text"
    id_column: str | None = Field("doc_id", description="null: a document's id is a hash of its text")


class ClusteringSpec(Strict):
    n_clusters: int | None = Field(None, ge=2, description="null: one per docs_per_cluster, at most 1000")
    docs_per_cluster: int = Field(64, ge=1)
    min_mean_quality: float = Field(0.8, ge=0, le=1, description="prune clusters under this mean quality")
    merge: Literal["ward", "threshold"] = "ward"
    merge_distance: float = Field(1.5, gt=0)
    n_super_clusters: int | None = Field(None, ge=1, description="set: cut the tree into this many")
    drift_threshold: float = Field(1.25, gt=0, description="assignment drift that refits k-means")


# one block per registered proxy backend, under the backend's key (`ngram:`, `gpt:`, `external:`,
# `imported:`): only the block of the search's own backend is read
BACKEND_BLOCKS = {
    b.block: schemas.from_dataclass(b.settings, f"{b.block.title()}Block", Strict)
    for b in backends.REGISTERED
}
# keys of earlier project files, read into their blocks
MOVED = {
    "external_command": ("external", "command"),
    "import_results": ("imported", "results"),
    "import_mixtures": ("imported", "mixtures"),
}


# a reuse search searches only what changed, in two rounds of 10 (olmix's update swarms are 16
# variants), the second guided by a surrogate that has the earlier trials too; with a short list
# measured once, a reuse stays within a quarter of a full search's trainings. Its round 0 is not
# spread out per domain (first_round_per_domain 0): the earlier trials already cover the simplex.
# On the refit update one round of 12 with the list measured twice was 0.021 behind a full search;
# these rounds, with round 0 drawn around the earlier mixture (core.rounds), are level with it
# (-0.004 ± 0.004 over 20 seeds; bench/README.md, "Mixture reuse")
REUSE_ROUNDS = (10, 10)
REUSE_FIRST_ROUND_PER_DOMAIN = 0

# what must match for an earlier search's trials to be evidence for this one's objective
REUSE_SAME = ("targets", "text_column", "direction", "eval_fraction", "backend", "token_budget", "seed")


def reuse_defaults() -> dict[str, Any]:
    """The fields a reuse search takes unless the project file sets them for it (the update
    searches that corpus_update_sensor adds always take them)."""
    return {"rounds": list(REUSE_ROUNDS), "first_round_per_domain": REUSE_FIRST_ROUND_PER_DOMAIN}


class SearchFields(Strict):
    """A search: what its mixture is for and how its rounds run. The one definition of a search's
    fields and defaults: the Dagster resource (resources.SearchSettings) is made from it."""

    targets: dict[str, float] = Field(description="target text file (parquet / JSONL) -> objective weight")
    text_column: str = Field("text", description="the targets' text column")
    direction: Literal["minimize", "maximize"] = Field(
        "minimize", description="minimize: lower objective is better (losses); maximize: accuracies"
    )
    eval_fraction: float = Field(
        0.5,
        gt=0,
        lt=1,
        description="share of each target's documents held out: proxies never score it, every "
        "reported comparison does",
    )
    rounds: list[int] = Field(
        default_factory=lambda: [64, 32, 16],
        min_length=1,
        description="proxy trainings per bootstrap round, as written (CLIMB's 64/32/16)",
    )
    first_round_per_domain: int = Field(
        5,
        ge=0,
        description="round 0 gets at least this many trials per domain, taken from the last rounds "
        "(core.generator.round_schedule); 0: run the rounds as written",
    )
    backend: str = Field("ngram", description=f"the proxy: {' | '.join(backends.NAMES)}")
    token_budget: int = Field(1_000_000, ge=1000, description="proxy training tokens per trial")
    target_tokens: int | None = Field(
        None,
        ge=1,
        description="tokens of the run the mixture is for (proxy-tokenizer tokens); bounds each weight "
        "at max_epochs x domain tokens / target_tokens. null: the kept corpus's tokens",
    )
    repeat_as_run: bool = Field(
        True,
        description="proxies draw from token_budget / target_tokens of each domain, so a proxy "
        "repeats a domain as often as the run the mixture is for would",
    )
    max_epochs: float = Field(
        15.0, gt=0, description="no domain repeated more than this many times in the run"
    )
    seed: int | None = Field(None, description="null: the project's seed")
    reuse: str | None = Field(
        None,
        description="an earlier search of this file to build on (mixture reuse): its trials count as "
        "prior evidence where they translate into this search's domains, the domains that did not change "
        "keep its relative weights as one block, and only the block's share and the changed or new "
        "domains are searched, in rounds of REUSE_ROUNDS (round 0 as written) unless `rounds` or "
        "`first_round_per_domain` is given",
    )
    fixed_weights: dict[str, float] = Field(
        default_factory=dict,
        description="super-cluster id -> weight every mixture of the search keeps (olmix's fixed_weight)",
    )

    @model_validator(mode="before")
    @classmethod
    def _moved(cls, data: Any) -> Any:
        if isinstance(data, dict) and any(k in data for k in MOVED):
            data = dict(data)
            for old, (key, field) in MOVED.items():
                if old in data:
                    data[key] = {**(data.get(key) or {}), field: data.pop(old)}
        return data

    @field_validator("fixed_weights", mode="before")
    @classmethod
    def _pin_keys(cls, v: Any) -> Any:
        if not isinstance(v, dict):
            return v
        out = {}
        for k, w in v.items():
            key = str(k).removeprefix("super_cluster_")
            if not key.isdigit():
                raise ValueError(f"{k!r}: pin a super-cluster by its id (3, or super_cluster_3)")
            out[key] = w
        return out

    @field_validator("fixed_weights")
    @classmethod
    def _pins(cls, v: dict[str, float]) -> dict[str, float]:
        for k, w in v.items():
            if not 0 <= w <= 1:
                raise ValueError(f"super-cluster {k}: pinned weight {w} is outside [0, 1]")
        if sum(v.values()) > 1 + 1e-9:
            raise ValueError(
                f"pinned weights sum to {sum(v.values()):g}, over 1: "
                + ", ".join(f"super-cluster {k} at {w:g}" for k, w in v.items())
            )
        return v

    @model_validator(mode="after")
    def _reuse_budget(self) -> Any:
        if self.reuse is not None:
            for field, value in reuse_defaults().items():
                if field not in self.model_fields_set:
                    setattr(self, field, value)
        return self

    @field_validator("backend")
    @classmethod
    def _backend(cls, v: str) -> str:
        if v not in backends.NAMES:
            raise ValueError(f"unknown proxy backend {v!r}; choose one of {', '.join(backends.NAMES)}")
        return v

    @field_validator("targets")
    @classmethod
    def _targets(cls, v: dict[str, float]) -> dict[str, float]:
        if not v:
            raise ValueError("needs at least one target file, e.g. {data/targets/news.parquet: 1.0}")
        bad = {k: w for k, w in v.items() if not w > 0}
        if bad:
            raise ValueError(f"target weights must be > 0: {bad}")
        stems = [Path(p).name.split(".")[0] for p in v]
        if len(set(stems)) != len(stems):
            raise ValueError(f"two targets share a file name (targets are named by it): {list(v)}")
        return v

    @field_validator("rounds")
    @classmethod
    def _rounds(cls, v: list[int]) -> list[int]:
        if any(m < 2 for m in v):
            raise ValueError(f"every round needs at least 2 proxies, got {v}")
        return v


SearchSpec = create_model(
    "SearchSpec",
    __base__=SearchFields,
    __doc__=SearchFields.__doc__,
    **{k: (m, Field(default_factory=m, description=m.__doc__)) for k, m in BACKEND_BLOCKS.items()},
)


class DatasetSpec(Strict):
    token_budget: int = Field(2_000_000, ge=1, description="tokens of the mixed dataset")
    sampling: Literal["uniform", "clusterclip"] = "uniform"
    data_prefix: str = Field(
        "data/megatron/super_cluster_{id}_text_document", description="Megatron blend paths"
    )


class ProjectFile(Strict):
    input: InputSpec = Field(default_factory=InputSpec)
    work: str = "data/work"
    warehouse: str = "data/warehouse.duckdb"
    clustering: ClusteringSpec = Field(default_factory=ClusteringSpec)
    searches: dict[SearchName, SearchSpec] = Field(
        default_factory=lambda: {
            "demo": SearchSpec(
                targets={"data/targets/mathematics.parquet": 0.5, "data/targets/all_domains.parquet": 0.5}
            )
        },
        min_length=1,
    )
    dataset: DatasetSpec = Field(default_factory=DatasetSpec)
    seed: int = Field(42, description="every sample, fit and draw of the project follows it")

    @model_validator(mode="after")
    def _reuse_known(self) -> Any:
        for name, s in self.searches.items():
            if s.reuse is None:
                continue
            if s.reuse == name or s.reuse not in self.searches:
                raise ValueError(
                    f"searches.{name}.reuse: {s.reuse!r} is not another search of this file "
                    f"(searches: {', '.join(self.searches)})"
                )
            old = self.searches[s.reuse]
            differ = [k for k in REUSE_SAME if getattr(s, k) != getattr(old, k)]
            if differ:
                raise ValueError(
                    f"searches.{name}.reuse: {name} and {s.reuse} differ in {', '.join(differ)}, so "
                    f"{s.reuse}'s trials measured another objective; make them equal or start a search "
                    "from scratch"
                )
        return self

    def resolved(self, root: Path) -> ProjectFile:
        """Relative paths made relative to the file's folder (URIs are left alone)."""

        def at(p: str | None) -> str | None:
            return p if p is None or "://" in p or Path(p).is_absolute() else str(root / p)

        searches = {
            n: s.model_copy(
                update={
                    "targets": {at(p): w for p, w in s.targets.items()},
                    "imported": s.imported.model_copy(
                        update={"results": at(s.imported.results), "mixtures": at(s.imported.mixtures)}
                    ),
                }
            )
            for n, s in self.searches.items()
        }
        return self.model_copy(
            update={
                "input": self.input.model_copy(update={"path": at(self.input.path)}),
                "work": at(self.work),
                "warehouse": at(self.warehouse),
                "searches": searches,
            }
        )


class ProjectFileError(ValueError):
    pass


HINTS = {
    "extra_forbidden": "unknown key: check its spelling against `mix-assets init`'s file",
    "missing": "required: add it",
    "string_pattern_mismatch": "a search's name: lower-case letters, digits and _, e.g. news_en",
}


def parse(text: str, source: str = "mix_assets.yaml") -> ProjectFile:
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise ProjectFileError(f"{source}: not valid YAML: {e}") from e
    if not isinstance(raw, dict):
        raise ProjectFileError(f"{source}: expected a mapping of keys (input, searches, ...), got {raw!r}")
    try:
        return ProjectFile.model_validate(raw)
    except ValidationError as e:
        lines = []
        for err in e.errors():
            key = ".".join(str(p) for p in err["loc"]) or "(top level)"
            hint = HINTS.get(err["type"], "")
            lines.append(f"  {key}: {err['msg']}" + (f" ({hint})" if hint else ""))
        raise ProjectFileError(f"{source}: {len(lines)} problem(s):\n" + "\n".join(lines)) from None


def load(path: str | Path) -> ProjectFile:
    path = Path(path)
    if not path.exists():
        raise ProjectFileError(f"{path}: no such project file; write one with `mix-assets init`")
    return parse(path.read_text(), str(path)).resolved(path.resolve().parent)


def missing_files(project: ProjectFile) -> list[str]:
    """Local target files that do not exist (validate reports them; a URI is not checked)."""
    return [
        f"searches.{n}.targets: {p} does not exist"
        for n, s in project.searches.items()
        for p in s.targets
        if "://" not in p and not Path(p).exists()
    ]
