"""Shared by the benchmark's PyTorch scripts: the network and the tensor container come from the
project's reference script, test/torch/reference.py (one definition of the network in PyTorch)."""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REFERENCE_DIR = os.path.join(HERE, '..', '..', 'test', 'torch')

# Exit code meaning "this peer cannot run here" (the harness reports the message as the reason).
UNAVAILABLE = 3


def reference():
    if not os.path.exists(os.path.join(REFERENCE_DIR, 'reference.py')):
        print('test/torch/reference.py is not on this branch (merge main once it lands)', file=sys.stderr)
        sys.exit(UNAVAILABLE)
    sys.path.insert(0, REFERENCE_DIR)
    import reference as ref  # noqa: E402
    return ref


def load_model(ref, arch, weights_file):
    """The reference network with the weights the TypeScript side wrote (a state dict minus the
    num_batches_tracked counters, which eval mode never reads); strict for every other key."""
    import torch
    model = ref.RetinaFace(arch)
    tensors, _ = ref.read_tensor_file(weights_file)
    state = model.state_dict()
    for k in state:
        if k.endswith('num_batches_tracked'):
            tensors[k] = state[k]
    model.load_state_dict(tensors, strict=True)
    model.eval()
    torch.set_grad_enabled(False)
    return model
