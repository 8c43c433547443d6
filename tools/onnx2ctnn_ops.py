"""The ONNX ops tools/onnx2ctnn maps onto ctnn layers, one function per op, and the constant folding
of the shape subgraphs exporters emit (Shape, Gather, Unsqueeze, Concat, ... feeding a Reshape).

Shapes here are per sample (no batch dimension): (C, H, W) or (F,), as ctnn's. A converter gets the
node, its data inputs' sample shapes and the graph context `g` (g.const: value -> numpy array,
g.batch: the batch dimension as Shape reports it) and returns one of
    ("layer", Leaf, out_shape)  the node is this ctnn layer
    ("noop", out_shape)         its output is its data input (Identity, Flatten of a flat shape)
    ("join", op, out_shape)     Add / Mul / Concat of two or more data inputs (a block's end)
Anything it cannot map exactly raises node_error(node, why).
"""
from fractions import Fraction

import numpy as np
from onnx import helper, numpy_helper

from onnx2ctnn_layers import Leaf, node_error

# The batch dimension as a folded Shape node reports it when the model's batch is dynamic: a value
# no real dimension has, so a Reshape target can tell "the batch" from a sample dimension.
DYNAMIC_BATCH = 1 << 40

ELEMENTWISE = {"Relu", "LeakyRelu", "Sigmoid", "Tanh", "Gelu", "HardSwish", "HardSigmoid", "Identity", "Dropout"}


def attrs(node):
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def f32(a):
    return np.asarray(a, dtype=np.float32)


# ---- constant folding ----------------------------------------------------------------------------

def fold(node, g):
    """The outputs of a node whose inputs are all constants (or a Shape of a data value), or None."""
    op, at = node.op_type, attrs(node)
    ins = [g.const.get(i) if i else None for i in node.input]
    if op == "Constant":
        if "value" in at:
            return [numpy_helper.to_array(at["value"])]
        for key, dtype in (("value_int", np.int64), ("value_ints", np.int64), ("value_float", np.float32),
                           ("value_floats", np.float32)):
            if key in at:
                return [np.array(at[key], dtype=dtype)]
        raise node_error(node, f"Constant with {sorted(at)}: only a tensor, int(s) or float(s) is supported")
    if op == "Shape":
        if node.input[0] in g.const:
            full = list(g.const[node.input[0]].shape)
        else:
            full = [g.batch] + list(g.shape[node.input[0]])
        return [np.array(full[at.get("start", 0):at.get("end", len(full))], dtype=np.int64)]
    if any(i is None for i, name in zip(ins, node.input) if name):
        return None
    if op in ("Identity", "Cast"):
        return [ins[0].astype(helper.tensor_dtype_to_np_dtype(at["to"])) if op == "Cast" else ins[0]]
    if op == "Gather":
        return [np.take(ins[0], ins[1], axis=at.get("axis", 0))]
    if op in ("Unsqueeze", "Squeeze"):
        axes = at.get("axes", None if len(ins) < 2 else ins[1].tolist())
        if op == "Unsqueeze":
            out = ins[0]
            for a in sorted(int(x) % (out.ndim + len(axes)) for x in axes):
                out = np.expand_dims(out, a)
            return [out]
        return [np.squeeze(ins[0], axis=None if axes is None else tuple(axes))]
    if op == "Concat":
        return [np.concatenate([np.atleast_1d(x) for x in ins], axis=at.get("axis", 0))]
    if op == "Slice":
        starts, ends = ins[1], ins[2]
        axes = ins[3] if len(ins) > 3 and ins[3] is not None else range(len(starts))
        steps = ins[4] if len(ins) > 4 and ins[4] is not None else [1] * len(starts)
        sl = [slice(None)] * ins[0].ndim
        for s, e, a, st in zip(starts, ends, axes, steps):
            sl[int(a)] = slice(int(s), int(e), int(st))
        return [ins[0][tuple(sl)]]
    if op in ("Add", "Sub", "Mul", "Div"):
        f = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.floor_divide
             if ins[0].dtype.kind == "i" else np.divide}[op]
        return [f(ins[0], ins[1])]
    if op == "Reshape":
        return [ins[0].reshape(reshape_target(node, ins[0].shape, ins[1], at))]
    if op == "ConstantOfShape":
        v = numpy_helper.to_array(at["value"]) if "value" in at else np.zeros(1, np.float32)
        return [np.full(ins[0].astype(np.int64), v.reshape(-1)[0], dtype=v.dtype)]
    return None


def reshape_target(node, shape, target, at):
    """ONNX Reshape's output shape: 0 copies the input's dimension (allowzero 0), -1 is inferred."""
    out = [int(t) for t in target]
    if at.get("allowzero", 0) and 0 in out:
        raise node_error(node, "Reshape with allowzero=1 to a shape with a 0 (an empty tensor) is not supported")
    out = [shape[i] if t == 0 else t for i, t in enumerate(out)]
    if -1 in out:
        known = int(np.prod([t for t in out if t != -1]))
        out[out.index(-1)] = int(np.prod(shape)) // max(known, 1)
    return out


# ---- the ops ---------------------------------------------------------------------------------------

def need_const(node, g, i, what):
    name = node.input[i] if i < len(node.input) else ""
    if not name or name not in g.const:
        raise node_error(node, f"{what} (input {i}) must be a constant (an initializer), not computed at run time")
    return g.const[name]


def square(node, values, what):
    values = list(values)
    if len(values) != 2:
        raise node_error(node, f"only 2-D {what} (NCHW inputs) are supported, got {values}")
    if values[0] != values[1]:
        raise node_error(node, f"{what} {values}: ctnn's layers are square (equal height and width)")
    return int(values[0])


def sym_pads(node, at, kernel, hw, stride, dilation):
    """One padding for all four sides; SAME_UPPER / SAME_LOWER are resolved first (per extent)."""
    pads = {sym_pad(node, at, kernel, x, stride, dilation) for x in hw}
    if len(pads) != 1:
        raise node_error(node, f"auto_pad pads height and width differently ({sorted(pads)}); ctnn pads every side equally")
    return pads.pop()


def sym_pad(node, at, kernel, in_hw, stride, dilation):
    auto = at.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else auto
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        span = dilation * (kernel - 1) + 1
        total = max((-(-in_hw // stride) - 1) * stride + span - in_hw, 0)
        if total % 2:
            raise node_error(node, f"auto_pad={auto} pads unevenly here ({total} in all); ctnn pads every side equally")
        return total // 2
    if auto == "VALID":
        return 0
    pads = list(at.get("pads", [0, 0, 0, 0]))
    if len(set(pads)) != 1:
        raise node_error(node, f"pads {pads}: ctnn pads every side equally")
    return int(pads[0])


def image(node, shape):
    if len(shape) != 3:
        raise node_error(node, f"needs an NCHW input, got per-sample shape {list(shape)}")
    return shape


def conv(node, shapes, g):
    at, (c, h, w) = attrs(node), image(node, shapes[0])
    wt = f32(need_const(node, g, 1, "the weight"))
    out, group = wt.shape[0], int(at.get("group", 1))
    k = square(node, at.get("kernel_shape", wt.shape[2:]), "kernels")
    s = square(node, at.get("strides", [1, 1]), "strides")
    d = square(node, at.get("dilations", [1, 1]), "dilations")
    p = sym_pads(node, at, k, (h, w), s, d)
    if wt.shape[1] * group != c:
        raise node_error(node, f"weight {list(wt.shape)} with group {group} does not fit {c} input channels")
    bias = f32(need_const(node, g, 2, "the bias")) if len(node.input) > 2 and node.input[2] else np.zeros(out, np.float32)
    oh, ow = ((x + 2 * p - d * (k - 1) - 1) // s + 1 for x in (h, w))
    return ("layer", Leaf("Conv", (c, out, k, s, p, d, group), [("weight", wt, True), ("bias", bias, True)],
                          kernel=k, stride=s), (out, oh, ow))


def conv_transpose(node, shapes, g):
    at, (c, h, w) = attrs(node), image(node, shapes[0])
    wt = f32(need_const(node, g, 1, "the weight"))
    if int(at.get("group", 1)) != 1:
        raise node_error(node, "ConvTranspose with groups is not supported (ctnn::ConvTranspose has groups 1)")
    if "output_shape" in at:
        raise node_error(node, "ConvTranspose with output_shape is not supported: give pads and output_padding")
    k = square(node, at.get("kernel_shape", wt.shape[2:]), "kernels")
    s = square(node, at.get("strides", [1, 1]), "strides")
    if square(node, at.get("dilations", [1, 1]), "dilations") != 1:
        raise node_error(node, "ConvTranspose with dilation is not supported")
    auto = at.get("auto_pad", b"NOTSET")
    if (auto.decode() if isinstance(auto, bytes) else auto) not in ("NOTSET", "VALID"):
        raise node_error(node, f"ConvTranspose auto_pad={auto} is not supported")
    p = sym_pads(node, at, k, (h, w), s, 1)
    op = square(node, at.get("output_padding", [0, 0]), "output paddings")
    if op >= s:
        raise node_error(node, f"output_padding {op} must be smaller than the stride {s}")
    out = wt.shape[1]
    bias = f32(need_const(node, g, 2, "the bias")) if len(node.input) > 2 and node.input[2] else np.zeros(out, np.float32)
    oh, ow = ((x - 1) * s - 2 * p + k + op for x in (h, w))
    if min(oh, ow) <= 0:
        raise node_error(node, "the output would be empty")
    return ("layer", Leaf("ConvTranspose", (c, out, k, s, p, op), [("weight", wt, True), ("bias", bias, True)]),
            (out, oh, ow))


def linear_from(node, wt_in_out, bias, shapes):
    if len(shapes[0]) != 1 or shapes[0][0] != wt_in_out.shape[0]:
        raise node_error(node, f"needs [N, {wt_in_out.shape[0]}] features, got per-sample shape {list(shapes[0])}")
    n_in, n_out = wt_in_out.shape
    b = np.broadcast_to(f32(bias), (n_out,)).copy() if bias is not None else np.zeros(n_out, np.float32)
    return ("layer", Leaf("Linear", (n_in, n_out), [("weight", f32(wt_in_out.T).copy(), True), ("bias", b, True)]),
            (n_out,))


def gemm(node, shapes, g):
    at = attrs(node)
    if at.get("transA", 0):
        raise node_error(node, "Gemm with transA=1 is not supported (the batch must be A's first dimension)")
    b = f32(need_const(node, g, 1, "B"))
    w = b.T if at.get("transB", 0) else b  # [In, Out]
    alpha, beta = float(at.get("alpha", 1.0)), float(at.get("beta", 1.0))
    bias = None
    if len(node.input) > 2 and node.input[2]:
        c = f32(need_const(node, g, 2, "C"))
        if c.size not in (1, w.shape[1]) or (c.ndim == 2 and c.shape[0] != 1) or c.ndim > 2:
            raise node_error(node, f"C of shape {list(c.shape)}: only a bias of one value per output (or a scalar)")
        bias = f32(np.float64(beta) * c.astype(np.float64)).reshape(-1)
    # alpha and beta fold into the weights: exact when 1 (the common case), rounded once otherwise
    w = w if alpha == 1.0 else f32(np.float64(alpha) * w.astype(np.float64))
    return linear_from(node, w, bias, shapes)


def matmul(node, shapes, g):
    w = f32(need_const(node, g, 1, "B"))
    if w.ndim != 2:
        raise node_error(node, f"B of shape {list(w.shape)}: only a 2-D weight is supported")
    return linear_from(node, w, None, shapes)


def batchnorm(node, shapes, g):
    at = attrs(node)
    if at.get("training_mode", 0) or len([o for o in node.output if o]) > 1:
        raise node_error(node, "BatchNormalization in training mode is not supported (inference only)")
    c = shapes[0][0]
    scale, b, mean, var = (f32(need_const(node, g, i, n)) for i, n in enumerate(("scale", "B", "mean", "var"), 1))
    eps = float(at.get("epsilon", 1e-5))
    # ctnn's BatchNorm has PyTorch's eps 1e-5: another eps folds into the variance (same sqrt)
    var = f32(var.astype(np.float64) + eps - 1e-5)
    if (var < 0).any():
        raise node_error(node, f"epsilon {eps} below 1e-5 with a variance too small to fold it into")
    t = [("weight", scale, True), ("bias", b, True), ("running_mean", mean, False), ("running_var", var, False),
         ("num_batches_tracked", np.zeros((), np.int64), False)]
    return ("layer", Leaf("BatchNorm", (c,), t), shapes[0])


def pool(node, shapes, g, kind):
    at, (c, h, w) = attrs(node), image(node, shapes[0])
    if len([o for o in node.output if o]) > 1:
        raise node_error(node, "the Indices output is not supported")
    k = square(node, at["kernel_shape"], "kernels")
    s = square(node, at.get("strides", [1, 1]), "strides")
    if square(node, at.get("dilations", [1, 1]), "dilations") != 1:
        raise node_error(node, "pooling with dilation is not supported")
    if sym_pads(node, at, k, (h, w), s, 1) != 0:
        raise node_error(node, "pooling with padding is not supported (ctnn pools without padding)")
    oh, ow = ((x - k) // s + 1 for x in (h, w))
    if at.get("ceil_mode", 0) and any(-(-(x - k) // s) + 1 != o for x, o in ((h, oh), (w, ow))):
        raise node_error(node, "ceil_mode=1 gives another output size here; ctnn pools in floor mode")
    if at.get("storage_order", 0):
        raise node_error(node, "storage_order=1 is not supported")
    return ("layer", Leaf(kind, (k, s), kernel=k, stride=s), (c, oh, ow))


def global_avg_pool(node, shapes, g):
    c, h, w = image(node, shapes[0])
    # ONNX keeps [C, 1, 1]; ctnn's GlobalAvgPool flattens to [C]. The graph walk turns this into
    # GlobalAvgPool when a Flatten / Reshape follows, else into AvgPool<H> (a square map).
    return ("layer", Leaf("GlobalAvgPool", global_pool=(h, w)), (c, 1, 1))


def reduce_mean(node, shapes, g):
    """The mean over height and width (PyTorch's AdaptiveAvgPool2d(1)): GlobalAveragePool's."""
    at = attrs(node)
    axes = at.get("axes", None)
    if axes is None and len(node.input) > 1 and node.input[1]:
        axes = need_const(node, g, 1, "axes").tolist()
    rank = len(image(node, shapes[0])) + 1
    if axes is None or sorted(int(a) % rank for a in axes) != [2, 3]:
        raise node_error(node, f"ReduceMean over axes {axes}: only over height and width (axes 2, 3)")
    kind, c = global_avg_pool(node, shapes, g), shapes[0][0]
    return kind if at.get("keepdims", 1) else ("layer", Leaf("GlobalAvgPool"), (c,))


def flatten(node, shapes, g):
    axis = attrs(node).get("axis", 1)
    if axis % (len(shapes[0]) + 1) != 1:
        raise node_error(node, f"Flatten axis {axis}: only axis 1 (keep the batch) is supported")
    # a Flatten of [N, F] is ctnn's Flatten too (no kernel runs), so that save_onnx's comes back
    return ("layer", Leaf("Flatten"), (int(np.prod(shapes[0])),))


def flat_result(shape):
    return ("noop", shape) if len(shape) == 1 else ("layer", Leaf("Flatten"), (int(np.prod(shape)),))


def reshape(node, shapes, g):
    target = need_const(node, g, 1, "the shape")
    at, full = attrs(node), [g.batch] + list(shapes[0])
    out = reshape_target(node, full, target, at)
    if out[0] != g.batch:
        raise node_error(node, f"Reshape to {out} changes the batch dimension; only [N, -1] (flatten) is supported")
    if tuple(out[1:]) == tuple(shapes[0]):
        return ("noop", shapes[0])
    if len(out) == 2:
        return flat_result(shapes[0])
    raise node_error(node, f"Reshape of {full} to {out}: only flattening to [N, features] is supported")


def activation(kind):
    return lambda node, shapes, g: ("layer", Leaf(kind), shapes[0])


def leaky_relu(node, shapes, g):
    alpha = float(attrs(node).get("alpha", 0.01))
    fr = Fraction(alpha).limit_denominator(100000)
    if alpha < 0 or np.float32(fr.numerator / fr.denominator) != np.float32(alpha):
        raise node_error(node, f"alpha {alpha} is not a ratio Num/Den ctnn::LeakyReLU can hold")
    return ("layer", Leaf("LeakyReLU", (fr.numerator, fr.denominator)), shapes[0])


def hard_sigmoid(node, shapes, g):
    at = attrs(node)
    alpha, beta = at.get("alpha", 0.2), at.get("beta", 0.5)
    if abs(alpha - 1 / 6) > 1e-6 or abs(beta - 0.5) > 1e-7:
        raise node_error(node, f"alpha {alpha}, beta {beta}: ctnn::Hardsigmoid is PyTorch's (alpha 1/6, beta 0.5)")
    return ("layer", Leaf("Hardsigmoid"), shapes[0])


def gelu(node, shapes, g):
    approx = attrs(node).get("approximate", b"none")
    if (approx.decode() if isinstance(approx, bytes) else approx) != "none":
        raise node_error(node, "only the exact (erf) GELU is supported, not approximate='tanh'")
    return ("layer", Leaf("GELU"), shapes[0])


def softmax(node, shapes, g):
    rank = len(shapes[0]) + 1
    axis = attrs(node).get("axis", -1 if g.opset >= 13 else 1) % rank
    if axis != 1 or (g.opset < 13 and rank != 2):
        raise node_error(node, f"Softmax over axis {axis} of a rank-{rank} tensor (opset {g.opset}): ctnn's Softmax "
                               "is over the features of [N, F] or the channels of [N, C, H, W]")
    return ("layer", Leaf("Softmax"), shapes[0])


def dropout(node, shapes, g):
    if len([o for o in node.output if o]) > 1:
        raise node_error(node, "the mask output is not supported")
    ratio = attrs(node).get("ratio", 0.5)
    if len(node.input) > 1 and node.input[1]:
        ratio = float(need_const(node, g, 1, "ratio"))
    if len(node.input) > 2 and node.input[2] and bool(need_const(node, g, 2, "training_mode")):
        raise node_error(node, "Dropout in training mode is not supported (inference only)")
    pct = ratio * 100
    if abs(pct - round(pct)) > 1e-6:
        raise node_error(node, f"ratio {ratio} is not a whole percentage (ctnn::Dropout<Percent>)")
    return ("layer", Leaf("Dropout", (int(round(pct)),)), shapes[0])


def resize(node, shapes, g):
    at, (c, h, w) = attrs(node), image(node, shapes[0])
    txt = lambda k, d: (lambda v: v.decode() if isinstance(v, bytes) else v)(at.get(k, d))
    if txt("mode", "nearest") != "nearest":
        raise node_error(node, f"mode '{txt('mode', 'nearest')}': only nearest is supported")
    coord, near = txt("coordinate_transformation_mode", "half_pixel"), txt("nearest_mode", "round_prefer_floor")
    if node.op_type == "Upsample":
        coord, near = "asymmetric", "floor"
    # with an integer scale S these pick source pixel floor(i / S), ctnn::Upsample's rule
    if not ((coord == "asymmetric" and near == "floor") or
            (coord in ("half_pixel", "pytorch_half_pixel") and near in ("round_prefer_floor", "round_prefer_ceil"))):
        raise node_error(node, f"coordinate_transformation_mode '{coord}' with nearest_mode '{near}' is not "
                               "ctnn::Upsample's nearest rule")
    ins = list(node.input)
    sizes = g.const.get(ins[3]) if len(ins) > 3 and ins[3] else None
    if sizes is not None and sizes.size == 4:
        s = sizes.astype(np.float64) / np.array([sizes[0], c, h, w], dtype=np.float64)
    else:
        i = 1 if node.op_type == "Upsample" or g.opset < 11 else 2
        s = g.const.get(ins[i]) if len(ins) > i and ins[i] else None
        if s is None or s.size != 4:
            raise node_error(node, "needs constant scales or sizes of 4 values")
        s = s.astype(np.float64)
    if not (s[0] == 1 and s[1] == 1 and s[2] == s[3] and s[2] == int(s[2]) and s[2] >= 1):
        raise node_error(node, f"scales {s.tolist()}: only one integer factor for height and width is supported")
    k = int(s[2])
    return ("layer", Leaf("Upsample", (k,)), (c, h * k, w * k))


def join(node, shapes, g):
    if node.op_type == "Concat":
        rank = len(shapes[0]) + 1
        if attrs(node)["axis"] % rank != 1:
            raise node_error(node, "Concat of data along another axis than 1 (channels / features)")
        rest = {tuple(s[1:]) for s in shapes}
        if len(rest) != 1:
            raise node_error(node, f"branches of shapes {shapes} differ beyond the channels")
        return ("join", "Concat", (sum(s[0] for s in shapes),) + shapes[0][1:])
    if node.op_type == "Add" and len({tuple(s) for s in shapes}) != 1:
        raise node_error(node, f"Add of shapes {shapes}: only equal shapes (a residual sum) are supported")
    return ("join", node.op_type, shapes[0] if node.op_type == "Add" else max(shapes, key=len))


CONVERTERS = {
    "Conv": conv, "ConvTranspose": conv_transpose, "Gemm": gemm, "MatMul": matmul,
    "BatchNormalization": batchnorm, "MaxPool": lambda n, s, g: pool(n, s, g, "MaxPool"),
    "AveragePool": lambda n, s, g: pool(n, s, g, "AvgPool"), "GlobalAveragePool": global_avg_pool,
    "ReduceMean": reduce_mean,
    "Flatten": flatten, "Reshape": reshape, "Relu": activation("ReLU"), "LeakyRelu": leaky_relu,
    "Sigmoid": activation("Sigmoid"), "Tanh": activation("Tanh"), "Gelu": gelu,
    "HardSwish": activation("Hardswish"), "HardSigmoid": hard_sigmoid, "Softmax": softmax,
    "Dropout": dropout, "Identity": activation("Identity"), "Resize": resize, "Upsample": resize,
}
