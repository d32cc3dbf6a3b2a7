"""How far jpeg-js's decoded pixels are from libjpeg-turbo's (what cv2.imread and PIL use).

Usage (after `npx tsc -p .`):  /usr/bin/python3 test/torch/jpeg_diff.py IMAGE.jpg [...]
Prints, per image and per RGB channel, the max and mean absolute difference between
src/image/decode.ts (jpeg-js) and PIL (libjpeg-turbo, ISLOW IDCT, fancy upsampling: the same
library and settings as OpenCV's imread), the share of pixels that differ, and, when OpenCV is
installed, whether cv2.imread agrees with PIL exactly. Needs numpy and PIL (Debian python3-pil).
"""
import json
import os
import subprocess
import sys

import numpy as np
from PIL import Image

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Decodes with the project's decoder and writes width, height and the RGB bytes to stdout.
NODE_DECODE = """
import { readFile } from 'node:fs/promises';
import { decodeImage } from %s;
const file = process.argv[1];
const img = decodeImage(await readFile(file), file);
process.stdout.write(JSON.stringify([img.width, img.height]) + '\\n');
process.stdout.write(img.data);
"""


def decode_ts(path):
    module = json.dumps('file://' + os.path.join(REPO, 'dist', 'src', 'image', 'decode.js'))
    out = subprocess.run(['node', '--input-type=module', '-e', NODE_DECODE % module, path],
                         check=True, stdout=subprocess.PIPE).stdout
    nl = out.index(b'\n')
    w, h = json.loads(out[:nl])
    return np.frombuffer(out[nl + 1:], dtype=np.uint8).reshape(h, w, 3)


def main(paths):
    try:
        import cv2
    except ImportError:
        cv2 = None
    for path in paths:
        ours = decode_ts(path).astype(np.int16)
        ref = np.asarray(Image.open(path).convert('RGB')).astype(np.int16)
        assert ours.shape == ref.shape, (path, ours.shape, ref.shape)
        d = np.abs(ours - ref)
        per = ', '.join('%s max %d mean %.3f' % (c, d[..., i].max(), d[..., i].mean()) for i, c in enumerate('RGB'))
        differ = (d.max(axis=2) > 0).mean() * 100
        line = '%s %dx%d: %s; %.1f%% of pixels differ' % (os.path.basename(path), ref.shape[1], ref.shape[0], per, differ)
        if cv2 is not None:
            bgr = cv2.imread(path, cv2.IMREAD_COLOR)
            line += '; cv2.imread == PIL: %s' % bool((bgr[..., ::-1].astype(np.int16) == ref).all())
        print(line)


if __name__ == '__main__':
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
