"""Optional: LSTPNet parity against a PyTorch forward pass (skipped without torch).

The required parity test is the numpy one (test_lstpnet.py). This one runs PyTorch's own
operators (F.conv2d with symmetric padding, max_pool2d's -inf padding, eval-mode
batch_norm, layer_norm, erf GELU) in a functional re-implementation written from
docs/design.md#lstpnet, with TCE's reshapes as in the official module (T = 16), and reads
a real ``.pth`` training checkpoint (``model_state_dict``, ``module.`` names) through
``ferzoo.weights.lstpnet.load_state_dict`` (``weights_only=True``).
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from ferzoo.weights import lstpnet as convert
from tests.models import lstpnet_reference as ref

torch = pytest.importorskip("torch")
F = torch.nn.functional


def _tce(x, sd, name, frames):
    b, c = x.shape[:2]
    w1, b1 = sd[f"{name}.eca_conv_1.0.weight"], sd[f"{name}.eca_conv_1.0.bias"]
    w2, b2 = sd[f"{name}.eca_conv_2.0.weight"], sd[f"{name}.eca_conv_2.0.bias"]
    r, pad = w1.shape[0], w1.shape[-1] // 2
    outs = []
    for pooled in (F.adaptive_max_pool2d(x, 1), F.adaptive_avg_pool2d(x, 1)):
        y = F.conv1d(pooled.view(b, 1, -1), w1, b1, padding=pad)
        y = y.view(-1, frames, r, c).permute(0, 2, 3, 1).reshape(-1, c, frames)
        y = F.conv1d(y, sd[f"{name}.action_p2_conv1.weight"], None, padding=1)
        y = y.view(-1, r, c, frames).permute(0, 3, 1, 2).reshape(-1, r, c)
        outs.append(F.conv1d(F.relu(y), w2, b2, padding=pad).view(b, -1, 1, 1))
    return x * (2 * torch.sigmoid(outs[0] + outs[1]))


def _bn(x, sd, name):
    return F.batch_norm(x, sd[f"{name}.running_mean"], sd[f"{name}.running_var"],
                        sd[f"{name}.weight"], sd[f"{name}.bias"], False, 0.0, 1e-5)


def _ln(x, sd, name):
    return F.layer_norm(x, x.shape[-1:], sd[f"{name}.weight"], sd[f"{name}.bias"], 1e-5)


def _lin(x, sd, name):
    return F.linear(x, sd[f"{name}.weight"], sd.get(f"{name}.bias"))


def torch_forward(video, sd, heads=8):
    b, t = video.shape[:2]
    x = video.reshape(b * t, *video.shape[2:]).permute(0, 3, 1, 2)
    p = "s_former.ir_back"
    x = F.relu(_bn(F.conv2d(x, sd[f"{p}.conv1.weight"], None, 2, 3), sd, f"{p}.bn1"))
    x = F.max_pool2d(x, 3, 2, 1)
    for stage in range(1, 5):
        for block in range(2):
            n, stride = f"{p}.layer{stage}.{block}", 2 if stage > 1 and block == 0 else 1
            inp = _tce(x, sd, f"{n}.eca", t) if stage > 1 else x
            y = F.relu(_bn(F.conv2d(inp, sd[f"{n}.conv1.weight"], sd[f"{n}.conv1.bias"],
                                    stride, 1), sd, f"{n}.bn1"))
            y = _bn(F.conv2d(y, sd[f"{n}.conv2.weight"], sd[f"{n}.conv2.bias"], 1, 1), sd,
                    f"{n}.bn2")
            if f"{n}.downsample.0.weight" in sd:
                short = _bn(F.conv2d(inp, sd[f"{n}.downsample.0.weight"],
                                     sd[f"{n}.downsample.0.bias"], stride), sd, f"{n}.downsample.1")
            else:
                short = x
            x = F.relu(y + short)
    x = F.adaptive_avg_pool2d(_tce(x, sd, "s_former.eca", t), 1).flatten(1).view(b, t, -1)
    q = "t_former.spatial_transformer"
    for i in range(2):
        x = _ln(F.conv1d(x.transpose(1, 2), sd[f"{q}.layers.{i}.0.weight"],
                         sd[f"{q}.layers.{i}.0.bias"], padding=1).transpose(1, 2) + x,
                sd, f"{q}.layers.{i}.1")
        a, f = f"{q}.layers.{i}.2.fn", f"{q}.layers.{i}.3.fn"
        qkv = _lin(_ln(x, sd, f"{a}.norm"), sd, f"{a}.fn.to_qkv").chunk(3, dim=-1)
        qh, kh, vh = (z.reshape(b, t, heads, -1).transpose(1, 2) for z in qkv)
        attn = (qh @ kh.transpose(-1, -2) * qh.shape[-1] ** -0.5).softmax(-1)
        x = x + _lin((attn @ vh).transpose(1, 2).reshape(b, t, -1), sd, f"{a}.fn.to_out.0")
        h = _ln(F.gelu(_lin(_ln(x, sd, f"{f}.norm"), sd, f"{f}.fn.linear1.0")), sd,
                f"{f}.fn.linear1.2")
        hc = h.transpose(1, 2)
        h = F.conv1d(hc, sd[f"{f}.fn.TC.weight"], sd[f"{f}.fn.TC.bias"], padding=1,
                     groups=hc.shape[1]) + hc
        h = _ln(F.gelu(h.transpose(1, 2)), sd, f"{f}.fn.norm")
        x = x + _ln(_lin(h, sd, f"{f}.fn.linear2.0"), sd, f"{f}.fn.linear2.1")
    return _lin(x.mean(1), sd, "fc")


def test_pth_checkpoint_converts_and_matches_pytorch(tmp_path):
    sd = ref.random_state_dict(seed=11)
    tensors = {k: torch.from_numpy(np.array(v)) for k, v in sd.items()}
    path = tmp_path / "lstpnet_dfew.pth"
    torch.save({"epoch": 32, "model_state_dict": {f"module.{k}": v for k, v in tensors.items()}},
               path)
    model = convert.lstpnet_from_torch(convert.load_state_dict(path), image_size=64,
                                       activation="linear")
    video = np.random.default_rng(12).uniform(0, 1, (1, 16, 64, 64, 3)).astype("float32")
    got = keras.ops.convert_to_numpy(model({"video": video}, training=False))
    with torch.no_grad():
        expected = torch_forward(torch.from_numpy(video).double(),
                                 {k: v.double() for k, v in tensors.items()}).numpy()
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-4)
