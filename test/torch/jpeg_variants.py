"""Baseline JPEGs of every layout the streaming decoder (src/image/jpeg_rows.ts) reads, written by
two independent encoders (PIL's libjpeg and OpenCV's libjpeg-turbo) for test/tiles.test.ts:
4:4:4, 4:2:2 and 4:2:0 chroma, gray, restart intervals (every MCU and every 7), sizes that are
not a multiple of the MCU, and the selfie re-encoded as baseline (the shared copy is progressive).

usage: jpeg_variants.py SELFIE OUT_DIR
"""
import os
import sys

import cv2
import numpy as np
from PIL import Image

selfie, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
full = Image.open(selfie).convert('RGB')
crop = full.crop((100, 50, 1101, 663))  # 1001x613: neither side a multiple of 16
for sub, name in [(0, '444'), (1, '422'), (2, '420')]:
    crop.save(os.path.join(out, f'pil-{name}.jpg'), quality=90, subsampling=sub)
crop.convert('L').save(os.path.join(out, 'pil-gray.jpg'), quality=85)
crop.resize((17, 9)).save(os.path.join(out, 'pil-tiny.jpg'), quality=100, subsampling=2)
bgr = cv2.cvtColor(np.asarray(crop), cv2.COLOR_RGB2BGR)
cv2.imwrite(os.path.join(out, 'cv2-restart7.jpg'), bgr, [cv2.IMWRITE_JPEG_RST_INTERVAL, 7, cv2.IMWRITE_JPEG_QUALITY, 95])
cv2.imwrite(os.path.join(out, 'cv2-restart1.jpg'), bgr[:77, :93], [cv2.IMWRITE_JPEG_RST_INTERVAL, 1, cv2.IMWRITE_JPEG_QUALITY, 40])
full.save(os.path.join(out, 'selfie-baseline.jpg'), quality=95, subsampling=2)
