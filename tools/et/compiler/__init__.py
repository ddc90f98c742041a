"""EdgeTune's training compiler: ONNX import, training-graph derivation, numpy reference, memory plan.

Modules, one responsibility each:
- ``ir``: the typed graph (Graph, Node, Tensor) and the compiler's exceptions;
- ``onnx_import``: ONNX -> IR (opset handling, op translation), with ``folding`` (constants and
  shape arithmetic) and ``fusion`` (decomposed LayerNorm, erf-GELU, MatMul+Add -> linear);
- ``ops``: the op registry, one entry per op (import rule, shapes, FLOP, gradient rule, numpy
  reference, C binding), which every other stage reads;
- ``training``: strategies, LoRA insertion, loss, backward derivation and the SGD update;
- ``autodiff``: the backward walk that applies each op's gradient rule;
- ``reference``: numpy executor of a training step (the oracle for the generated C);
- ``kernelmap``: the machinery the registry's C emitters write with; ``codegen``: the program;
- ``memory``: the static memory plan (v1) behind the ``MemoryPlanner`` interface;
- ``report``: per-strategy summary tables.
"""
