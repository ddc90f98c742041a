"""PyTorch definitions of the apps' models (CCT-2/3x2, the MLPerf Tiny autoencoder) and their ONNX
export, and the model zoo (``zoo``: edge models as their authors write them, for the tests and
``tools/bench.py --zoo``).

Only the apps' model scripts, the benchmark and the tests import this package; builds use the
committed ONNX (or, for the zoo, the export ``zoo.export`` writes under build/zoo).
"""
