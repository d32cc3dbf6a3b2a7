# Development-only converter (until src/weights/pth.ts lands): the official .pth checkpoint ->
# the project's safetensors-compatible container (u64 LE header length, JSON header padded with
# spaces to a multiple of 8, raw float32 data). Drops num_batches_tracked and the 'module.'
# prefix that the checkpoint carries from DataParallel. Usage: convert_pth.py in.pth out.rfw
import json
import struct
import sys

import torch

src, dst = sys.argv[1], sys.argv[2]
state = torch.load(src, map_location='cpu')
state = state.get('state_dict', state)
header, blobs, offset = {}, [], 0
for name, t in state.items():
    if name.endswith('num_batches_tracked'):
        continue
    name = name[len('module.'):] if name.startswith('module.') else name
    data = t.detach().to(torch.float32).contiguous().numpy().tobytes()
    header[name] = {'dtype': 'F32', 'shape': list(t.shape), 'data_offsets': [offset, offset + len(data)]}
    blobs.append(data)
    offset += len(data)
header['__metadata__'] = {'format': 'retinaface-ts', 'format_version': '1', 'source': 'convert_pth.py'}
text = json.dumps(header).encode()
text += b' ' * ((8 - len(text) % 8) % 8)
with open(dst + '.tmp', 'wb') as f:
    f.write(struct.pack('<Q', len(text)))
    f.write(text)
    for b in blobs:
        f.write(b)
import os
os.replace(dst + '.tmp', dst)
