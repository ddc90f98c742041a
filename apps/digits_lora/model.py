#!/usr/bin/env python3
"""Writes this app's model.onnx (CCT-2/3x2 for 1x16x16 at half width, pretrained on the host) and data.npz.

The task (tools/et/models/digits.py): pretrain on scikit-learn's digits as scanned, then adapt
on the device to a second sensor (inverted contrast, blur, noise). data.npz holds the adaptation
set (``input``, ``labels``: 300 target-domain images the device trains on) and the held-out set
(``eval_input``, ``eval_labels``: 297 target-domain images it only evaluates). pretrain.json
records the pretrained model's accuracy as PyTorch measures it. Run it only to regenerate the
committed files (needs PyTorch, scikit-learn, SciPy; about 20 s on 2 cores).
"""
import json
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools"))

from et.models import digits  # noqa: E402
from et.models.export import export_onnx  # noqa: E402

if __name__ == "__main__":
    torch.set_num_threads(1)   # the same weights on every machine's CPU count
    data = digits.splits()
    model = digits.pretrain(data)
    acc = {"source_held_out": digits.accuracy(model, data["held_out_source_x"], data["held_out_y"]),
           "target_held_out": digits.accuracy(model, data["held_out_x"], data["held_out_y"]),
           "target_adapt": digits.accuracy(model, data["adapt_x"], data["adapt_y"])}
    export_onnx(model, torch.zeros(1, 1, digits.SIDE, digits.SIDE),
                os.path.join(HERE, "model.onnx"), constant_folding=False)
    np.savez_compressed(os.path.join(HERE, "data.npz"), input=data["adapt_x"],
                        labels=data["adapt_y"], eval_input=data["held_out_x"],
                        eval_labels=data["held_out_y"])
    with open(os.path.join(HERE, "pretrain.json"), "w") as f:
        json.dump({"_what": "accuracy of the pretrained model (PyTorch, host) on the held-out "
                   "images of the source domain and of the target domain, and on the "
                   "adaptation set", **{k: round(v, 4) for k, v in acc.items()},
                   "pretrain_images": digits.PRETRAIN, "mean": float(data["mean"]),
                   "std": float(data["std"])}, f, indent=1)
        f.write("\n")
    print(f"{HERE}: pretrained accuracy {acc}")
