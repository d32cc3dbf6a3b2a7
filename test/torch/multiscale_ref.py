"""Reference multi-scale and flip testing for test/multiscale.test.ts, written independently of
src/detect/merge.ts: each run decoded as detect.py does (postprocess_ref.py's PriorBox, decode,
decode_landm in torch float32; threshold and top_k as detect.py), un-mirrored as the reference's
data_augment._mirror mirrors (x -> W - x, the landmark pairs 0<->1 and 3<->4 swapped), scaled to
original pixels, pooled, then either py_cpu_nms or box voting (each kept box the score-weighted
mean of itself and the boxes its NMS step removes, landmarks likewise, its own score kept).
Also cv2.resize for the resize cases.

Usage: /usr/bin/python3 test/torch/multiscale_ref.py DIR
DIR/cases.json: {"resize": [{"src", "width", "height", "dw", "dh", "out"}],
                 "merge": [{"width", "height", "runs": [{"dir", "height", "width", "flip"}],
                            "confidence_threshold", "top_k", "nms_threshold", "keep_top_k", "merge", "out"}]}
Each run dir holds loc.f32, conf.f32, landms.f32 (raw little-endian float32). Writes each case's
out: resized RGB bytes, or faces as JSON [[score, x1, y1, x2, y2, 10 landmark coordinates], ...].
"""
import json
import os
import sys

import numpy as np
import torch

from postprocess_ref import CFG, decode, decode_landm, prior_box


def run_proposals(d, H, W, conf_thr, top_k):
    read = lambda name, cols: torch.from_numpy(np.fromfile(os.path.join(d, name), dtype='<f4').reshape(-1, cols))
    loc, conf, landms = read('loc.f32', 4), read('conf.f32', 2), read('landms.f32', 10)
    priors = prior_box(CFG, (H, W))
    boxes = (decode(loc, priors, CFG['variance']) * torch.Tensor([W, H, W, H])).numpy()
    points = (decode_landm(landms, priors, CFG['variance']) * torch.Tensor([W, H] * 5)).numpy()
    scores = conf.numpy()[:, 1]
    inds = np.where(scores > np.float32(conf_thr))[0]
    boxes, points, scores = boxes[inds], points[inds], scores[inds]
    order = scores.argsort(kind='stable')[::-1][:top_k]
    return boxes[order], points[order], scores[order]


def to_original(boxes, points, sx, sy, flip, W):
    """Mapped in float64, stored as float32."""
    b = boxes.astype(np.float64)
    p = points.astype(np.float64).reshape(-1, 5, 2)
    if flip:
        b = np.stack([W - b[:, 2], b[:, 1], W - b[:, 0], b[:, 3]], axis=1)
        p = p[:, [1, 0, 2, 4, 3], :]
        p[:, :, 0] = W - p[:, :, 0]
    b = b * np.array([sx, sy, sx, sy])
    p = p * np.array([sx, sy])
    return b.astype(np.float32), p.reshape(-1, 10).astype(np.float32)


def suppress(boxes, scores, thresh, keep_top_k):
    """py_cpu_nms, returning each kept index with the indices its step removes."""
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = scores.argsort(kind='stable')[::-1]
    kept = []
    while order.size > 0 and len(kept) < keep_top_k:
        i = order[0]
        rest = order[1:]
        w = np.maximum(np.float32(0.0), np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + np.float32(1))
        h = np.maximum(np.float32(0.0), np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + np.float32(1))
        inter = w * h
        ovr = inter / (areas[i] + areas[rest] - inter)
        stay = ovr <= np.float32(thresh)
        kept.append((i, rest[~stay]))
        order = rest[stay]
    return kept


def merge_case(c, base):
    H0, W0 = c['height'], c['width']
    all_b, all_p, all_s = [], [], []
    for r in c['runs']:
        b, p, s = run_proposals(os.path.join(base, r['dir']), r['height'], r['width'], c['confidence_threshold'], c['top_k'])
        b, p = to_original(b, p, W0 / r['width'], H0 / r['height'], r['flip'], r['width'])
        all_b.append(b)
        all_p.append(p)
        all_s.append(s)
    boxes, points, scores = np.concatenate(all_b), np.concatenate(all_p), np.concatenate(all_s)
    faces = []
    for i, removed in suppress(boxes, scores, c['nms_threshold'], c['keep_top_k']):
        if c['merge'] == 'vote' and removed.size > 0:
            members = np.concatenate([[i], removed])
            w = scores[members].astype(np.float64)
            box = (boxes[members].astype(np.float64) * w[:, None]).sum(0) / w.sum()
            pts = (points[members].astype(np.float64) * w[:, None]).sum(0) / w.sum()
        else:
            box, pts = boxes[i].astype(np.float64), points[i].astype(np.float64)
        faces.append([float(scores[i])] + box.tolist() + pts.tolist())
    json.dump(faces, open(c['out'], 'w'))


def resize_case(c):
    import cv2
    img = np.fromfile(c['src'], dtype=np.uint8).reshape(c['height'], c['width'], 3)
    out = cv2.resize(img, (c['dw'], c['dh']), interpolation=cv2.INTER_LINEAR)
    out.tofile(c['out'])


def main(base):
    cases = json.load(open(os.path.join(base, 'cases.json')))
    for c in cases.get('resize', []):
        resize_case(c)
    for c in cases.get('merge', []):
        merge_case(c, base)


if __name__ == '__main__':
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    torch.set_num_threads(1)
    main(sys.argv[1])
