#!/usr/bin/python3
"""PyTorch reference for retinaface-ts: the ruler every TypeScript module is measured against.

Runs with Debian's python3-torch (/usr/bin/python3, torch 1.13); needs nothing else (no
torchvision, no numpy, no safetensors). The network below is written from the architecture of
biubug6/Pytorch_Retinaface (models/net.py, models/retinaface.py, data/config.py; MIT) with the
same module attribute names, so that its state-dict keys are the checkpoints' keys
(`body.stage1.0.0.weight`, `ssh1.conv7x7_3.1.running_var`, `ClassHead.2.conv1x1.bias`, ...).

Subcommands:
  forward            run a checkpoint on an input tensor written by the TypeScript side and write
                     every block-level module output plus loc / conf / landms
  random-checkpoint  save a seeded random RetinaFace state dict (zip or legacy serialization)

Tensors go in and out in the project's container (src/weights/format.ts): byte-compatible with
safetensors, read and written here by hand with struct + json.
"""

import argparse
import ctypes
import json
import os
import re
import struct
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

FORMAT_NAME = 'retinaface-ts'
FORMAT_VERSION = '1'
HEADER_ALIGN = 8  # the data section starts on this boundary (format.ts: HEADER_ALIGN)

# data/config.py: cfg_mnet / cfg_re50 (only what the network's shape depends on).
CONFIGS = {
    'mobile0.25': {'in_channel': 32, 'out_channel': 64, 'return_layers': ['stage1', 'stage2', 'stage3']},
    'resnet50': {'in_channel': 256, 'out_channel': 256, 'return_layers': ['layer2', 'layer3', 'layer4']},
}
NUM_ANCHORS = 2  # len(min_sizes[k]) in data/config.py; RetinaFace builds its heads with anchor_num=2
BN_EPS = 1e-5  # nn.BatchNorm2d default, which the reference keeps


# ---------------------------------------------------------------------------------------------
# Building blocks (models/net.py). LeakyReLU is inplace as in the reference: forward hooks must
# clone what they keep, or a BN output would be overwritten by the activation that follows it.

def conv_bn(inp, oup, stride=1, leaky=0.0):
    return nn.Sequential(
        nn.Conv2d(inp, oup, 3, stride, 1, bias=False),
        nn.BatchNorm2d(oup, eps=BN_EPS),
        nn.LeakyReLU(negative_slope=leaky, inplace=True),
    )


def conv_bn_no_relu(inp, oup, stride=1):
    return nn.Sequential(
        nn.Conv2d(inp, oup, 3, stride, 1, bias=False),
        nn.BatchNorm2d(oup, eps=BN_EPS),
    )


def conv_bn1X1(inp, oup, stride=1, leaky=0.0):
    return nn.Sequential(
        nn.Conv2d(inp, oup, 1, stride, 0, bias=False),
        nn.BatchNorm2d(oup, eps=BN_EPS),
        nn.LeakyReLU(negative_slope=leaky, inplace=True),
    )


def conv_dw(inp, oup, stride, leaky=0.1):
    # depthwise 3x3 then pointwise 1x1, each followed by BN and LeakyReLU
    return nn.Sequential(
        nn.Conv2d(inp, inp, 3, stride, 1, groups=inp, bias=False),
        nn.BatchNorm2d(inp, eps=BN_EPS),
        nn.LeakyReLU(negative_slope=leaky, inplace=True),
        nn.Conv2d(inp, oup, 1, 1, 0, bias=False),
        nn.BatchNorm2d(oup, eps=BN_EPS),
        nn.LeakyReLU(negative_slope=leaky, inplace=True),
    )


class MobileNetV1Body(nn.Module):
    """MobileNetV1 x0.25 up to stage3. The reference also defines `avg` and `fc`, but
    IntermediateLayerGetter drops every module after the last returned layer: they have no keys."""

    def __init__(self):
        super().__init__()
        self.stage1 = nn.Sequential(
            conv_bn(3, 8, 2, leaky=0.1),  # 1/2
            conv_dw(8, 16, 1),
            conv_dw(16, 32, 2),           # 1/4
            conv_dw(32, 32, 1),
            conv_dw(32, 64, 2),           # 1/8
            conv_dw(64, 64, 1),
        )
        self.stage2 = nn.Sequential(
            conv_dw(64, 128, 2),          # 1/16
            conv_dw(128, 128, 1),
            conv_dw(128, 128, 1),
            conv_dw(128, 128, 1),
            conv_dw(128, 128, 1),
            conv_dw(128, 128, 1),
        )
        self.stage3 = nn.Sequential(
            conv_dw(128, 256, 2),         # 1/32
            conv_dw(256, 256, 1),
        )

    def forward(self, x):
        s1 = self.stage1(x)
        s2 = self.stage2(s1)
        s3 = self.stage3(s2)
        return [s1, s2, s3]


class Bottleneck(nn.Module):
    """torchvision.models.resnet.Bottleneck (v1.5: the stride sits on the 3x3 conv2).
    Written here because Debian ships no torchvision; attribute names are torchvision's."""
    expansion = 4

    def __init__(self, inplanes, planes, stride=1):
        super().__init__()
        width = planes
        self.conv1 = nn.Conv2d(inplanes, width, 1, 1, 0, bias=False)
        self.bn1 = nn.BatchNorm2d(width, eps=BN_EPS)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width, eps=BN_EPS)
        self.conv3 = nn.Conv2d(width, planes * self.expansion, 1, 1, 0, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion, eps=BN_EPS)
        # one ReLU module applied three times, as in torchvision
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or inplanes != planes * self.expansion:
            self.downsample = nn.Sequential(
                nn.Conv2d(inplanes, planes * self.expansion, 1, stride, 0, bias=False),
                nn.BatchNorm2d(planes * self.expansion, eps=BN_EPS),
            )

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)  # after bn3, as torchvision
        return self.relu(out + identity)


class ResNet50Body(nn.Module):
    """torchvision.models.resnet50() up to layer4 (avgpool and fc dropped by IntermediateLayerGetter)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64, eps=BN_EPS)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = nn.Sequential(
            Bottleneck(64, 64, 1),
            Bottleneck(256, 64),
            Bottleneck(256, 64),
        )
        self.layer2 = nn.Sequential(
            Bottleneck(256, 128, 2),
            Bottleneck(512, 128),
            Bottleneck(512, 128),
            Bottleneck(512, 128),
        )
        self.layer3 = nn.Sequential(
            Bottleneck(512, 256, 2),
            Bottleneck(1024, 256),
            Bottleneck(1024, 256),
            Bottleneck(1024, 256),
            Bottleneck(1024, 256),
            Bottleneck(1024, 256),
        )
        self.layer4 = nn.Sequential(
            Bottleneck(1024, 512, 2),
            Bottleneck(2048, 512),
            Bottleneck(2048, 512),
        )

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        c1 = self.layer1(x)
        c2 = self.layer2(c1)
        c3 = self.layer3(c2)
        c4 = self.layer4(c3)
        return [c2, c3, c4]  # return_layers {'layer2': 1, 'layer3': 2, 'layer4': 3}


class FPN(nn.Module):
    def __init__(self, in_channels_list, out_channels):
        super().__init__()
        leaky = 0.1 if out_channels <= 64 else 0.0
        self.output1 = conv_bn1X1(in_channels_list[0], out_channels, stride=1, leaky=leaky)
        self.output2 = conv_bn1X1(in_channels_list[1], out_channels, stride=1, leaky=leaky)
        self.output3 = conv_bn1X1(in_channels_list[2], out_channels, stride=1, leaky=leaky)
        self.merge1 = conv_bn(out_channels, out_channels, leaky=leaky)
        self.merge2 = conv_bn(out_channels, out_channels, leaky=leaky)

    def forward(self, inputs):
        output1 = self.output1(inputs[0])
        output2 = self.output2(inputs[1])
        output3 = self.output3(inputs[2])
        # nearest upsampling to the explicit size of the finer level (odd sizes do not double)
        up3 = F.interpolate(output3, size=[output2.size(2), output2.size(3)], mode='nearest')
        output2 = self.merge2(output2 + up3)
        up2 = F.interpolate(output2, size=[output1.size(2), output1.size(3)], mode='nearest')
        output1 = self.merge1(output1 + up2)
        return [output1, output2, output3]


class SSH(nn.Module):
    def __init__(self, in_channel, out_channel):
        super().__init__()
        assert out_channel % 4 == 0
        leaky = 0.1 if out_channel <= 64 else 0.0
        self.conv3X3 = conv_bn_no_relu(in_channel, out_channel // 2, stride=1)
        self.conv5X5_1 = conv_bn(in_channel, out_channel // 4, stride=1, leaky=leaky)
        self.conv5X5_2 = conv_bn_no_relu(out_channel // 4, out_channel // 4, stride=1)
        self.conv7X7_2 = conv_bn(out_channel // 4, out_channel // 4, stride=1, leaky=leaky)
        self.conv7x7_3 = conv_bn_no_relu(out_channel // 4, out_channel // 4, stride=1)  # sic: lowercase x

    def forward(self, x):
        conv3X3 = self.conv3X3(x)
        conv5X5_1 = self.conv5X5_1(x)
        conv5X5 = self.conv5X5_2(conv5X5_1)
        conv7X7 = self.conv7x7_3(self.conv7X7_2(conv5X5_1))
        return F.relu(torch.cat([conv3X3, conv5X5, conv7X7], dim=1))


class Head(nn.Module):
    """ClassHead (k=2), BboxHead (k=4), LandmarkHead (k=10): a 1x1 conv with bias, then
    (N, A*k, H, W) -> (N, H*W*A, k), anchors varying fastest within a pixel."""

    def __init__(self, inchannels, k, num_anchors=NUM_ANCHORS):
        super().__init__()
        self.k = k
        self.conv1x1 = nn.Conv2d(inchannels, num_anchors * k, kernel_size=1, stride=1, padding=0)

    def forward(self, x):
        out = self.conv1x1(x).permute(0, 2, 3, 1).contiguous()
        return out.view(out.shape[0], -1, self.k)


class RetinaFace(nn.Module):
    def __init__(self, arch):
        super().__init__()
        cfg = CONFIGS[arch]
        self.body = MobileNetV1Body() if arch == 'mobile0.25' else ResNet50Body()
        c = cfg['in_channel']
        out = cfg['out_channel']
        self.fpn = FPN([c * 2, c * 4, c * 8], out)
        self.ssh1 = SSH(out, out)
        self.ssh2 = SSH(out, out)
        self.ssh3 = SSH(out, out)
        self.ClassHead = nn.ModuleList([Head(out, 2) for _ in range(3)])
        self.BboxHead = nn.ModuleList([Head(out, 4) for _ in range(3)])
        self.LandmarkHead = nn.ModuleList([Head(out, 10) for _ in range(3)])

    def forward(self, x):
        fpn = self.fpn(self.body(x))
        features = [self.ssh1(fpn[0]), self.ssh2(fpn[1]), self.ssh3(fpn[2])]
        loc = torch.cat([self.BboxHead[i](f) for i, f in enumerate(features)], dim=1)
        conf = torch.cat([self.ClassHead[i](f) for i, f in enumerate(features)], dim=1)
        landms = torch.cat([self.LandmarkHead[i](f) for i, f in enumerate(features)], dim=1)
        # phase 'test' in the reference: softmax over (background, face)
        return loc, F.softmax(conf, dim=-1), landms


def block_module_names(arch):
    """The block-level modules whose outputs `forward` writes, in module order.
    test/helpers/reference.ts (referenceModuleNames) states the same rule; the test checks both agree."""
    if arch == 'mobile0.25':
        body = []
        for stage, n in (('stage1', 6), ('stage2', 6), ('stage3', 2)):
            body += [f'body.{stage}'] + [f'body.{stage}.{i}' for i in range(n)]
    else:
        body = ['body.conv1', 'body.bn1', 'body.relu', 'body.maxpool']
        for layer, n in (('layer1', 3), ('layer2', 4), ('layer3', 6), ('layer4', 3)):
            body += [f'body.{layer}'] + [f'body.{layer}.{i}' for i in range(n)]
    fpn = [f'fpn.{m}' for m in ('output1', 'output2', 'output3', 'merge1', 'merge2')]
    ssh = []
    for i in (1, 2, 3):
        ssh += [f'ssh{i}'] + [f'ssh{i}.{m}' for m in ('conv3X3', 'conv5X5_1', 'conv5X5_2', 'conv7X7_2', 'conv7x7_3')]
    heads = [f'{h}.{i}' for h in ('ClassHead', 'BboxHead', 'LandmarkHead') for i in range(3)]
    return body + fpn + ssh + heads


# ---------------------------------------------------------------------------------------------
# Checkpoints

def unwrap_state_dict(obj):
    """Accepts a bare state dict or {'state_dict': ...}; strips a DataParallel 'module.' prefix
    (Resnet50_Final.pth has one). Drops nothing else: strict loading must see every key."""
    if isinstance(obj, dict) and 'state_dict' in obj and isinstance(obj['state_dict'], dict):
        obj = obj['state_dict']
    return {(k[len('module.'):] if k.startswith('module.') else k): v for k, v in obj.items()}


def load_model(arch, weights):
    model = RetinaFace(arch)
    sd = unwrap_state_dict(torch.load(weights, map_location='cpu'))
    model.load_state_dict(sd, strict=True)
    return model.eval()


def random_state_dict(arch, seed):
    """Seeded random weights for every key, scaled so that activations stay O(1) from the input
    to the heads, through the 50 layers of ResNet-50 as through MobileNet's 27: conv weights
    N(0, 2/fan_in) (He init, for the ReLU / LeakyReLU that follow), BN affine terms and running
    statistics near identity but random enough that a swapped channel or key shows. Three
    corrections keep the scale: the first conv sees pixel values of about +-128, not +-1; the last
    conv of each ResNet bottleneck is scaled down so that 16 residual sums do not double the
    variance each time (the role zero-init-residual plays in torchvision); and the He gain is
    trimmed to undo the variance that the random BN scale gamma^2 / running_var adds per layer."""
    g = torch.Generator().manual_seed(seed)
    sd = RetinaFace(arch).state_dict()
    first_conv = 'body.stage1.0.0.weight' if arch == 'mobile0.25' else 'body.conv1.weight'
    out = {}
    for key, ref in sd.items():
        shape = ref.shape
        if key.endswith('num_batches_tracked'):
            out[key] = torch.randint(1, 100000, (), generator=g, dtype=torch.int64)
        elif key.endswith('running_var') or (key.endswith('.weight') and ref.dim() == 1):
            out[key] = torch.rand(shape, generator=g) + 0.5  # U(0.5, 1.5): BN gamma and variance
        elif key.endswith('running_mean') or key.endswith('.bias'):
            out[key] = (torch.rand(shape, generator=g) - 0.5) * 0.2  # U(-0.1, 0.1)
        elif ref.dim() == 4:
            fan_in = shape[1] * shape[2] * shape[3]
            # E[gamma^2] E[1/running_var] = (13/12) ln 3 ~ 1.19 for U(0.5, 1.5) each
            std = (2.0 / fan_in / 1.19) ** 0.5
            if key == first_conv:
                std /= 64.0
            elif re.search(r'\.layer\d\.\d+\.conv3\.weight$', key):
                std *= 0.25
            out[key] = torch.randn(shape, generator=g) * std
        else:
            raise SystemExit(f'random-checkpoint: no rule for {key} {tuple(shape)}')
    return out


# ---------------------------------------------------------------------------------------------
# The project's tensor container, by hand (format.ts): u64 LE header length, JSON header with
# {name: {dtype, shape, data_offsets}} and a __metadata__ string map, space padding so the data
# starts at a multiple of 8, then raw little-endian data.

def read_tensor_file(path):
    with open(path, 'rb') as f:
        raw = f.read()
    (n,) = struct.unpack('<Q', raw[:8])
    header = json.loads(raw[8:8 + n].decode('utf-8'))
    data = raw[8 + n:]
    tensors = {}
    for name, e in header.items():
        if name == '__metadata__':
            continue
        if e['dtype'] != 'F32':
            raise SystemExit(f'{path}: tensor {name} has dtype {e["dtype"]}, expected F32')
        begin, end = e['data_offsets']
        t = torch.frombuffer(bytearray(data[begin:end]), dtype=torch.float32)
        tensors[name] = t.reshape(e['shape'])
    return tensors, header.get('__metadata__', {})


def write_tensor_file(path, tensors, metadata):
    if sys.byteorder != 'little':
        raise SystemExit('write_tensor_file: big-endian hosts are not supported')
    header = {'__metadata__': {'format': FORMAT_NAME, 'format_version': FORMAT_VERSION, **metadata}}
    blobs = []
    offset = 0
    for name, t in tensors.items():
        t = t.detach().to(torch.float32).contiguous().cpu()
        # the tensor's own memory, without numpy (Debian's torch does not promise it)
        blob = ctypes.string_at(t.data_ptr(), t.numel() * 4) if t.numel() > 0 else b''
        header[name] = {'dtype': 'F32', 'shape': list(t.shape), 'data_offsets': [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    hb = json.dumps(header, separators=(',', ':')).encode('utf-8')
    hb += b' ' * ((HEADER_ALIGN - (8 + len(hb)) % HEADER_ALIGN) % HEADER_ALIGN)
    tmp = f'{path}.{os.getpid()}.tmp'  # renamed into place: never a half-written file under the final name
    with open(tmp, 'wb') as f:
        f.write(struct.pack('<Q', len(hb)))
        f.write(hb)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------------
# Subcommands

def cmd_forward(args):
    # Deterministic kernels; the thread count is left at torch's default.
    torch.use_deterministic_algorithms(True)
    t0 = time.time()
    model = load_model(args.arch, args.weights)
    dtype = torch.float64 if args.double else torch.float32
    model = model.to(dtype)
    inputs, _ = read_tensor_file(args.input)
    if 'input' not in inputs:
        raise SystemExit(f'{args.input}: no tensor named input')
    x = inputs['input']
    if x.dim() != 3 or x.shape[0] != 3:
        raise SystemExit(f'{args.input}: input has shape {tuple(x.shape)}, expected (3, H, W)')
    x = x.to(dtype).unsqueeze(0)

    wanted = set(block_module_names(args.arch))
    captured = {}
    calls = {}

    def hook_for(name):
        def hook(module, inp, out):
            # A module applied several times (torchvision's shared ReLU in --all mode) keeps one
            # entry per call: name, name#1, name#2, ...
            k = calls.get(name, 0)
            calls[name] = k + 1
            key = name if k == 0 else f'{name}#{k}'
            captured[key] = out.detach().clone()[0]  # clone: the next inplace LeakyReLU would overwrite it
        return hook

    for name, module in model.named_modules():
        if name in wanted or (args.all and name != '' and len(list(module.children())) == 0):
            module.register_forward_hook(hook_for(name))

    with torch.no_grad():
        loc, conf, landms = model(x)
    elapsed = time.time() - t0

    # module order, then the leaves (--all) in call order, then the network outputs
    order = block_module_names(args.arch)
    missing = [n for n in order if n not in captured]
    if missing:
        raise SystemExit(f'forward: no output captured for {missing}')
    tensors = {n: captured[n] for n in order}
    for n, t in captured.items():
        if n not in tensors:
            tensors[n] = t
    tensors['loc'] = loc[0]
    tensors['conf'] = conf[0]
    tensors['landms'] = landms[0]
    write_tensor_file(args.out, tensors, {
        'arch': args.arch,
        'torch': torch.__version__,
        'compute_dtype': 'float64' if args.double else 'float32',
        'threads': str(torch.get_num_threads()),
        'input_shape': 'x'.join(str(d) for d in x.shape[1:]),
        'all_leaves': '1' if args.all else '0',
    })
    if args.verbose:
        print(f'reference.py forward {args.arch} {tuple(x.shape[1:])} {"float64" if args.double else "float32"}: '
              f'{len(tensors)} tensors in {elapsed:.2f} s', file=sys.stderr)


def cmd_random_checkpoint(args):
    sd = random_state_dict(args.arch, args.seed)
    if args.module_prefix:
        sd = {'module.' + k: v for k, v in sd.items()}
    tmp = f'{args.out}.{os.getpid()}.tmp'
    torch.save(sd, tmp, _use_new_zipfile_serialization=(args.serialization == 'zip'))
    # it must load back strictly, through the same path as `forward`
    load_model(args.arch, tmp)
    os.replace(tmp, args.out)
    if args.verbose:
        print(f'reference.py random-checkpoint {args.arch} seed {args.seed} {args.serialization}: {len(sd)} keys',
              file=sys.stderr)


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--verbose', action='store_true', help='print one line per command to stderr')
    sub = p.add_subparsers(dest='cmd', required=True)
    f = sub.add_parser('forward', help='run a checkpoint on an input tensor file, write every module output')
    f.add_argument('--arch', choices=sorted(CONFIGS), required=True)
    f.add_argument('--weights', required=True, help='.pth checkpoint (legacy or zip serialization)')
    f.add_argument('--input', required=True, help='tensor file holding `input` (3, H, W), BGR minus means')
    f.add_argument('--out', required=True, help='tensor file to write')
    f.add_argument('--double', action='store_true', help='compute in float64 (outputs still written as float32)')
    f.add_argument('--all', action='store_true', help='also write every leaf module output (for small inputs)')
    f.set_defaults(run=cmd_forward)
    r = sub.add_parser('random-checkpoint', help='save seeded random weights for the whole network')
    r.add_argument('--arch', choices=sorted(CONFIGS), required=True)
    r.add_argument('--seed', type=int, required=True)
    r.add_argument('--out', required=True)
    r.add_argument('--serialization', choices=['zip', 'legacy'], required=True)
    r.add_argument('--module-prefix', action='store_true', help="prefix keys with 'module.' as DataParallel does")
    r.set_defaults(run=cmd_random_checkpoint)
    args = p.parse_args()
    args.run(args)


if __name__ == '__main__':
    main()
