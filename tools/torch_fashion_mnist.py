#!/usr/bin/python3
"""The default demo's recipe (examples/fashion_mnist.cpp) in PyTorch, for comparison.

Reads the Debian package's files (/usr/share/datasets/fashion-mnist/*.gz), trains one of the two
nets the issue allows, and prints one line per epoch and the wall time:
    epoch 1 train_loss 0.5123 train_acc 0.8150 test_acc 0.8610 seconds 12.3
Run as /usr/bin/python3 (Debian's python3-torch). Defaults are the demo's defaults.
"""
import argparse, gzip, math, os, struct, time
import numpy as np, torch, torch.nn as nn

MEAN, STD = 0.2860, 0.3530  # Fashion-MNIST training-set pixel mean / std (pixels in [0, 1])

def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    nd = magic & 0xFF
    dims = struct.unpack(">" + "I" * nd, data[4:4 + 4 * nd])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * nd).reshape(dims)

def load(dir, train):
    p = "train" if train else "t10k"
    x = read_idx(os.path.join(dir, f"{p}-images-idx3-ubyte.gz")).astype(np.float32) / 255.0
    y = read_idx(os.path.join(dir, f"{p}-labels-idx1-ubyte.gz")).astype(np.int64)
    x = (x - MEAN) / STD
    return torch.from_numpy(x).unsqueeze(1), torch.from_numpy(y)

def seed_net():  # the seed's CIFAR-10 CNN adapted to 1x28x28
    return nn.Sequential(nn.Conv2d(1, 16, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2, 2),
                         nn.Conv2d(16, 32, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2, 2),
                         nn.Flatten(), nn.Linear(32 * 7 * 7, 10))

def bench_net():  # Fashion-MNIST benchmark/convnet.py
    return nn.Sequential(nn.Conv2d(1, 32, 5, 1, 2), nn.ReLU(), nn.MaxPool2d(2, 2),
                         nn.Conv2d(32, 64, 5, 1, 2), nn.ReLU(), nn.MaxPool2d(2, 2),
                         nn.Flatten(), nn.Linear(7 * 7 * 64, 1024), nn.ReLU(), nn.Dropout(0.4),
                         nn.Linear(1024, 10))

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--net", default="seed", choices=["seed", "bench"])
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--schedule", default="cosine", choices=["cosine", "none"])
    ap.add_argument("--hflip", type=int, default=0, help="random horizontal flip (1) or none (0, the demo)")
    ap.add_argument("--smoothing", type=float, default=0.0, help="label smoothing")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--limit", type=int, default=0, help="use only the first N training images")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    t0 = time.perf_counter()
    xtr, ytr = load(a.dir, True)
    xte, yte = load(a.dir, False)
    if a.limit: xtr, ytr = xtr[:a.limit], ytr[:a.limit]
    net = seed_net() if a.net == "seed" else bench_net()
    opt = torch.optim.Adam(net.parameters(), lr=a.lr)
    steps = math.ceil(len(xtr) / a.batch)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, a.epochs * steps) if a.schedule == "cosine" else None
    crit = nn.CrossEntropyLoss(label_smoothing=a.smoothing)
    for ep in range(a.epochs):
        te = time.perf_counter()
        net.train()
        perm = torch.randperm(len(xtr))
        tot, correct, n = 0.0, 0, 0
        for s in range(steps):
            idx = perm[s * a.batch:(s + 1) * a.batch]
            x, y = xtr[idx], ytr[idx]
            if a.hflip:
                flip = torch.rand(len(idx)) < 0.5
                x = torch.where(flip[:, None, None, None], x.flip(3), x)
            opt.zero_grad()
            out = net(x)
            loss = crit(out, y)
            loss.backward()
            opt.step()
            if sched: sched.step()
            tot += loss.item() * len(idx); correct += (out.argmax(1) == y).sum().item(); n += len(idx)
        net.eval()
        with torch.no_grad():
            tc = sum((net(xte[i:i + 1000]).argmax(1) == yte[i:i + 1000]).sum().item() for i in range(0, len(xte), 1000))
        print(f"epoch {ep + 1} train_loss {tot / n:.4f} train_acc {correct / n:.4f} test_acc {tc / len(xte):.4f} "
              f"seconds {time.perf_counter() - te:.1f}", flush=True)
    print(f"total_seconds {time.perf_counter() - t0:.1f} (net {a.net}, Adam lr {a.lr}, batch {a.batch}, "
          f"{a.epochs} epochs, schedule {a.schedule}, hflip {a.hflip}, smoothing {a.smoothing}, threads {a.threads})", flush=True)

if __name__ == "__main__":
    main()
