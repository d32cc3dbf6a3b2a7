"""Fixtures for test/weights.test.ts, made by PyTorch (run with /usr/bin/python3, torch 1.13).

usage: checkpoints.py OFFICIAL_PTH OUT_DIR MARKER_DIR

Writes into OUT_DIR (git-ignored .cache, never committed):
  *.pth               checkpoints saved by torch.save in both serializations (zip, legacy),
                      protocols 2 (torch's default) and 4, float16, 'module.'-prefixed,
                      wrapped {'state_dict': ...}, views of shared storages, a seeded random
                      ResNet-50 RetinaFace, an int64 weight, a whole pickled model
  *.expected.rfw      the contiguous float32 values each should load as, in our tensor format
                      (written by hand below with struct + json, independent of the TS encoder)
  hostile_*.pkl/.pth  pickles that run code when Python's pickle loads them: each would create
                      MARKER_DIR/<name> (an absolute path: OUT_DIR may be renamed after this runs);
                      the TS test proves our reader refuses them and creates nothing
  manifest.json       written last: its presence means the directory is complete
"""
import json
import os
import shlex
import struct
import sys
import zipfile

import torch
import torch.nn as nn

OFFICIAL, OUT, MARKERS = sys.argv[1], sys.argv[2], os.path.abspath(sys.argv[3])
os.makedirs(OUT, exist_ok=True)
manifest = {'torch': torch.__version__, 'files': []}


def path(name):
    manifest['files'].append(name)
    return os.path.join(OUT, name)


def save(obj, name, zip=True, protocol=2):
    torch.save(obj, path(name), _use_new_zipfile_serialization=zip, pickle_protocol=protocol)


def write_expected(tensors, name):
    """Our tensor format = safetensors: u64 LE header length | JSON header padded with spaces to a
    multiple of 8 (counting the length field) | raw little-endian float32 data."""
    header, blobs, offset = {'__metadata__': {'generator': 'test/torch/checkpoints.py'}}, [], 0
    for key, t in tensors.items():
        data = t.detach().contiguous().to(torch.float32).numpy().tobytes()
        header[key] = {'dtype': 'F32', 'shape': list(t.shape), 'data_offsets': [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header).encode()
    text += b' ' * ((8 - (8 + len(text)) % 8) % 8)
    with open(path(name), 'wb') as f:
        f.write(struct.pack('<Q', len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def without_counters(sd):
    return {k: v for k, v in sd.items() if not k.endswith('num_batches_tracked')}


# --- the official checkpoint, re-saved ---------------------------------------------------------
official = torch.load(OFFICIAL, map_location='cpu')
write_expected(without_counters(official), 'official.expected.rfw')
save(official, 'official_zip.pth')
save(official, 'official_legacy.pth', zip=False)
save(official, 'official_zip_p4.pth', protocol=4)
save(official, 'official_legacy_p4.pth', zip=False, protocol=4)
save({'module.' + k: v for k, v in official.items()}, 'module_prefixed.pth')
save({'state_dict': official, 'epoch': 250, 'optimizer': {'lr': 1e-3, 'momentum': 0.9}}, 'wrapped.pth', zip=False)
half = {k: (v.half() if v.is_floating_point() else v) for k, v in official.items()}
save(half, 'float16.pth')
write_expected(without_counters(half), 'float16.expected.rfw')

# --- views of shared storages: each tensor must come out as its own contiguous copy ------------
torch.manual_seed(0)
base = torch.randn(4, 6)
halves = torch.randn(3, 5).half()
views = {
    'base': base,
    'transposed': base.t(),                 # strides (1, 6)
    'block': base[1:3, 2:5],                # storage offset 8, strides (6, 1), not contiguous
    'every_other_column': base[:, ::2],     # strides (6, 2)
    'row': base[2],                         # storage offset 12, contiguous
    'scalar': base[1, 1],                   # 0-dim, storage offset 7
    'empty': base[:, 3:3],                  # shape (4, 0)
    'half_transposed': halves.t(),          # float16 storage viewed with strides (1, 5)
    'double': torch.arange(7, dtype=torch.float64) / 3,
    'bfloat16': torch.tensor([1.5, -2.25, 3e38, 1e-3], dtype=torch.bfloat16),
    'bn.num_batches_tracked': torch.tensor(5),  # int64: dropped by the reader
}
save(views, 'views_zip.pth')
save(views, 'views_legacy.pth', zip=False)
write_expected(without_counters(views), 'views.expected.rfw')


def zip64_copy(src, dst):
    """The same archive with zip64 records throughout: zip64 extra fields in the central directory
    (zipfile writes them for sizes above ZIP64_LIMIT, lowered to 0 here), and the classic end
    record's fields set to 0xffff/0xffffffff so that readers must follow the zip64 locator, as
    they must for archives over 4 GiB or 65535 entries."""
    limit = zipfile.ZIP64_LIMIT
    zipfile.ZIP64_LIMIT = 0
    try:
        with zipfile.ZipFile(src) as zin, zipfile.ZipFile(path(dst), 'w', zipfile.ZIP_STORED) as zout:
            for info in zin.infolist():
                zout.writestr(info.filename, zin.read(info.filename))
    finally:
        zipfile.ZIP64_LIMIT = limit
    with open(path(dst), 'r+b') as f:
        data = f.read()
        eocd = data.rindex(b'PK\x05\x06')
        assert data.rfind(b'PK\x06\x06') > 0 and eocd + 22 == len(data)
        f.seek(eocd + 8)
        f.write(struct.pack('<HHII', 0xffff, 0xffff, 0xffffffff, 0xffffffff))


zip64_copy(os.path.join(OUT, 'views_zip.pth'), 'views_zip64.pth')

# --- not loadable as weights -------------------------------------------------------------------
save({'conv.weight': torch.ones(2, 2), 'conv.index': torch.arange(4)}, 'int64_weight.pth')
# one key missing, one unexpected, one with the wrong shape
incomplete = dict(official)
del incomplete['fpn.merge1.1.running_var']
incomplete['fpn.merge3.0.weight'] = torch.zeros(64, 64, 3, 3)
incomplete['ClassHead.2.conv1x1.weight'] = torch.zeros(6, 64, 1, 1)
save(incomplete, 'incomplete.pth')
# a stride-0 view of one element claiming 10^12 of them: must be refused, not allocated
save({'x': torch.ones(1).expand(10**6, 10**6)}, 'expanded.pth')


class BadView:
    """Pickles as _rebuild_tensor_v2 over a real 10-element storage with a view past its end."""
    def __init__(self, storage):
        self.storage = storage

    def __reduce__(self):
        from collections import OrderedDict
        return torch._utils._rebuild_tensor_v2, (self.storage, 8, (5,), (1,), False, OrderedDict())


save({'x': BadView(torch.arange(10.0).storage())}, 'out_of_bounds_view.pth')


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 1)


save(Tiny(), 'whole_model.pth')


# --- ResNet-50 RetinaFace, seeded random weights, saved through DataParallel ('module.') --------
# The module tree written here from torchvision's resnet50 and Pytorch_Retinaface's models/,
# independently of src/weights/expected.ts, so that the test checks one against the other.
def conv_bn(inp, oup, k):
    return nn.Sequential(nn.Conv2d(inp, oup, k, padding=k // 2, bias=False), nn.BatchNorm2d(oup))


class Bottleneck(nn.Module):
    def __init__(self, inplanes, planes, downsample):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        if downsample:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes * 4, 1, bias=False), nn.BatchNorm2d(planes * 4))


def res_layer(inplanes, planes, blocks):
    return nn.Sequential(*[Bottleneck(inplanes if i == 0 else planes * 4, planes, i == 0) for i in range(blocks)])


class Body(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.layer1 = res_layer(64, 64, 3)
        self.layer2 = res_layer(256, 128, 4)
        self.layer3 = res_layer(512, 256, 6)
        self.layer4 = res_layer(1024, 512, 3)


class FPN(nn.Module):
    def __init__(self, ins, out):
        super().__init__()
        self.output1, self.output2, self.output3 = (conv_bn(c, out, 1) for c in ins)
        self.merge1 = conv_bn(out, out, 3)
        self.merge2 = conv_bn(out, out, 3)


class SSH(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv3X3 = conv_bn(c, c // 2, 3)
        self.conv5X5_1 = conv_bn(c, c // 4, 3)
        self.conv5X5_2 = conv_bn(c // 4, c // 4, 3)
        self.conv7X7_2 = conv_bn(c // 4, c // 4, 3)
        self.conv7x7_3 = conv_bn(c // 4, c // 4, 3)


class Head(nn.Module):
    def __init__(self, c, n):
        super().__init__()
        self.conv1x1 = nn.Conv2d(c, n, 1)


class RetinaFaceResNet50(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = Body()
        self.fpn = FPN([512, 1024, 2048], 256)
        self.ssh1, self.ssh2, self.ssh3 = SSH(256), SSH(256), SSH(256)
        self.ClassHead = nn.ModuleList([Head(256, 4) for _ in range(3)])
        self.BboxHead = nn.ModuleList([Head(256, 8) for _ in range(3)])
        self.LandmarkHead = nn.ModuleList([Head(256, 20) for _ in range(3)])


torch.manual_seed(50)
resnet = nn.DataParallel(RetinaFaceResNet50())
with torch.no_grad():
    for name, p in resnet.state_dict().items():
        if p.is_floating_point():
            p.copy_(torch.randn(p.shape).abs() if name.endswith('running_var') else torch.randn(p.shape) * 0.1)
resnet_sd = resnet.state_dict()
assert all(k.startswith('module.') for k in resnet_sd)
save(resnet_sd, 'resnet50_module.pth')
write_expected({k[len('module.'):]: v for k, v in without_counters(resnet_sd).items()}, 'resnet50.expected.rfw')


# --- hostile pickles: each would run code if unpickled by Python -------------------------------
def marker(name):
    return os.path.join(MARKERS, name)


def binunicode(s):
    b = s.encode()
    return b'X' + struct.pack('<I', len(b)) + b


hostile = {
    # GLOBAL posix.system + REDUCE: os.system('touch MARKER')
    'hostile_global_system.pkl': lambda m: b'\x80\x02cposix\nsystem\n' + binunicode('touch ' + shlex.quote(m)) + b'\x85R.',
    # protocol 4: STACK_GLOBAL builds os.system from two strings
    'hostile_stack_global.pkl': lambda m: (b'\x80\x04\x8c\x02os\x8c\x06system\x93'
                                          + binunicode('touch ' + shlex.quote(m)) + b'\x85R.'),
    # INST: MARK, args, then 'INST os\nsystem\n' calls os.system(*args)
    'hostile_inst.pkl': lambda m: b'(' + binunicode('touch ' + shlex.quote(m)) + b'ios\nsystem\n.',
    # builtins.eval of a Python expression
    'hostile_eval.pkl': lambda m: (b'\x80\x02cbuiltins\neval\n'
                                  + binunicode('open(%r, "w").close()' % m) + b'\x85R.'),
}
for name, make in hostile.items():
    with open(path(name), 'wb') as f:
        f.write(make(marker(name)))


def legacy_header():
    import pickle
    return (pickle.dumps(0x1950a86a20f9469cfc6c, protocol=2) + pickle.dumps(1001, protocol=2)
            + pickle.dumps({'protocol_version': 1001, 'little_endian': True,
                            'type_sizes': {'short': 2, 'int': 4, 'long': 4}}, protocol=2))


# the same payloads inside real checkpoint containers: torch.load would run them
with open(path('hostile_legacy.pth'), 'wb') as f:
    f.write(legacy_header() + hostile['hostile_global_system.pkl'](marker('hostile_legacy.pth')))
with zipfile.ZipFile(path('hostile_zip.pth'), 'w', zipfile.ZIP_STORED) as z:
    z.writestr('archive/data.pkl', hostile['hostile_eval.pkl'](marker('hostile_zip.pth')))
    z.writestr('archive/version', '3\n')

with open(os.path.join(OUT, 'manifest.json'), 'w') as f:
    json.dump(manifest, f, indent=1)
