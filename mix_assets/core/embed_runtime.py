"""Optimized CPU runtimes for the embedding model: OpenVINO and ONNX Runtime.

The model stays a sentence-transformers model: only its transformer's forward pass is swapped for
a compiled one, so tokenization, length-sorted batching, pooling and normalization are
sentence-transformers' own, and the vectors match the torch ones to within the runtime's precision.
The compiled graph is exported from the weights already loaded (nothing is downloaded), with
OpenVINO's converter or torch.onnx. sentence-transformers' own `backend="onnx"/"openvino"` goes
through optimum, whose releases pin transformers or torch below this project's pins
(docs/DECISIONS.md).

`auto` picks a runtime on a CPU by measuring, once per machine, model and library versions: the
first encode times torch and OpenVINO on the same texts, keeps OpenVINO only when it is clearly
faster, and records the choice, so that later runs embed with the same runtime.
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

BACKENDS = ("auto", "torch", "openvino", "onnx")
REQUIRES = {"openvino": "openvino", "onnx": "onnxruntime"}
# OpenVINO must beat torch by this factor in the one-off measurement: a choice that noise could
# flip would make the same corpus embed differently on two runs of one machine
AUTO_MARGIN = 1.25
INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def available(backend: str) -> bool:
    need = REQUIRES.get(backend)
    return need is None or importlib.util.find_spec(need) is not None


def check(backend: str) -> None:
    if backend not in BACKENDS:
        raise ValueError(f"embedding backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    if not available(backend):
        how = "pip install 'mix_assets[onnx]'" if backend == "onnx" else f"pip install {REQUIRES[backend]}"
        raise ModuleNotFoundError(
            f"embedding backend {backend!r} needs the `{REQUIRES[backend]}` package: {how}"
        )


def compiled(run, names: list[str], config):
    """A torch module standing in for the Hugging Face model inside sentence-transformers'
    Transformer module (defined here, not at import, so that importing this module costs no torch)."""
    import torch
    from transformers.modeling_outputs import BaseModelOutput

    class Compiled(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.config = config

        def forward(self, **features):
            out = run({k: features[k].numpy() for k in names if k in features})
            return BaseModelOutput(last_hidden_state=torch.from_numpy(np.asarray(out, dtype=np.float32)))

    return Compiled()


def _example(model) -> dict:
    feats = model.tokenize(["an example sentence to trace the graph", "and a second, longer one, padded"])
    return {k: feats[k] for k in INPUTS if k in feats}


def openvino_forward(model, precision: str):
    """OpenVINO's converter on the loaded torch module; precision auto lets OpenVINO use bf16 where
    the CPU has it natively, as torch's autocast does here."""
    import openvino as ov
    import torch

    hf = model[0].auto_model.eval()
    example = _example(model)
    with torch.inference_mode():
        graph = ov.convert_model(hf, example_input=example)
    hints = {"PERFORMANCE_HINT": "LATENCY"}
    if precision in ("fp32", "bf16"):
        hints["INFERENCE_PRECISION_HINT"] = {"fp32": "f32", "bf16": "bf16"}[precision]
    model_ov = ov.Core().compile_model(graph, "CPU", hints)
    return compiled(lambda feed: model_ov(feed)[0], list(example), hf.config)


def onnx_forward(model, threads: int | None = None):
    """torch.onnx's export run by ONNX Runtime's CPU provider (fp32, with its graph optimizations)."""
    import onnxruntime as ort
    import torch

    hf = model[0].auto_model.eval()
    example = _example(model)
    names = list(example)

    class HiddenStates(torch.nn.Module):  # positional inputs: the exporter traces a plain call
        def __init__(self):
            super().__init__()
            self.hf = hf

        def forward(self, *args):
            return self.hf(**dict(zip(names, args))).last_hidden_state

    wrapper = HiddenStates()
    with tempfile.TemporaryDirectory() as tmp, torch.inference_mode():
        path = os.path.join(tmp, "model.onnx")
        torch.onnx.export(
            wrapper,
            tuple(example[k] for k in names),
            path,
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes={k: {0: "batch", 1: "tokens"} for k in [*names, "last_hidden_state"]},
            dynamo=False,
        )
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or os.cpu_count() or 1
        session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    return compiled(lambda feed: session.run(None, feed)[0], names, hf.config)


def choice_key(model_name: str, max_seq_length: int, precision: str) -> str:
    import torch

    versions = [f"torch {torch.__version__}"]
    if available("openvino"):
        import openvino

        versions.append(f"openvino {openvino.__version__}")
    cpu = platform.processor() or platform.machine()
    return f"{cpu_model() or cpu} | {os.cpu_count()} cpus | {' '.join(versions)} | {model_name} | " + (
        f"{max_seq_length} tokens | {precision}"
    )


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def read_choices(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def record_choice(path: Path, key: str, choice: dict) -> None:
    choices = {**read_choices(path), key: choice}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(choices, indent=1, sort_keys=True))
    os.replace(tmp, path)


def measure(encode_with, texts: list[str], backends=("torch", "openvino")) -> dict[str, float]:
    """docs/s of each backend on the same texts, each after one warm-up batch."""
    rates = {}
    for b in backends:
        encode_with(b, texts[:16])
        start = time.perf_counter()
        encode_with(b, texts)
        rates[b] = len(texts) / max(time.perf_counter() - start, 1e-9)
    return rates


def pick(rates: dict[str, float]) -> str:
    best = max(rates, key=lambda b: rates[b])
    return best if best == "torch" or rates[best] >= AUTO_MARGIN * rates["torch"] else "torch"
