#!/usr/bin/python3
"""examples/fashion_resnet.cpp's net and recipe in PyTorch, timed the same way, for comparison.

The net is tools/resnet_params.py's fashion_resnet (nested modules with the state_dict names ctnn
gives it): a 3x3 stem (1 -> 32), BatchNorm, ReLU, 2x2 max pool; a basic block at 32 x 14 x 14; a
stride-2 block with a 1x1 projection shortcut and a basic block at 64 x 7 x 7; a stride-2 block to
128 x 4 x 4; global average pooling; Linear(128, 10). Every Conv2d has a bias, as ctnn's.
Recipe: normalised pixels; each epoch shuffled; every image padded by --pad (1) with the background's
value and cropped back at a random offset, mirrored with probability 1/2; batch 128; SGD with
Nesterov momentum 0.9 and weight decay 5e-4; lr warmed up linearly from 0.01 to 0.1 over the first
epoch, then a cosine to 0 over the rest; 20 epochs; cross-entropy (--smoothing: label smoothing). After
the last epoch the test accuracy again with flip averaging (the mean of the outputs for each image
and its mirror: ctnn::evaluate with tta::hflip). One line per epoch:
    epoch 1 train_loss 0.5123 train_acc 0.8150 test_acc 0.8610 seconds 123.4
Run as /usr/bin/python3 (Debian's PyTorch 1.13) or with a current PyTorch; --threads as ctnn's.
"""
import argparse, math, os, sys, time
import torch, torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_fashion_mnist import load, MEAN, STD  # noqa: E402  (the same IDX reader and statistics)
from resnet_params import fashion_resnet  # noqa: E402  (the module tree with ctnn's tensor names)


def augment(x, pad, fill):
    """Random crop with padding and a random horizontal flip, per image."""
    n, _, h, w = x.shape
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad), value=fill)
    dy = torch.randint(0, 2 * pad + 1, (n,))
    dx = torch.randint(0, 2 * pad + 1, (n,))
    rows = (dy[:, None] + torch.arange(h)[None, :])[:, None, :, None].expand(n, 1, h, w + 2 * pad)
    cropped = padded.gather(2, rows)
    cols = (dx[:, None] + torch.arange(w)[None, :])[:, None, None, :].expand(n, 1, h, w)
    cropped = cropped.gather(3, cols)
    flip = torch.rand(n) < 0.5
    return torch.where(flip[:, None, None, None], cropped.flip(3), cropped)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--epochs", type=int, default=20, help="the schedule's length")
    ap.add_argument("--stop-after", type=int, default=0, help="stop after N epochs (0: all); the schedule stays --epochs long")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.1)
    ap.add_argument("--wd", type=float, default=5e-4)
    ap.add_argument("--pad", type=int, default=1, help="random-crop padding (pixels per side)")
    ap.add_argument("--smoothing", type=float, default=0.0)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    t0 = time.perf_counter()
    xtr, ytr = load(a.dir, True)
    xte, yte = load(a.dir, False)
    net = fashion_resnet()
    print(f"torch {torch.__version__}, {sum(p.numel() for p in net.parameters())} parameters, {a.threads} threads", flush=True)
    mf = torch.channels_last if a.channels_last else torch.contiguous_format
    net = net.to(memory_format=mf)
    batch, lr = a.batch, a.lr
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9, weight_decay=a.wd, nesterov=True)
    steps = math.ceil(len(xtr) / batch)
    warm = torch.optim.lr_scheduler.LinearLR(opt, start_factor=0.1, total_iters=steps)
    cos = torch.optim.lr_scheduler.CosineAnnealingLR(opt, (a.epochs - 1) * steps)
    sched = torch.optim.lr_scheduler.SequentialLR(opt, [warm, cos], milestones=[steps])
    crit = nn.CrossEntropyLoss(label_smoothing=a.smoothing)
    fill = (0.0 - MEAN) / STD
    for ep in range(a.stop_after or a.epochs):
        te = time.perf_counter()
        net.train()
        perm = torch.randperm(len(xtr))
        tot, correct, n = 0.0, 0, 0
        for s in range(steps):
            idx = perm[s * batch:(s + 1) * batch]
            x, y = augment(xtr[idx], a.pad, fill).contiguous(memory_format=mf), ytr[idx]
            opt.zero_grad()
            out = net(x)
            loss = crit(out, y)
            loss.backward()
            opt.step()
            sched.step()
            tot += loss.item() * len(idx); correct += (out.argmax(1) == y).sum().item(); n += len(idx)
        net.eval()
        with torch.no_grad():
            tc = sum((net(xte[i:i + 500].contiguous(memory_format=mf)).argmax(1) == yte[i:i + 500]).sum().item()
                     for i in range(0, len(xte), 500))
        print(f"epoch {ep + 1} train_loss {tot / n:.4f} train_acc {correct / n:.4f} test_acc {tc / len(xte):.4f} "
              f"seconds {time.perf_counter() - te:.1f}", flush=True)
    with torch.no_grad():
        tc = 0
        for i in range(0, len(xte), 500):
            x = xte[i:i + 500].contiguous(memory_format=mf)
            tc += ((net(x) + net(x.flip(3))).argmax(1) == yte[i:i + 500]).sum().item()
    print(f"test_acc_flip_averaged {tc / len(xte):.4f}", flush=True)
    print(f"total_seconds {time.perf_counter() - t0:.1f}", flush=True)


if __name__ == "__main__":
    main()
