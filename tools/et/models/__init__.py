"""PyTorch definitions of the apps' models (CCT-2/3x2, the MLPerf Tiny autoencoder) and their ONNX export.

Only the apps' model scripts and the tests import this package; builds use the committed ONNX.
"""
