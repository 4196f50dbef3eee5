#!/usr/bin/env bash
# Wall time and peak memory of materializing the corpus + cluster stages on the embedded corpus,
# from empty state, through the Dagster CLI exactly as `make run` does.
# GNU time's "Maximum resident set size" is the largest single process (each Dagster step runs in
# its own subprocess under the default multiprocess executor).
set -euo pipefail
cd "$(dirname "$0")/.."
export MIX_ASSETS_WORK=${MIX_ASSETS_WORK:-$(mktemp -d)/work}
export MIX_ASSETS_WAREHOUSE=$MIX_ASSETS_WORK/../warehouse.duckdb
home=$(mktemp -d)  # a fresh instance: storage under $home, not the project's data/dagster
printf 'telemetry:\n  enabled: false\n' > "$home/dagster.yaml"
/usr/bin/time -v make -s materialize DAGSTER_HOME="$home" 2>&1 \
  | grep -E "shards:|Elapsed \(wall|Maximum resident|merged .* super-clusters|kept .* clusters" | sed 's/^.* - //'
