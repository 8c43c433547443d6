#!/usr/bin/python3
"""Writes the golden files that tests/test_golden.cpp compares ctnn's reference kernels against.

Run with Debian's PyTorch (python3-torch, 1.13):   /usr/bin/python3 tools/make_reference.py
Output: tests/data/golden/<case>.bin, one file per case, deterministic (seeded by the case name).

File format (little-endian), read by tests/golden_io.hpp:
    8 bytes   magic "CTNNGLD1"
    u32       number of tensors
    per tensor:
        u32 name length, name bytes (ASCII)
        u32 rank, u32 dims[rank]          (rank 0: a scalar, one value)
        f32 data[prod(dims)]              (row-major, PyTorch's layout: NCHW, [Out, In, K, K])

Tensor names in a case:
    x, dy            the input and a random upstream gradient (fresh random, never zeros)
    y, dx            PyTorch's output and input gradient (training mode unless the case says eval)
    y_eval           for nets with BatchNorm: the inference output with the initial running stats
    p/<name>         parameters and buffers before the step, by state_dict name ("weight",
                     "running_mean", or "0.weight" for a net)
    g/<name>         parameter gradients
    b1/<name>        buffers after the training forward (BatchNorm running stats, step count)

The reference values are computed in float64 from float32-representable inputs and parameters and
then rounded to float32: they are the exact answer to float32 precision, not one float32 summation
order. The script also runs every case in float32 and prints how far PyTorch's own float32 result
is from that (same metric as the C++ test), which shows what 1e-5 relative means.
"""
import copy
import os
import struct
import sys
import zlib

import torch
import torch.nn as nn

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "golden")
torch.use_deterministic_algorithms(True)


def write_case(name, tensors):
    os.makedirs(OUT, exist_ok=True)
    path = os.path.join(OUT, name + ".bin")
    with open(path, "wb") as f:
        f.write(b"CTNNGLD1")
        f.write(struct.pack("<I", len(tensors)))
        for key, t in tensors.items():
            t = t.detach().to(torch.float32).contiguous()
            k = key.encode("ascii")
            f.write(struct.pack("<I", len(k)))
            f.write(k)
            f.write(struct.pack("<I", t.dim()))
            f.write(struct.pack("<%dI" % t.dim(), *t.shape))
            f.write(t.numpy().astype("<f4").tobytes())
    return os.path.getsize(path)


def gen_for(name):
    g = torch.Generator().manual_seed(zlib.crc32(name.encode()))
    return g


def randn(g, *shape, scale=1.0, shift=0.0):
    """Fresh random float32 values, none exactly zero."""
    t = torch.randn(*shape, generator=g) * scale + shift
    t[t == 0] = 0.25
    return t


def rms(t):
    t = t.double()
    t = t[torch.isfinite(t)]
    return t.pow(2).mean().sqrt().item() if t.numel() else 0.0


def rel_err(got, want, scale=None):
    """max |got - want| / max(|want|, s), s = rms(want) or the given scale: the metric of
    tests/test_golden.cpp (for a parameter gradient, s is the rms of its layer's whole gradient)."""
    got, want = got.double(), want.double()
    same = (torch.isnan(got) & torch.isnan(want)) | (got == want)  # NaN where NaN, and equal infinities
    got, want = torch.where(same, 0.0, got), torch.where(same, 0.0, want)
    floor = torch.clamp(want.abs(), min=max(scale if scale is not None else rms(want), 1e-30))
    return ((got - want).abs() / floor).max().item()


def layer_grad_rms(grads, key):
    """The rms over all gradients of the layer that owns `key` ("0.bias" -> "0.weight", "0.bias")."""
    prefix = key.rsplit(".", 1)[0] if "." in key else ""
    parts = [v.flatten() for k, v in grads.items() if (k.rsplit(".", 1)[0] if "." in k else "") == prefix]
    return rms(torch.cat(parts))


def run(module, x, dy, train=True):
    """Forward in train/eval mode, backward with dy: y, dx, {name: grad}."""
    module.train(train)
    x = x.clone().requires_grad_(True)
    y = module(x)
    y.backward(dy)
    grads = {n: p.grad.clone() for n, p in module.named_parameters()}
    return y.detach(), x.grad.detach(), grads


def randomize_bn(module, g):
    """BatchNorm with non-trivial weight, bias and running statistics."""
    for m in module.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            c = m.num_features
            with torch.no_grad():
                m.weight.copy_(torch.rand(c, generator=g) + 0.5)
                m.bias.copy_(randn(g, c, scale=0.5))
                m.running_mean.copy_(randn(g, c, scale=0.5))
                m.running_var.copy_(torch.rand(c, generator=g) * 1.5 + 0.5)
                m.num_batches_tracked.fill_(3)


SIZES = {}
F32 = {}


def case(name, make_module, in_shape, batch, train=True, x_scale=1.0, x_shift=0.0, x=None, eval_too=False):
    """One golden case: a module (built under the case's seed), a random input and upstream grad."""
    g = gen_for(name)
    torch.manual_seed(zlib.crc32(name.encode()))  # for the modules' default initialisation
    m = make_module()
    randomize_bn(m, g)
    if x is None:
        x = randn(g, batch, *in_shape, scale=x_scale, shift=x_shift)
    state0 = {k: v.clone() for k, v in m.state_dict().items()}
    m32 = copy.deepcopy(m)

    tensors = {"x": x}
    for k, v in state0.items():
        tensors["p/" + k] = v

    m64 = m.double()
    if eval_too:
        with torch.no_grad():
            m64.eval()
            tensors["y_eval"] = m64(x.double())
    with torch.no_grad():
        m64.train(train)
        y_shape = m64(x.double()).shape
    m64.load_state_dict({k: v.double() if v.is_floating_point() else v for k, v in state0.items()})
    dy = randn(g, *y_shape)
    tensors["dy"] = dy
    y, dx, grads = run(m64, x.double(), dy.double(), train)
    tensors["y"] = y
    tensors["dx"] = dx
    for k, v in grads.items():
        tensors["g/" + k] = v
    if train:
        for k, v in m64.state_dict().items():
            if "running" in k or "num_batches" in k:
                tensors["b1/" + k] = v.clone()

    # PyTorch's own float32 run, for the report: how far is it from the float64 answer?
    y32, dx32, g32 = run(m32, x, dy, train)
    worst = max([rel_err(y32, y), rel_err(dx32, dx)] + [rel_err(g32[k], grads[k], layer_grad_rms(grads, k)) for k in grads])
    if eval_too:
        m32.load_state_dict(state0)
        m32.eval()
        with torch.no_grad():
            worst = max(worst, rel_err(m32(x), tensors["y_eval"]))
    F32[name] = worst
    SIZES[name] = write_case(name, tensors)


def tie_input(g, shape):
    """Few distinct values so pooling windows hold ties: PyTorch's first maximum must win."""
    vals = torch.tensor([-1.5, -0.5, 0.5, 1.0, 1.5])
    return vals[torch.randint(0, len(vals), shape, generator=g)]


class SqueezeExcitation(nn.Module):
    """torchvision.ops.SqueezeExcitation (torchvision is not in Debian's PyTorch): the same tensor
    names (fc1, fc2: 1x1 Conv2d, PyTorch's default initialisation) and computation."""

    def __init__(self, input_channels, squeeze_channels, activation=nn.ReLU, scale_activation=nn.Sigmoid):
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(input_channels, squeeze_channels, 1)
        self.fc2 = nn.Conv2d(squeeze_channels, input_channels, 1)
        self.activation = activation()
        self.scale_activation = scale_activation()

    def forward(self, x):
        return self.scale_activation(self.fc2(self.activation(self.fc1(self.avgpool(x))))) * x


def se_wide(c, sq, act, gate, fc2_scale):
    """A SqueezeExcitation whose fc2 weights are fc2_scale times the default, so the gate's input
    spreads over a few units (Hardsigmoid: both saturated ends and the slope are reached)."""
    m = SqueezeExcitation(c, sq, act, gate)
    with torch.no_grad():
        m.fc2.weight.mul_(fc2_scale)
    return m


class Residual(nn.Module):
    """ctnn::Residual<Body, Shortcut>: body(x) + shortcut(x), attributes `body` and `shortcut`."""
    def __init__(self, body, shortcut=None):
        super().__init__()
        self.body = body
        self.shortcut = shortcut if shortcut is not None else nn.Identity()

    def forward(self, x):
        return self.body(x) + self.shortcut(x)


class Concat(nn.ModuleList):
    """ctnn::Concat<B...>: the branches' outputs concatenated along dim 1; branch j is "j"."""
    def forward(self, x):
        return torch.cat([b(x) for b in self], dim=1)


def main():
    C = nn.Conv2d
    # Conv: stride 1/2/3, padding 0/1/2, kernel 1/2/3/5, non-square, batch 1 and 7, odd channels.
    case("conv_c3o5_k3_s1_p1_7x11_n7", lambda: C(3, 5, 3, 1, 1), (3, 7, 11), 7)
    case("conv_c5o6_k3_s2_p1_7x11_n1", lambda: C(5, 6, 3, 2, 1), (5, 7, 11), 1)
    case("conv_c3o7_k5_s1_p2_9x12_n7", lambda: C(3, 7, 5, 1, 2), (3, 9, 12), 7)
    case("conv_c2o3_k5_s2_p0_11x7_n7", lambda: C(2, 3, 5, 2, 0), (2, 11, 7), 7)
    case("conv_c13o5_k1_s1_p0_7x11_n7", lambda: C(13, 5, 1, 1, 0), (13, 7, 11), 7)
    case("conv_c5o3_k1_s2_p0_7x11_n1", lambda: C(5, 3, 1, 2, 0), (5, 7, 11), 1)
    case("conv_c4o9_k3_s2_p2_8x11_n7", lambda: C(4, 9, 3, 2, 2), (4, 8, 11), 7)
    case("conv_c3o5_k3_s2_p0_8x11_n7", lambda: C(3, 5, 3, 2, 0), (3, 8, 11), 7)
    case("conv_c3o4_k3_s3_p1_10x7_n7", lambda: C(3, 4, 3, 3, 1), (3, 10, 7), 7)
    case("conv_c3o5_k2_s2_p1_7x11_n7", lambda: C(3, 5, 2, 2, 1), (3, 7, 11), 7)
    case("conv_c1o3_k5_s1_p2_5x5_n1", lambda: C(1, 3, 5, 1, 2), (1, 5, 5), 1)
    # Conv with dilation and groups (depthwise: groups == in == out; with a channel multiplier: out = 2 in)
    case("conv_c4o6_k3_s1_p2_d2_9x11_n7", lambda: C(4, 6, 3, 1, 2, dilation=2), (4, 9, 11), 7)
    case("conv_c4o6_k3_s2_p1_g2_9x11_n1", lambda: C(4, 6, 3, 2, 1, groups=2), (4, 9, 11), 1)
    case("conv_c6o9_k3_s1_p1_g3_7x10_n7", lambda: C(6, 9, 3, 1, 1, groups=3), (6, 7, 10), 7)
    case("conv_c5o5_k3_s1_p1_g5_9x11_n7", lambda: C(5, 5, 3, 1, 1, groups=5), (5, 9, 11), 7)
    case("conv_c5o5_k3_s2_p1_g5_9x11_n1", lambda: C(5, 5, 3, 2, 1, groups=5), (5, 9, 11), 1)
    case("conv_c5o5_k5_s2_p2_g5_11x9_n7", lambda: C(5, 5, 5, 2, 2, groups=5), (5, 11, 9), 7)
    case("conv_c3o6_k3_s1_p1_g3_8x9_n7", lambda: C(3, 6, 3, 1, 1, groups=3), (3, 8, 9), 7)
    case("conv_c6o4_k3_s2_p3_d2_g2_13x11_n7", lambda: C(6, 4, 3, 2, 3, dilation=2, groups=2), (6, 13, 11), 7)
    # Linear
    case("linear_37_13_n7", lambda: nn.Linear(37, 13), (37,), 7)
    case("linear_20_7_n1", lambda: nn.Linear(20, 7), (20,), 1)
    # Element-wise activations, on a map and on a flat shape; wide inputs reach saturation.
    case("relu_3x5x7_n7", nn.ReLU, (3, 5, 7), 7)
    case("relu_19_n1", nn.ReLU, (19,), 1)
    special = torch.tensor([float("nan"), float("inf"), -float("inf"), -0.0, 0.0])
    g = gen_for("special")
    for act, nm in ((nn.ReLU, "relu"), (lambda: nn.LeakyReLU(0.2), "leaky_relu_02"), (nn.Sigmoid, "sigmoid"), (nn.Tanh, "tanh")):
        xs = randn(g, 2, 19)
        xs.view(-1)[torch.randperm(38, generator=g)[:10]] = special.repeat(2)
        case(nm + "_special_19_n2", act, (19,), 2, x=xs)  # NaN, +-inf, +-0 among the inputs
    case("leaky_relu_001_3x5x7_n7", lambda: nn.LeakyReLU(0.01), (3, 5, 7), 7)
    case("leaky_relu_02_19_n7", lambda: nn.LeakyReLU(0.2), (19,), 7)
    case("sigmoid_3x5x7_n7", nn.Sigmoid, (3, 5, 7), 7, x_scale=4.0)
    case("sigmoid_19_n1", nn.Sigmoid, (19,), 1)
    case("tanh_3x5x7_n7", nn.Tanh, (3, 5, 7), 7, x_scale=2.0)
    case("tanh_19_n1", nn.Tanh, (19,), 1)
    # GELU, SiLU, Hardswish, Hardsigmoid on a map and flat; inputs wide enough to pass the kinks at
    # +-3, with some exactly at -3 and 3 (where PyTorch's gradient conventions matter).
    def with_kinks(name, shape, scale):
        g = gen_for(name + "_x")
        x = randn(g, *shape, scale=scale)
        x.view(-1)[torch.randperm(x.numel(), generator=g)[:8]] = torch.tensor([-3.0, 3.0]).repeat(4)
        return x
    class ScalarLoop(nn.Module):
        """m on a strided view of x: PyTorch's CPU kernels then take their scalar loop, PyTorch's
        definition of the op (1.13's vectorized Hardswish backward deviates from it at x = 3 and NaN)."""
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, x):
            return self.m(torch.stack([x, x], dim=-1)[..., 0])
    hardswish = lambda: ScalarLoop(nn.Hardswish())
    for act, nm, sc in ((nn.GELU, "gelu", 3.0), (nn.SiLU, "silu", 4.0), (hardswish, "hardswish", 3.0),
                        (nn.Hardsigmoid, "hardsigmoid", 3.0)):
        case(nm + "_3x5x7_n7", act, (3, 5, 7), 7, x=with_kinks(nm + "_3x5x7_n7", (7, 3, 5, 7), sc))
        case(nm + "_19_n1", act, (19,), 1, x=with_kinks(nm + "_19_n1", (1, 19), sc))
    g = gen_for("special2")
    special2 = torch.tensor([float("nan"), float("inf"), -float("inf"), -0.0, 0.0, 3.0, -3.0])
    for act, nm in ((nn.GELU, "gelu"), (nn.SiLU, "silu"), (hardswish, "hardswish"), (nn.Hardsigmoid, "hardsigmoid")):
        xs = randn(g, 2, 19, scale=3.0)
        xs.view(-1)[torch.randperm(38, generator=g)[:14]] = special2.repeat(2)
        case(nm + "_special_19_n2", act, (19,), 2, x=xs)  # NaN, +-inf, +-0, +-3 among the inputs
    # Upsample (nearest), odd sizes
    case("upsample_s2_3x5x7_n7", lambda: nn.Upsample(scale_factor=2), (3, 5, 7), 7)
    case("upsample_s3_2x3x5_n1", lambda: nn.Upsample(scale_factor=3), (2, 3, 5), 1)
    case("upsample_s3_1x1x1_n7", lambda: nn.Upsample(scale_factor=3), (1, 1, 1), 7)
    case("net_act2_upsample_n5", lambda: nn.Sequential(
        C(3, 4, 3, 1, 1), nn.Hardswish(), nn.Upsample(scale_factor=2), C(4, 2, 3, 1, 1), nn.GELU(),
        nn.Flatten(), nn.Linear(2 * 16 * 16, 3), nn.SiLU()), (3, 8, 8), 5, x_scale=2.0)
    # Pooling (no padding, floor mode), non-square, strides below, equal to and above the window.
    case("maxpool_k2_s2_3x7x11_n7", lambda: nn.MaxPool2d(2, 2), (3, 7, 11), 7)
    case("maxpool_k3_s1_3x7x11_n1", lambda: nn.MaxPool2d(3, 1), (3, 7, 11), 1)
    case("maxpool_k3_s2_3x8x11_n7", lambda: nn.MaxPool2d(3, 2), (3, 8, 11), 7)
    case("maxpool_k3_s3_2x10x7_n7", lambda: nn.MaxPool2d(3, 3), (2, 10, 7), 7)
    case("maxpool_k2_s3_2x8x11_n7", lambda: nn.MaxPool2d(2, 3), (2, 8, 11), 7)
    g = gen_for("maxpool_ties")
    case("maxpool_ties_k3_s1_2x6x7_n7", lambda: nn.MaxPool2d(3, 1), (2, 6, 7), 7, x=tie_input(g, (7, 2, 6, 7)))
    case("maxpool_ties_k2_s2_2x6x7_n7", lambda: nn.MaxPool2d(2, 2), (2, 6, 7), 7, x=tie_input(g, (7, 2, 6, 7)))
    # NaN in a window: the output is NaN and the gradient goes to the window's last NaN (PyTorch's
    # `val > maxval || isnan(val)` scan); several NaNs, some windows with two.
    g = gen_for("maxpool_nan")
    xn = randn(g, 2, 2, 6, 7)
    for i in torch.randperm(xn.numel(), generator=g)[:30]:
        xn.view(-1)[i] = float("nan")
    case("maxpool_nan_k3_s1_2x6x7_n2", lambda: nn.MaxPool2d(3, 1), (2, 6, 7), 2, x=xn)
    case("avgpool_k2_s2_3x7x11_n7", lambda: nn.AvgPool2d(2, 2), (3, 7, 11), 7)
    case("avgpool_k3_s1_3x7x11_n1", lambda: nn.AvgPool2d(3, 1), (3, 7, 11), 1)
    case("avgpool_k3_s2_3x8x11_n7", lambda: nn.AvgPool2d(3, 2), (3, 8, 11), 7)
    case("avgpool_k2_s3_2x8x11_n7", lambda: nn.AvgPool2d(2, 3), (2, 8, 11), 7)
    case("global_avg_pool_5x7x11_n7", lambda: nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()), (5, 7, 11), 7)
    case("global_avg_pool_3x1x1_n1", lambda: nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()), (3, 1, 1), 1)
    case("flatten_3x4x5_n7", nn.Flatten, (3, 4, 5), 7)
    # BatchNorm, training (batch statistics, running-stat update) and inference; inputs off-centre.
    case("batchnorm2d_5x7x11_n7_train", lambda: nn.BatchNorm2d(5), (5, 7, 11), 7, x_scale=2.0, x_shift=0.5)
    case("batchnorm2d_3x4x5_n1_train", lambda: nn.BatchNorm2d(3), (3, 4, 5), 1, x_scale=2.0, x_shift=-0.5)
    case("batchnorm1d_13_n7_train", lambda: nn.BatchNorm1d(13), (13,), 7, x_scale=2.0, x_shift=0.5)
    case("batchnorm2d_5x7x11_n7_eval", lambda: nn.BatchNorm2d(5), (5, 7, 11), 7, train=False, x_scale=2.0, x_shift=0.5)
    case("batchnorm1d_13_n7_eval", lambda: nn.BatchNorm1d(13), (13,), 7, train=False, x_scale=2.0, x_shift=0.5)
    # Softmax(dim=1): flat (with large logits) and over the channels of a map.
    case("softmax_10_n7", lambda: nn.Softmax(dim=1), (10,), 7, x_scale=5.0)
    g = gen_for("softmax_special")
    xs = randn(g, 4, 10, scale=30.0)       # logits far apart (exp underflows in float32)
    xs[0, 3] = -float("inf")               # a masked entry
    xs[1, 1:] = -float("inf")              # one live entry: probability 1
    xs[2, 5] = float("nan")                # NaN poisons its row
    case("softmax_special_10_n4", lambda: nn.Softmax(dim=1), (10,), 4, x=xs)
    case("softmax_6x5x7_n7", lambda: nn.Softmax(dim=1), (6, 5, 7), 7, x_scale=2.0)
    # ConvTranspose: stride 1/2/3, padding (also above the kernel), output_padding, kernel 1/2/3/4,
    # stride above the kernel (output pixels no tap reaches: bias only), a 1x1 input, batch 1 and 7.
    T = nn.ConvTranspose2d
    case("convt_c3o5_k3_s1_p1_7x11_n7", lambda: T(3, 5, 3, 1, 1), (3, 7, 11), 7)
    case("convt_c5o4_k3_s2_p1_op1_5x6_n1", lambda: T(5, 4, 3, 2, 1, 1), (5, 5, 6), 1)
    case("convt_c4o6_k4_s2_p1_5x7_n7", lambda: T(4, 6, 4, 2, 1), (4, 5, 7), 7)
    case("convt_c3o4_k2_s2_p0_6x5_n7", lambda: T(3, 4, 2, 2, 0), (3, 6, 5), 7)
    case("convt_c2o3_k3_s3_p0_op2_4x5_n7", lambda: T(2, 3, 3, 3, 0, 2), (2, 4, 5), 7)
    case("convt_c3o5_k4_s3_p2_op1_4x6_n1", lambda: T(3, 5, 4, 3, 2, 1), (3, 4, 6), 1)
    case("convt_c1o3_k2_s3_p0_3x4_n7", lambda: T(1, 3, 2, 3, 0), (1, 3, 4), 7)
    case("convt_c13o5_k1_s1_p0_7x11_n7", lambda: T(13, 5, 1, 1, 0), (13, 7, 11), 7)
    case("convt_c2o3_k2_s3_p3_5x5_n7", lambda: T(2, 3, 2, 3, 3), (2, 5, 5), 7)
    case("convt_c3o2_k3_s2_p1_op1_1x1_n7", lambda: T(3, 2, 3, 2, 1, 1), (3, 1, 1), 7)
    # SqueezeExcitation (torchvision's): ReLU / Sigmoid and ReLU / Hardsigmoid (MobileNetV3's);
    # inputs off-centre so the squeezed means are not all near zero.
    case("se_c6s3_relu_sigmoid_5x7_n7", lambda: SqueezeExcitation(6, 3), (6, 5, 7), 7, x_shift=0.5)
    case("se_c5s2_relu_sigmoid_4x3_n1", lambda: SqueezeExcitation(5, 2), (5, 4, 3), 1, x_shift=-0.5)
    case("se_c8s4_relu_hardsigmoid_5x6_n7", lambda: se_wide(8, 4, nn.ReLU, nn.Hardsigmoid, 12.0), (8, 5, 6), 7, x_scale=2.0, x_shift=1.0)
    case("se_c4s2_relu_hardsigmoid_3x3_n1", lambda: SqueezeExcitation(4, 2, nn.ReLU, nn.Hardsigmoid), (4, 3, 3), 1, x_shift=0.5)
    # An encoder-decoder with both: strided Conv down, the gate, ConvTranspose back up.
    case("net_conv_se_convt_n3", lambda: nn.Sequential(
        C(3, 8, 3, 2, 1), nn.ReLU(), SqueezeExcitation(8, 4, nn.ReLU, nn.Hardsigmoid),
        T(8, 4, 4, 2, 1), nn.ReLU(), T(4, 2, 3, 2, 1, 1)), (3, 6, 7), 3)
    # Whole nets. The seed's CNN:
    case("net_seed_cnn_n5", lambda: nn.Sequential(
        C(3, 16, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2),
        C(16, 32, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 8 * 8, 10)), (3, 32, 32), 5)
    # A net with BatchNorm (2-d and 1-d), Tanh, AvgPool, Sigmoid:
    case("net_bn_tanh_avgpool_n5", lambda: nn.Sequential(
        C(3, 6, 3, 1, 1), nn.BatchNorm2d(6), nn.Tanh(), nn.AvgPool2d(2),
        nn.Flatten(), nn.Linear(6 * 6 * 5, 9), nn.BatchNorm1d(9), nn.Sigmoid(), nn.Linear(9, 4)),
        (3, 12, 10), 5, eval_too=True)
    # Blocks: nested Sequential, Residual (identity and projection shortcut), Concat with an
    # Identity branch, BatchNorm inside blocks (running statistics in training and inference)
    case("net_blocks_n5", lambda: nn.Sequential(
        C(3, 4, 3, 1, 1), nn.ReLU(),
        Residual(nn.Sequential(C(4, 4, 3, 1, 1), nn.BatchNorm2d(4), nn.ReLU(), C(4, 4, 3, 1, 1))), nn.ReLU(),
        Residual(nn.Sequential(C(4, 6, 3, 2, 1), nn.BatchNorm2d(6)), nn.Sequential(C(4, 6, 1, 2, 0), nn.BatchNorm2d(6))),
        Concat([C(6, 2, 1, 1, 0), nn.Sequential(C(6, 3, 3, 1, 1), nn.Tanh()), nn.Identity()]), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(11 * 2 * 3, 5)), (3, 9, 11), 5, eval_too=True)
    case("net_nested_chain_n3", lambda: nn.Sequential(
        nn.Sequential(nn.Sequential(C(2, 3, 3, 1, 1), nn.Sigmoid()), nn.Flatten()),
        Concat([nn.Linear(3 * 5 * 4, 4), nn.Sequential(nn.Linear(3 * 5 * 4, 3), nn.Tanh())]),
        Residual(nn.Linear(7, 7)), nn.Linear(7, 2)), (2, 5, 4), 3)

    total = sum(SIZES.values())
    for k in sorted(SIZES):
        print("%-34s %7d bytes   PyTorch float32 vs float64: max rel err %.2e" % (k, SIZES[k], F32[k]))
    print("%d cases, %d bytes in %s" % (len(SIZES), total, os.path.normpath(OUT)))
    if total > 2_000_000:
        sys.exit("golden data over 2 MB")


if __name__ == "__main__":
    main()
