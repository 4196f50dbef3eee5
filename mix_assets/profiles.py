"""Deployment profiles, picked by one environment variable, MIX_ASSETS_PROFILE:

- local (default): the instance in dagster.yaml (sqlite under data/dagster), Dagster's default
  multiprocess executor, artifacts under data/work.
- ray: steps run as locally, and the shard stages and proxy trials inside them fan out over a Ray
  cluster (MIX_ASSETS_RAY_ADDRESS) through dagster-ray: Ray tasks per shard and per trial, Ray
  actors for embeddings. Artifacts must be where every Ray worker reads them (a shared folder or
  object storage).
- cluster: every step in its own Kubernetes pod (dagster-k8s `k8s_job_executor`), GPU steps asking
  for `nvidia.com/gpu` through their op tags, instance storage in Postgres (deploy/cluster/dagster.yaml
  with dagster-postgres), input and artifacts on object storage (MIX_ASSETS_INPUT / MIX_ASSETS_WORK
  set to s3://, gs://, ... URIs; fsspec reads them).
"""

from mix_assets import environment

PROFILES = ("local", "ray", "cluster")


def profile() -> str:
    name = environment.profile()
    if name not in PROFILES:
        raise ValueError(f"MIX_ASSETS_PROFILE={name!r}: choose one of {', '.join(PROFILES)}")
    return name


def gpu_op_tags() -> dict:
    """Op tags of a step that runs on a GPU when it has one: on the cluster, its pod requests
    MIX_ASSETS_GPUS_PER_STEP GPUs (default 1); locally the `device="auto"` setting finds CUDA itself."""
    if profile() != "cluster":
        return {"gpu": "optional"}
    gpus = environment.cluster_limits()["MIX_ASSETS_GPUS_PER_STEP"]
    return {
        "gpu": "required",
        "dagster-k8s/config": {"container_config": {"resources": {"limits": {"nvidia.com/gpu": gpus}}}},
    }


def workers():
    """Where shard stages and trials fan out: local processes, or the Ray cluster of the ray profile."""
    from mix_assets.workers import RayCluster, Workers

    return Workers(ray=RayCluster()) if profile() == "ray" else Workers()


def executor():
    """None keeps Dagster's default (multiprocess) executor; the cluster gets one pod per step."""
    if profile() != "cluster":
        return None
    from dagster_k8s import k8s_job_executor

    limits = environment.cluster_limits()

    return k8s_job_executor.configured(
        {
            "job_namespace": limits["MIX_ASSETS_K8S_NAMESPACE"],
            "max_concurrent": int(limits["MIX_ASSETS_MAX_PODS"]),
            "env_vars": environment.forwarded(),
            # GPU pods are the scarce ones: at most this many at once, whatever max_concurrent allows
            "tag_concurrency_limits": [
                {
                    "key": "gpu",
                    "value": "required",
                    "limit": int(limits["MIX_ASSETS_MAX_GPU_PODS"]),
                }
            ],
        },
        name="mix_assets_k8s",
    )
