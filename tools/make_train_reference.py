#!/usr/bin/python3
"""Golden files for tests/test_train.cpp: PyTorch training steps, loss values and gradients, and
learning-rate schedules, written to tests/data/train/reference.json.

Run from the repository root with Debian's PyTorch: /usr/bin/python3 tools/make_train_reference.py
The net (the same type is in the test):
    nn.Sequential(Conv2d(2, 4, 3, 1, 1), ReLU(), MaxPool2d(2), Conv2d(4, 6, 3), ReLU(), Flatten(), Linear(24, 5))
on 2x8x8 inputs. For each optimizer case: initial parameters (state_dict order, flattened), then
for each step the loss PyTorch computed and the parameters after
optimizer.step(). The batches (inputs, labels) are shared by all cases.
"""
import json, math, os
import torch, torch.nn as nn

torch.manual_seed(1234)
OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "data", "train", "reference.json")
STEPS, BATCH, CLASSES = 4, 6, 5

def net():
    return nn.Sequential(nn.Conv2d(2, 4, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 6, 3), nn.ReLU(),
                         nn.Flatten(), nn.Linear(24, CLASSES))

def flat(ts):  # float32 values, written with the 9 significant digits that round-trip them
    return [float(f"{v:.9g}") for t in ts for v in t.detach().reshape(-1).tolist()]

BATCHES = [(torch.randn(BATCH, 2, 8, 8), torch.randint(0, CLASSES, (BATCH,))) for _ in range(STEPS)]

def case(name, make_opt, smoothing=0.0, frozen0=False):
    m = net()
    with torch.no_grad():  # spread the initial weights a little so ReLUs switch both ways
        for p in m.parameters():
            p.mul_(1.5)
    if frozen0:
        for p in m[0].parameters():
            p.requires_grad_(False)
    init = flat(m.state_dict().values())
    opt = make_opt([p for p in m.parameters() if p.requires_grad])
    crit = nn.CrossEntropyLoss(label_smoothing=smoothing)
    steps = []
    for x, y in BATCHES:
        opt.zero_grad()
        loss = crit(m(x), y)
        loss.backward()
        opt.step()
        steps.append({"loss": loss.item(), "params": flat(m.state_dict().values())})
    return {"name": name, "smoothing": smoothing, "frozen0": frozen0, "init": init, "steps": steps}

def losses():
    n, k = 7, 5
    out = {}
    z = (torch.randn(n, k) * 3).requires_grad_()
    y = torch.randint(0, k, (n,))
    for s in (0.0, 0.1):
        l = nn.CrossEntropyLoss(label_smoothing=s)(z, y)
        g, = torch.autograd.grad(l, z)
        out[f"ce_{s}"] = {"logits": flat([z]), "labels": y.tolist(), "loss": l.item(), "grad": flat([g])}
    big = torch.tensor([[1000.0, -1000.0, 0.0, 5.0, 999.0]], requires_grad=True)  # stability
    l = nn.CrossEntropyLoss()(big, torch.tensor([4]))
    g, = torch.autograd.grad(l, big)
    out["ce_big"] = {"logits": flat([big]), "labels": [4], "loss": l.item(), "grad": flat([g])}
    x = (torch.randn(n, 3) * 4).requires_grad_()
    t = torch.rand(n, 3)
    l = nn.BCEWithLogitsLoss()(x, t)
    g, = torch.autograd.grad(l, x)
    out["bce"] = {"logits": flat([x]), "targets": flat([t]), "loss": l.item(), "grad": flat([g])}
    l = nn.MSELoss()(x, t)
    g, = torch.autograd.grad(l, x)
    out["mse"] = {"logits": flat([x]), "targets": flat([t]), "loss": l.item(), "grad": flat([g])}
    # (drawn after the cases above, so their values stay those of earlier versions of this file)
    z = (torch.randn(n, k) * 3).requires_grad_()
    t = torch.softmax(torch.randn(n, k) * 2, dim=1)
    l = nn.CrossEntropyLoss()(z, t)  # probability targets
    g, = torch.autograd.grad(l, z)
    out["soft_ce"] = {"logits": flat([z]), "targets": flat([t]), "loss": l.item(), "grad": flat([g])}
    teacher = torch.randn(n, k) * 4
    teacher[0, 2] = -1e30  # a probability that underflows to 0: 0 log 0 = 0
    for T, alpha, s in ((4.0, 0.9, 0.0), (1.0, 0.5, 0.0), (2.5, 1.0, 0.0), (3.0, 0.7, 0.1)):
        soft = nn.functional.kl_div(torch.log_softmax(z / T, dim=1), torch.softmax(teacher / T, dim=1),
                                    reduction="batchmean") * T * T
        l = alpha * soft + (1 - alpha) * nn.CrossEntropyLoss(label_smoothing=s)(z, y)
        g, = torch.autograd.grad(l, z)
        out[f"kd_{T}_{alpha}_{s}"] = {"logits": flat([z]), "teacher": flat([teacher]), "labels": y.tolist(),
                                       "temperature": T, "alpha": alpha, "smoothing": s, "loss": l.item(), "grad": flat([g])}
    return out

def schedules():
    def run(make, n=25):
        p = torch.zeros(1, requires_grad=True)
        o = torch.optim.SGD([p], lr=0.1)
        s = make(o)
        lrs = []
        for _ in range(n):
            lrs.append(o.param_groups[0]["lr"])
            o.step(); s.step()
        return lrs
    L = torch.optim.lr_scheduler
    return {
        "step": run(lambda o: L.StepLR(o, step_size=7, gamma=0.5)),
        "cosine": run(lambda o: L.CosineAnnealingLR(o, T_max=20, eta_min=0.001)),
        "linear_warmup": run(lambda o: L.LinearLR(o, start_factor=0.25, total_iters=8)),
    }

def fisher():
    """EWC's Fisher diagonal as Avalanche computes it: the mean over batches (of 5, the last of 4)
    of the squared gradient of the batch's mean cross-entropy, on the 24 samples of BATCHES."""
    m = net()
    x = torch.cat([b[0] for b in BATCHES])
    y = torch.cat([b[1] for b in BATCHES])
    imp = [torch.zeros_like(p) for p in m.parameters()]
    batches = 0
    for i in range(0, len(x), 5):
        m.zero_grad()
        nn.CrossEntropyLoss()(m(x[i:i + 5]), y[i:i + 5]).backward()
        for a, p in zip(imp, m.parameters()):
            a += p.grad.detach() ** 2
        batches += 1
    return {"init": flat(m.state_dict().values()), "batch": 5, "fisher": flat([a / batches for a in imp])}

cases = [
    case("sgd_momentum", lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9)),
    case("sgd_nesterov_wd", lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
    case("sgd_dampening", lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.01)),
    case("adam", lambda ps: torch.optim.Adam(ps, lr=1e-2)),
    case("adam_wd", lambda ps: torch.optim.Adam(ps, lr=1e-2, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.05)),
    case("adamw", lambda ps: torch.optim.AdamW(ps, lr=1e-2, weight_decay=0.1)),
    case("adam_smoothing", lambda ps: torch.optim.Adam(ps, lr=1e-2), smoothing=0.1),
    case("adam_frozen0", lambda ps: torch.optim.Adam(ps, lr=1e-2), frozen0=True),
]
os.makedirs(os.path.dirname(OUT), exist_ok=True)
with open(OUT, "w") as f:
    json.dump({"torch": torch.__version__,
               "batches": [{"x": flat([x]), "y": y.tolist()} for x, y in BATCHES], "cases": cases, "losses": losses(), "schedules": schedules(),
               "fisher": fisher()}, f)
print("wrote", os.path.normpath(OUT))
