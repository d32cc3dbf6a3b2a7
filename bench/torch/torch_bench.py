#!/usr/bin/python3
"""The PyTorch CPU peer of the end-to-end benchmark: one process, driven by bench/peers/torch.ts
with one JSON object per line on stdin, one reply per line on stdout.

  {"type": "init", "spec": {"kind": "torch", "threads"}, "arch", "weights", "check", "tolerance"}
      -> {"type": "init", "check": {...}} after running the check input against its expected outputs
  {"type": "run", "height", "width", "input"}   (input: raw float32 (3, H, W))
      -> {"type": "run", "ms": {"forward": ...}}
  {"type": "stop"} -> {"type": "stop", "peakRssMB": ...}

The forward time is measured here, around model(x) only, as the TypeScript side measures its own.
"""

import json
import resource
import sys
import time

import torch

from common import load_model, reference

ref = reference()
model = None
CHECK_REPEAT_MS = 20000  # bench/protocol.ts CHECK_REPEAT_MS


def peak_rss_mb():
    """Peak resident set in MB. getrusage's ru_maxrss survives execve on Linux (it would report
    the Node parent's peak); VmHWM in /proc/self/status starts afresh with this process image."""
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def compare(name, got, expected, tol):
    d = (got - expected).abs()
    excess = d - tol['abs'] - tol['rel'] * expected.abs()
    worst = int(torch.argmax(excess).item())
    max_abs = float(d.max().item())
    if float(excess.flatten()[worst].item()) <= 0:
        return {'ok': True, 'compared': 'loc, conf, landms on the check input', 'maxAbsError': max_abs}
    a, e = float(got.flatten()[worst]), float(expected.flatten()[worst])
    return {'ok': False, 'compared': 'loc, conf, landms on the check input', 'maxAbsError': max_abs,
            'message': f'torch {name}: out of tolerance at index {worst}: got {a}, expected {e}, error {abs(a - e)}'}


def handle(msg):
    global model
    if msg['type'] == 'init':
        torch.set_num_threads(int(msg['spec']['threads']))
        torch.set_num_interop_threads(1)
        model = load_model(ref, msg['arch'], msg['weights'])
        tensors, _ = ref.read_tensor_file(msg['check'])
        x = tensors['input'].unsqueeze(0)
        t0 = time.perf_counter()
        out = model(x)
        check_ms = (time.perf_counter() - t0) * 1000
        checks = [compare(k, o[0], tensors[k], msg['tolerance']) for k, o in zip(('loc', 'conf', 'landms'), out)]
        bad = [c for c in checks if not c['ok']]
        check = bad[0] if bad else dict(checks[0], maxAbsError=max(c['maxAbsError'] for c in checks))
        if not bad and check_ms < CHECK_REPEAT_MS:  # as bench/e2e_worker.ts: time a second call
            t0 = time.perf_counter()
            model(x)
            check_ms = (time.perf_counter() - t0) * 1000
        return {'type': 'init', 'check': check, 'checkForwardMs': check_ms,
                'missingStages': 'decode, preprocess, postprocess: a peer runs the network only'}
    if msg['type'] == 'run':
        h, w = int(msg['height']), int(msg['width'])
        x = torch.from_file(msg['input'], size=3 * h * w, dtype=torch.float32).reshape(1, 3, h, w)
        t0 = time.perf_counter()
        model(x)
        return {'type': 'run', 'ms': {'forward': (time.perf_counter() - t0) * 1000}}
    if msg['type'] == 'stop':
        return {'type': 'stop', 'peakRssMB': peak_rss_mb()}
    raise SystemExit(f'torch_bench: unknown message {msg}')


def main():
    for line in sys.stdin:
        if not line.strip():
            continue
        msg = json.loads(line)
        reply = handle(msg)
        sys.stdout.write(json.dumps(reply) + '\n')
        sys.stdout.flush()
        if msg['type'] == 'stop':
            break


if __name__ == '__main__':
    main()
