"""Two processes writing one DuckDB warehouse at once both finish, and nothing is lost or corrupted."""

import subprocess
import sys
import textwrap

from mix_assets.resources import Warehouse
from mix_assets_tests.conftest import ROOT, cli_env

WRITER = textwrap.dedent("""
    import sys, polars as pl
    from mix_assets.resources import Warehouse
    w = Warehouse(database=sys.argv[1])
    for i in range(40):
        rows = pl.DataFrame({"writer": [sys.argv[2]] * 50, "i": [i] * 50, "v": list(range(50))})
        w.replace("stress", rows, where={"writer": sys.argv[2]})
""")


def test_concurrent_writers_are_serialised_by_lock_retries(tmp_path):
    db = str(tmp_path / "w.duckdb")
    Warehouse(database=db).replace(
        "stress", __import__("polars").DataFrame({"writer": ["seed"], "i": [0], "v": [0]})
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, db, name], cwd=ROOT, stderr=subprocess.PIPE, text=True
        )
        for name in ("a", "b")
    ]
    for p in procs:
        assert p.wait(timeout=300) == 0, p.stderr.read()[-2000:]
    table = Warehouse(database=db).query(
        "SELECT writer, count(*) AS n, max(i) AS last FROM mix.stress GROUP BY writer ORDER BY writer"
    )
    assert table.rows() == [("a", 50, 39), ("b", 50, 39), ("seed", 1, 0)]  # each writer's last batch, whole


def test_two_dagster_runs_at_once_write_the_warehouse(searcher, tmp_path):
    p = searcher()
    env = cli_env(p, tmp_path)
    keys = sorted(f.stem for f in p.input.iterdir())
    with Warehouse(database=p.warehouse.database).get_connection() as con:
        con.execute(
            "DROP TABLE mix.shard_summaries"
        )  # the copied project had it: make both runs write it anew
    subprocess.run(
        [sys.executable, "-m", "mix_assets.cli", "shards"], cwd=ROOT, env=env, check=True, capture_output=True
    )
    runs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "dagster",
                "asset",
                "materialize",
                "-m",
                "mix_assets.definitions",
                "--select",
                "raw_shards",
                "--partition",
                k,
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for k in keys
    ]
    for r in runs:
        out = r.communicate(timeout=300)[0]
        assert r.returncode == 0, out[-3000:]
    summaries = Warehouse(database=str(tmp_path / "warehouse.duckdb")).query(
        "SELECT shard, count(*) AS n FROM mix.shard_summaries GROUP BY shard ORDER BY shard"
    )
    assert summaries.rows() == [(k, 1) for k in keys]
