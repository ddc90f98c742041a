#!/usr/bin/env python3
"""Writes this app's model.onnx (CCT-2/3x2, fixed-seed weights) and data.npz (synthetic, fixed seed).

The model is defined in tools/et/models/cct.py (shared by cct_lora, cct_finetune, cct_lastlayer);
run this script only to regenerate the committed files: builds do not need PyTorch.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools"))

from et.models.appdata import write_app  # noqa: E402

if __name__ == "__main__":
    write_app(HERE, "cct")
