"""ONNX export of a PyTorch module the way EdgeTune expects it (TorchScript exporter, opset 17)."""
from __future__ import annotations

import io

import onnx
import torch


def export_onnx(model: torch.nn.Module, example: torch.Tensor, path: str | None = None,
                opset: int = 17, dynamic_batch: bool = True,
                constant_folding: bool = True) -> onnx.ModelProto:
    """Export ``model`` (eval mode) with ``torch.onnx.export(dynamo=False)``; write ``path`` if given.

    The batch dimension is exported as the symbolic ``batch`` so the compiler chooses it.
    """
    model.eval()
    buf = io.BytesIO()
    axes = {"input": {0: "batch"}, "output": {0: "batch"}} if dynamic_batch else None
    torch.onnx.export(model, (example,), buf, dynamo=False, opset_version=opset,
                      input_names=["input"], output_names=["output"], dynamic_axes=axes,
                      do_constant_folding=constant_folding)
    proto = onnx.load_from_string(buf.getvalue())
    if path:
        onnx.save(proto, path)
    return proto
