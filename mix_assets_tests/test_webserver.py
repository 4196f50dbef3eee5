"""The real UI server: `dagster dev` on loopback with the project's workspace; a run is launched and
its materialization metadata read back through the GraphQL API, as the UI and scripts do."""

import os
import signal
import subprocess
import sys
import time

import pytest
import requests
from dagster_graphql import DagsterGraphQLClient

from mix_assets_tests.conftest import ROOT, corpus_sample, free_port, shard_env, write_shards

METADATA = """query ($path: [String!]!) { assetOrError(assetKey: {path: $path}) { ... on Asset {
  assetMaterializations(limit: 1) { partition runId metadataEntries { label
    ... on IntMetadataEntry { intValue } ... on FloatMetadataEntry { floatValue }
    ... on TextMetadataEntry { text } } } } } }"""


@pytest.fixture
def ui(project, tmp_path):
    keys = write_shards(corpus_sample(3, seed=8), project.input, 1)
    env = shard_env(project, tmp_path)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "dagster", "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.time() + 180
        while time.time() < deadline:
            try:
                if requests.get(f"http://127.0.0.1:{port}/server_info", timeout=2).ok:
                    break
            except requests.ConnectionError:
                time.sleep(1)
        else:
            pytest.fail("dagster dev did not answer on loopback within 180 s")
        yield port, keys
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)


def test_a_run_launched_through_graphql_succeeds_and_its_metadata_reads_back(ui):
    port, [key] = ui
    client = DagsterGraphQLClient("127.0.0.1", port_number=port)
    run_id = client.submit_job_execution("ingest_shards", tags={"dagster/partition": key})
    deadline = time.time() + 300
    status = None
    while time.time() < deadline:
        status = client.get_run_status(run_id).value
        if status in ("SUCCESS", "FAILURE", "CANCELED"):
            break
        time.sleep(2)
    assert status == "SUCCESS"

    def metadata(asset: str) -> dict:
        answer = requests.post(
            f"http://127.0.0.1:{port}/graphql",
            json={"query": METADATA, "variables": {"path": [asset]}},
            timeout=30,
        ).json()
        [mat] = answer["data"]["assetOrError"]["assetMaterializations"]
        assert mat["runId"] == run_id and mat["partition"] == key
        return {
            e["label"]: e.get("intValue", e.get("floatValue", e.get("text"))) for e in mat["metadataEntries"]
        }

    docs = metadata("raw_shards")["documents"]
    assert docs == 8 * 3  # corpus_sample(3): three documents of each of the eight domains
    emb = metadata("embeddings")
    assert (
        emb["documents"] == docs and emb["docs_per_second"] > 0 and emb["device"].startswith(("cpu", "cuda"))
    )
