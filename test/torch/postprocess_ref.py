"""Reference post-processing for test/postprocess.test.ts, written as biubug6/Pytorch_Retinaface
writes it: PriorBox.forward (layers/functions/prior_box.py), decode / decode_landm
(utils/box_utils.py) in torch float32, py_cpu_nms (utils/nms/py_cpu_nms.py) in NumPy, and the
filtering / sorting of detect.py.

Usage: /usr/bin/python3 test/torch/postprocess_ref.py DIR [DIR...]
Each DIR holds meta.json ({height, width, confidence_threshold, top_k, nms_threshold, keep_top_k}) and
loc.f32 (A, 4), conf.f32 (A, 2), landms.f32 (A, 10) as raw little-endian float32. Writes
priors.f32 (A, 4) and dets.f32 (N, 15): x1 y1 x2 y2 score, then 5 landmark (x, y) pairs.
"""
import json
import os
import sys
from itertools import product
from math import ceil

import numpy as np
import torch

CFG = {'min_sizes': [[16, 32], [64, 128], [256, 512]], 'steps': [8, 16, 32], 'variance': [0.1, 0.2], 'clip': False}


def prior_box(cfg, image_size):
    feature_maps = [[ceil(image_size[0] / step), ceil(image_size[1] / step)] for step in cfg['steps']]
    anchors = []
    for k, f in enumerate(feature_maps):
        for i, j in product(range(f[0]), range(f[1])):
            for min_size in cfg['min_sizes'][k]:
                s_kx = min_size / image_size[1]
                s_ky = min_size / image_size[0]
                dense_cx = [x * cfg['steps'][k] / image_size[1] for x in [j + 0.5]]
                dense_cy = [y * cfg['steps'][k] / image_size[0] for y in [i + 0.5]]
                for cy, cx in product(dense_cy, dense_cx):
                    anchors += [cx, cy, s_kx, s_ky]
    return torch.Tensor(anchors).view(-1, 4)


def decode(loc, priors, variances):
    boxes = torch.cat((
        priors[:, :2] + loc[:, :2] * variances[0] * priors[:, 2:],
        priors[:, 2:] * torch.exp(loc[:, 2:] * variances[1])), 1)
    boxes[:, :2] -= boxes[:, 2:] / 2
    boxes[:, 2:] += boxes[:, :2]
    return boxes


def decode_landm(pre, priors, variances):
    return torch.cat((priors[:, :2] + pre[:, :2] * variances[0] * priors[:, 2:],
                      priors[:, :2] + pre[:, 2:4] * variances[0] * priors[:, 2:],
                      priors[:, :2] + pre[:, 4:6] * variances[0] * priors[:, 2:],
                      priors[:, :2] + pre[:, 6:8] * variances[0] * priors[:, 2:],
                      priors[:, :2] + pre[:, 8:10] * variances[0] * priors[:, 2:],
                      ), dim=1)


def py_cpu_nms(dets, thresh):
    x1, y1, x2, y2, scores = dets[:, 0], dets[:, 1], dets[:, 2], dets[:, 3], dets[:, 4]
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = scores.argsort()[::-1]
    keep = []
    while order.size > 0:
        i = order[0]
        keep.append(i)
        xx1 = np.maximum(x1[i], x1[order[1:]])
        yy1 = np.maximum(y1[i], y1[order[1:]])
        xx2 = np.minimum(x2[i], x2[order[1:]])
        yy2 = np.minimum(y2[i], y2[order[1:]])
        w = np.maximum(0.0, xx2 - xx1 + 1)
        h = np.maximum(0.0, yy2 - yy1 + 1)
        inter = w * h
        ovr = inter / (areas[i] + areas[order[1:]] - inter)
        inds = np.where(ovr <= thresh)[0]
        order = order[inds + 1]
    return keep


def main(d):
    meta = json.load(open(os.path.join(d, 'meta.json')))
    H, W = meta['height'], meta['width']
    read = lambda name, cols: torch.from_numpy(np.fromfile(os.path.join(d, name), dtype='<f4').reshape(-1, cols))
    loc, conf, landms = read('loc.f32', 4), read('conf.f32', 2), read('landms.f32', 10)

    priors = prior_box(CFG, (H, W))
    priors.numpy().astype('<f4').tofile(os.path.join(d, 'priors.f32'))
    scale = torch.Tensor([W, H, W, H])
    boxes = (decode(loc, priors, CFG['variance']) * scale).numpy()
    scores = conf.numpy()[:, 1]
    scale1 = torch.Tensor([W, H] * 5)
    landms = (decode_landm(landms, priors, CFG['variance']) * scale1).numpy()

    inds = np.where(scores > meta['confidence_threshold'])[0]
    boxes, landms, scores = boxes[inds], landms[inds], scores[inds]
    order = scores.argsort()[::-1][:meta['top_k']]
    boxes, landms, scores = boxes[order], landms[order], scores[order]
    dets = np.hstack((boxes, scores[:, np.newaxis])).astype(np.float32, copy=False)
    keep = py_cpu_nms(dets, meta['nms_threshold'])
    dets, landms = dets[keep, :], landms[keep]
    dets, landms = dets[:meta['keep_top_k'], :], landms[:meta['keep_top_k'], :]
    np.concatenate((dets, landms), axis=1).astype('<f4').tofile(os.path.join(d, 'dets.f32'))


if __name__ == '__main__':
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    torch.set_num_threads(1)
    for d in sys.argv[1:]:
        main(d)
