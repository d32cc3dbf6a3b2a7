#!/usr/bin/python3
"""Exports the reference RetinaFace to ONNX for the benchmark's onnxruntime peers.

  export_onnx.py --arch A --weights W --check C --onnx OUT.onnx --torch-check OUT_CHECK

W: the weights (project tensor file) every contestant uses. C: a tensor file holding `input`
(3, H, W). Writes the ONNX model (input `input` (1, 3, height, width) with dynamic height and
width; outputs `loc`, `conf`, `landms`) and OUT_CHECK: `input` plus PyTorch's outputs on it, the
values the peers are checked against before they are timed. The export traces a 64x96 input and
the check runs another size, so a model whose spatial sizes were frozen fails the check.

Needs only torch (1.13's torch.onnx.export serialises without the `onnx` package; that package
is only needed by onnx.checker, which we do not call: onnxruntime loading the model is the check).
"""

import argparse
import sys

import torch

from common import UNAVAILABLE, load_model, reference


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--arch', required=True)
    p.add_argument('--weights', required=True)
    p.add_argument('--check', required=True)
    p.add_argument('--onnx', required=True)
    p.add_argument('--torch-check', required=True)
    p.add_argument('--opset', type=int, default=13)
    a = p.parse_args()
    ref = reference()
    model = load_model(ref, a.arch, a.weights)
    tensors, _ = ref.read_tensor_file(a.check)
    x = tensors['input'].unsqueeze(0)
    loc, conf, landms = model(x)
    ref.write_tensor_file(a.torch_check, {'input': x[0], 'loc': loc[0], 'conf': conf[0], 'landms': landms[0]},
                          {'producer': 'bench/torch/export_onnx.py', 'torch': torch.__version__})
    dummy = torch.zeros(1, 3, 64, 96)
    try:
        torch.onnx.export(
            model, dummy, a.onnx, input_names=['input'], output_names=['loc', 'conf', 'landms'],
            dynamic_axes={'input': {2: 'height', 3: 'width'}, 'loc': {1: 'anchors'}, 'conf': {1: 'anchors'}, 'landms': {1: 'anchors'}},
            opset_version=a.opset, do_constant_folding=True)
    except Exception as e:  # noqa: BLE001 - any exporter failure means the peer cannot run
        print(f'torch.onnx.export failed: {e}'.split('\n')[0], file=sys.stderr)
        sys.exit(UNAVAILABLE)


if __name__ == '__main__':
    main()
