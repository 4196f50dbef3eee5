"""Your own trainer, run per trial through Dagster Pipes (assets/trials.py starts it from the step,
so the command's logs and messages land in the run)."""

from dataclasses import dataclass, field

from mix_assets.core.proxies.backends.base import Backend


@dataclass(frozen=True)
class ExternalSettings:
    command: list[str] = field(default_factory=list)  # e.g. [python, train_proxy.py]; {extras} via Pipes


def run(job: dict, s: ExternalSettings) -> tuple[dict, dict | None]:
    raise ValueError("backend=external runs in the step: its Pipes session needs the step")


BACKEND = Backend(
    "external", ExternalSettings, "external", run, in_step=True, summary="your command, via Dagster Pipes"
)
