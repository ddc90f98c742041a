"""EdgeTune's training compiler: ONNX import, training-graph derivation, numpy reference, memory plan.

Modules, one responsibility each:
- ``ir``: the typed graph (Graph, Node, Tensor) and the compiler's exceptions;
- ``onnx_import``: ONNX -> IR (opset handling, op translation), with ``folding`` (constants and
  shape arithmetic) and ``fusion`` (decomposed LayerNorm, erf-GELU, MatMul+Add -> linear);
- ``shapes``: static shape inference and FLOP counts of the IR's ops;
- ``training``: strategies, LoRA insertion, loss, backward derivation and the SGD update;
- ``autodiff``: the per-op backward rules the training module applies;
- ``reference``: numpy executor of a training step (the oracle for the generated C);
- ``memory``: the static memory plan (v1) behind the ``MemoryPlanner`` interface;
- ``report``: per-strategy summary tables.
"""
