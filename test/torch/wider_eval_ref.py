"""Reference WIDER FACE evaluation for test/eval.test.ts, written independently of
src/eval/: the official protocol as the reference repository's widerface_evaluate/evaluation.py
computes it (ground truth from the .mat files through scipy.io.loadmat, predictions read as
read_pred_file reads them, norm_score, image_eval with bbox_overlaps' +1 convention, img_pr_info
at 1000 thresholds, dataset_pr_info, voc_ap), in NumPy.

Usage: /usr/bin/python3 test/torch/wider_eval_ref.py write SPEC.json GT_DIR
         writes GT_DIR/wider_face_val.mat (event_list, file_list, face_bbx_list) and
         GT_DIR/wider_{easy,medium,hard}_val.mat (event_list, file_list, gt_list) with
         scipy.io.savemat, as MATLAB's cell arrays; the hard one zlib-compressed.
         SPEC: {"events": [{"name", "images": [{"name", "boxes": [[x, y, w, h], ...],
                "keep": {"easy": [1-based], "medium": [...], "hard": [...]}}]}]}
       /usr/bin/python3 test/torch/wider_eval_ref.py eval PRED_DIR GT_DIR OUT.json
         writes {"easy": {"ap", "faces", "precision", "recall"}, "medium": ..., "hard": ...}
"""
import json
import os
import sys

import numpy as np
from scipy.io import loadmat, savemat

SETTINGS = ['easy', 'medium', 'hard']


def cell(items):
    out = np.empty((len(items), 1), dtype=object)
    for i, v in enumerate(items):
        out[i, 0] = v
    return out


def write(spec_file, gt_dir):
    with open(spec_file) as f:
        spec = json.load(f)
    events = spec['events']
    event_list = cell([e['name'] for e in events])
    file_list = cell([cell([im['name'] for im in e['images']]) for e in events])
    boxes = cell([cell([np.array(im['boxes'], dtype=np.float64).reshape(-1, 4) for im in e['images']]) for e in events])
    savemat(os.path.join(gt_dir, 'wider_face_val.mat'), {'event_list': event_list, 'file_list': file_list, 'face_bbx_list': boxes})
    for s in SETTINGS:
        gt_list = cell([cell([np.array(im['keep'][s], dtype=np.float64).reshape(-1, 1) for im in e['images']]) for e in events])
        savemat(os.path.join(gt_dir, 'wider_%s_val.mat' % s), {'event_list': event_list, 'file_list': file_list, 'gt_list': gt_list},
                do_compression=(s == 'hard'))


def bbox_overlaps(boxes, query):
    n, k = boxes.shape[0], query.shape[0]
    out = np.zeros((n, k), dtype=np.float64)
    for j in range(k):
        area = (query[j, 2] - query[j, 0] + 1) * (query[j, 3] - query[j, 1] + 1)
        for i in range(n):
            iw = min(boxes[i, 2], query[j, 2]) - max(boxes[i, 0], query[j, 0]) + 1
            if iw > 0:
                ih = min(boxes[i, 3], query[j, 3]) - max(boxes[i, 1], query[j, 1]) + 1
                if ih > 0:
                    ua = float((boxes[i, 2] - boxes[i, 0] + 1) * (boxes[i, 3] - boxes[i, 1] + 1) + area - iw * ih)
                    out[i, j] = iw * ih / ua
    return out


def read_pred_file(path):
    with open(path) as f:
        lines = f.readlines()
    name = lines[0].rstrip('\n\r')
    rows = []
    for line in lines[2:]:
        parts = line.rstrip('\r\n').split(' ')
        if parts[0] == '':
            continue
        rows.append([float(v) for v in parts[:5]])
    return name.split('/')[-1], np.array(rows)


def get_preds(pred_dir):
    preds = {}
    for event in os.listdir(pred_dir):
        d = {}
        for txt in os.listdir(os.path.join(pred_dir, event)):
            name, b = read_pred_file(os.path.join(pred_dir, event, txt))
            d[name[:-4] if name.endswith('.jpg') else name] = b
        preds[event] = d
    return preds


def norm_score(preds):
    hi, lo = 0, 1
    for ev in preds.values():
        for v in ev.values():
            if len(v) == 0:
                continue
            hi, lo = max(np.max(v[:, -1]), hi), min(np.min(v[:, -1]), lo)
    for ev in preds.values():
        for v in ev.values():
            if len(v) == 0:
                continue
            v[:, -1] = (v[:, -1] - lo) / (hi - lo)


def image_eval(pred, gt, ignore, iou_thresh):
    p, g = pred.copy(), gt.copy()
    pred_recall = np.zeros(p.shape[0])
    recall_list = np.zeros(g.shape[0])
    proposal_list = np.ones(p.shape[0])
    p[:, 2] += p[:, 0]
    p[:, 3] += p[:, 1]
    g[:, 2] += g[:, 0]
    g[:, 3] += g[:, 1]
    overlaps = bbox_overlaps(p[:, :4], g)
    for h in range(p.shape[0]):
        o = overlaps[h]
        if o.max() >= iou_thresh:
            idx = o.argmax()
            if ignore[idx] == 0:
                recall_list[idx] = -1
                proposal_list[h] = -1
            elif recall_list[idx] == 0:
                recall_list[idx] = 1
        pred_recall[h] = len(np.where(recall_list == 1)[0])
    return pred_recall, proposal_list


def img_pr_info(thresh_num, pred, proposal_list, pred_recall):
    info = np.zeros((thresh_num, 2)).astype('float')
    for t in range(thresh_num):
        thresh = 1 - (t + 1) / thresh_num
        r = np.where(pred[:, 4] >= thresh)[0]
        if len(r) == 0:
            continue
        r = r[-1]
        info[t, 0] = len(np.where(proposal_list[:r + 1] == 1)[0])
        info[t, 1] = pred_recall[r]
    return info


def voc_ap(rec, prec):
    mrec = np.concatenate(([0.], rec, [1.]))
    mpre = np.concatenate(([0.], prec, [0.]))
    for i in range(mpre.size - 1, 0, -1):
        mpre[i - 1] = np.maximum(mpre[i - 1], mpre[i])
    i = np.where(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1]))


def evaluate(pred_dir, gt_dir, out_file):
    preds = get_preds(pred_dir)
    norm_score(preds)
    val = loadmat(os.path.join(gt_dir, 'wider_face_val.mat'))
    facebox_list, event_list, file_list = val['face_bbx_list'], val['event_list'], val['file_list']
    thresh_num = 1000
    out = {}
    with np.errstate(divide='ignore', invalid='ignore'):
        for s in SETTINGS:
            gt_list = loadmat(os.path.join(gt_dir, 'wider_%s_val.mat' % s))['gt_list']
            count_face = 0
            pr_curve = np.zeros((thresh_num, 2)).astype('float')
            for i in range(len(event_list)):
                event_name = str(event_list[i][0][0])
                img_list = file_list[i][0]
                pred_list = preds[event_name]
                sub_gt_list = gt_list[i][0]
                gt_bbx_list = facebox_list[i][0]
                for j in range(len(img_list)):
                    pred_info = pred_list[str(img_list[j][0][0])]
                    gt_boxes = gt_bbx_list[j][0].astype('float')
                    keep_index = sub_gt_list[j][0]
                    count_face += len(keep_index)
                    if len(gt_boxes) == 0 or len(pred_info) == 0:
                        continue
                    ignore = np.zeros(gt_boxes.shape[0])
                    if len(keep_index) != 0:
                        ignore[keep_index.astype(int) - 1] = 1
                    pred_recall, proposal_list = image_eval(pred_info, gt_boxes, ignore, 0.5)
                    pr_curve += img_pr_info(thresh_num, pred_info, proposal_list, pred_recall)
            precision = pr_curve[:, 1] / pr_curve[:, 0]
            recall = pr_curve[:, 1] / count_face
            out[s] = {'ap': voc_ap(recall, precision), 'faces': int(count_face),
                      'precision': [None if np.isnan(v) else float(v) for v in precision], 'recall': [float(v) for v in recall]}
    with open(out_file, 'w') as f:
        json.dump(out, f)


if __name__ == '__main__':
    if sys.argv[1] == 'write':
        write(sys.argv[2], sys.argv[3])
    else:
        evaluate(sys.argv[2], sys.argv[3], sys.argv[4])
