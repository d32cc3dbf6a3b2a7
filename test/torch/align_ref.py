"""The references of the aligned-crop tests (test/align.test.ts): skimage's
SimilarityTransform.estimate (Umeyama) for the matrices and cv2.warpAffine (INTER_LINEAR,
BORDER_CONSTANT) for the crops, as insightface's norm_crop uses them.

usage: align_ref.py CASES.json OUT.json
  CASES: {"estimates": [{"src": [[x, y] x n], "dst": [[x, y] x n]}],
          "warps": [{"image": "in.png", "matrix": [[a, b, c], [d, e, f]], "size": N,
                     "border": [r, g, b], "out": "out.png"}]}
  OUT:   {"estimates": [[[a, b, c], [d, e, f]] or null (skimage gave NaN)], "versions": {...}}
  and each warp's crop written to its "out" PNG.
"""
import json
import sys

import cv2
import numpy as np
import skimage
from skimage.transform import SimilarityTransform


def main(cases_file, out_file):
    with open(cases_file) as f:
        cases = json.load(f)
    estimates = []
    for c in cases["estimates"]:
        t = SimilarityTransform()
        t.estimate(np.array(c["src"], dtype=np.float64), np.array(c["dst"], dtype=np.float64))
        m = t.params[:2]
        estimates.append(None if not np.all(np.isfinite(m)) else m.tolist())
    images = {}  # each photo read once: the warps of one photo share it
    for w in cases["warps"]:
        if w["image"] not in images:
            images[w["image"]] = cv2.imread(w["image"], cv2.IMREAD_COLOR)  # BGR
        img = images[w["image"]]
        r, g, b = w["border"]
        crop = cv2.warpAffine(img, np.array(w["matrix"], dtype=np.float64), (w["size"], w["size"]),
                              flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=(b, g, r))
        if not cv2.imwrite(w["out"], crop):
            raise SystemExit(f"cannot write {w['out']}")
    with open(out_file, "w") as f:
        json.dump({"estimates": estimates, "versions": {"opencv": cv2.__version__, "skimage": skimage.__version__}}, f)


if __name__ == "__main__":
    main(*sys.argv[1:])
