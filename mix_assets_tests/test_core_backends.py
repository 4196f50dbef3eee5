"""The proxy-backend registry: one list of names that the project file, the resource and the workers
read, typed settings per backend, and a new backend as docs/assets.md writes it."""

import re
import types

import numpy as np
import pytest

from mix_assets.core.proxies import backends
from mix_assets.project import ProjectFileError, SearchSpec, parse
from mix_assets.resources import search_settings
from mix_assets_tests.conftest import ROOT


def test_every_registered_backend_has_its_block_and_nothing_else_is_accepted():
    assert backends.NAMES == ("ngram", "gpt", "external", "import")
    for b in backends.REGISTERED:
        assert b.block in SearchSpec.model_fields
        # the block's defaults are the settings dataclass's
        block = SearchSpec(targets={"t.parquet": 1.0}, backend=b.name).model_dump()[b.block]
        assert b.settings(**block) == b.settings()
    text = "searches:\n  s:\n    targets: {t.parquet: 1.0}\n    backend: BACKEND\n"
    with pytest.raises(
        ProjectFileError, match="unknown proxy backend 'forest'.*ngram, gpt, external, import"
    ):
        parse(text.replace("BACKEND", "forest"))
    with pytest.raises(ProjectFileError, match="searches.s.gpt.n_layers"):
        parse(text.replace("BACKEND", "gpt") + "    gpt: {n_layers: 4}\n")


def test_a_search_reads_its_own_backend_settings_and_older_keys_land_in_their_blocks():
    spec = SearchSpec(targets={"t.parquet": 1.0}, backend="external", external_command=["python", "train.py"])
    search = search_settings(spec, project_seed=7)
    assert search.proxy.in_step and search.proxy_settings().command == ["python", "train.py"]
    assert search.seed == 7 and search.minimize
    imported = search_settings(
        SearchSpec(targets={"t.parquet": 1.0}, backend="import", import_results="r.csv")
    )
    assert imported.proxy_settings().results == "r.csv" and not imported.proxy.needs_corpus
    small = search_settings(SearchSpec(targets={"t.parquet": 1.0}, backend="gpt", gpt={"n_layer": 1}))
    assert small.proxy.gpu and small.proxy_settings().n_layer == 1 and small.proxy_settings().n_head == 4


def test_the_backend_written_in_docs_assets_runs_a_trial_and_ranks_below_the_ngram(searcher):
    from mix_assets.assets.search_state import domains
    from mix_assets.assets.trials import corpus_key

    page = (ROOT / "docs" / "assets.md").read_text()
    code = re.search(r"# mix_assets/core/proxies/backends/unigram.py\n(.*?)```", page, re.S).group(1)
    unigram = types.ModuleType("unigram")
    exec(code, unigram.__dict__)  # the module exactly as the page writes it
    assert isinstance(unigram.BACKEND, backends.Backend) and unigram.BACKEND.needs_corpus
    p = searcher()
    p.run_search(["search_targets"])
    job = {
        "corpus": corpus_key(p.storage, "demo"),
        "weights": domains(p.storage, "demo").natural().weights.tolist(),
        "token_budget": 100_000,
        "seed": 1,
        "max_epochs": 15.0,
        "pool_share": 1.0,
        "evaluate": True,
    }
    got, documents = unigram.run(job, unigram.UnigramSettings())
    trigram, _ = backends.get("ngram").run(job, backends.get("ngram").settings())
    assert documents is None and set(got) == set(trigram) >= {"objective", "eval_objective"}
    assert np.isfinite(list(got.values())).all()
    assert got["objective"] > trigram["objective"] + 0.5  # a unigram model is a much worse proxy
