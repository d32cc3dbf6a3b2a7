#!/usr/bin/python3
"""The PyTorch detection pipeline, image file to faces, as biubug6/Pytorch_Retinaface detect.py
runs it with its defaults (resize 1, confidence 0.02, top_k 5000, NMS 0.4, keep_top_k 750): the
ruler for test/detect_parity.test.ts.

Usage: /usr/bin/python3 test/torch/detect_ref.py --arch ARCH --weights FILE.pth --image IMAGE --out OUT.json

detect.py reads the image with cv2.imread (BGR uint8); here PIL reads it (Debian has no OpenCV)
and the channels are reversed, which is the same array: a PNG decodes to the same bytes in every
decoder, and PIL decodes a JPEG with libjpeg-turbo's defaults, as imread does. Then, as detect.py:
float32, minus (104, 117, 123), HWC -> CHW, forward, decode, filter, sort, NMS.

The network is test/torch/reference.py's, the post-processing test/torch/postprocess_ref.py's.
Writes JSON: {arch, height, width, options, anchors, above_threshold, dets}, dets N rows of 15
numbers (x1 y1 x2 y2 score, then 5 landmark (x, y) pairs; float32 values, written exactly),
best first. `above_threshold` (how many anchors passed the confidence filter) and
`top_k_score` (the lowest score that entered NMS) let the test see the list's cut-off points.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from postprocess_ref import detections  # noqa: E402
from reference import CONFIGS, load_model  # noqa: E402

BGR_MEANS = (104, 117, 123)  # detect.py: img -= (104, 117, 123)


def read_bgr(path):
    """(H, W, 3) uint8 in BGR order: what cv2.imread(path, cv2.IMREAD_COLOR) returns."""
    with Image.open(path) as im:
        rgb = np.asarray(im.convert('RGB'))
    return np.ascontiguousarray(rgb[..., ::-1])


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--arch', choices=sorted(CONFIGS), required=True)
    p.add_argument('--weights', required=True)
    p.add_argument('--image', required=True)
    p.add_argument('--out', required=True)
    p.add_argument('--confidence_threshold', type=float, default=0.02)
    p.add_argument('--top_k', type=int, default=5000)
    p.add_argument('--nms_threshold', type=float, default=0.4)
    p.add_argument('--keep_top_k', type=int, default=750)
    args = p.parse_args()

    torch.set_num_threads(1)  # the machine is shared; determinism matters more than speed
    torch.set_grad_enabled(False)
    t0 = time.time()
    net = load_model(args.arch, args.weights)

    img = np.float32(read_bgr(args.image))
    H, W, _ = img.shape
    img -= BGR_MEANS
    x = torch.from_numpy(img.transpose(2, 0, 1)).unsqueeze(0)
    loc, conf, landms = net(x)
    loc, conf, landms = loc[0], conf[0], landms[0]

    _, dets = detections(loc, conf, landms, H, W, args.confidence_threshold, args.top_k,
                         args.nms_threshold, args.keep_top_k)
    scores = conf[:, 1].numpy()
    above = np.sort(scores[scores > np.float32(args.confidence_threshold)])[::-1]
    out = {
        'arch': args.arch,
        'height': H,
        'width': W,
        'options': {'confidence_threshold': args.confidence_threshold, 'top_k': args.top_k,
                    'nms_threshold': args.nms_threshold, 'keep_top_k': args.keep_top_k},
        'anchors': int(scores.shape[0]),
        'above_threshold': int(above.shape[0]),
        'top_k_score': float(above[min(args.top_k, above.shape[0]) - 1]) if above.shape[0] > 0 else None,
        'dets': [[float(v) for v in row] for row in dets],
    }
    tmp = f'{args.out}.{os.getpid()}.tmp'  # renamed into place: never a half-written file
    with open(tmp, 'w') as f:
        json.dump(out, f)
    os.replace(tmp, args.out)
    print(f'detect_ref.py {args.arch} {W}x{H}: {len(dets)} faces ({out["above_threshold"]} anchors > '
          f'{args.confidence_threshold}) in {time.time() - t0:.1f} s', file=sys.stderr)


if __name__ == '__main__':
    main()
