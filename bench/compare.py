#!/usr/bin/python3
"""ctnn against PyTorch on the same nets, batch sizes and thread counts, in one run.

    bench/compare.py --build build-bench          # configures there if needed, then builds
    bench/compare.py --threads 1,2 --reps 5            # peak: measured by ctnn_bench_peak
    bench/compare.py --peak 230                        # or a given peak GFLOP/s per core
    bench/compare.py --rounds 3 --reps 3 --markdown    # the figures in docs/benchmarks.md

For each thread count it runs PyTorch (bench/torch_baseline.py: Debian's python3-torch with
OpenBLAS) and then ctnn_bench_nets (Google Benchmark, wall time, median of --reps repetitions),
one after the other, and prints a table: both figures, ctnn / PyTorch (higher is better: images
per second, or PyTorch's latency over ctnn's for batch 1), ctnn's GFLOP/s, and that as a percent
of --peak GFLOP/s per thread. Also prints the load average before and after, since the machine
may be shared. With --rounds N it does all of that N times and reports the median of each figure
and of each round's ratio, with the lowest and highest round's ratio (a shared machine's load
changes within minutes; a ratio is only meaningful within a round). Markdown with --markdown.

ResNet-20 and the MobileNet-style net against what users pick today (bench/peers_blocks.py:
current PyTorch eager, inference_mode + channels_last, torch.compile, ONNX Runtime, from the
.venv-peers virtual environment; with --pt113 also Debian's PyTorch 1.13, eager):

    bench/compare.py --nets resnet20,mobilenet --rounds 3 --markdown
    bench/compare.py --nets resnet20 --engines eager,ort --compile-rounds 0   # quicker

For each round and thread count it runs the peers, then ctnn_bench_nets (filtered to these nets),
and prints for each figure ctnn's value, each peer's (median over rounds, and ctnn / that peer),
the best peer and ctnn / best peer (the median of the rounds' ratios, then the lowest and highest
round; higher is better for ctnn). Figures: infer_b1 mean latency per call (Google Benchmark's
estimator; the peers' infer_b1_mean_us), infer_b256 and train_b32 images per second from the mean
time per call. torch.compile costs minutes of compiling per net and batch size: it is measured in
the first --compile-rounds rounds only (default 1).
"""
import argparse, json, os, re, subprocess, sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
NETS = ["seed_cnn", "fmnist_cnn"]
BLOCK_NETS = ["resnet20", "mobilenet"]  # against bench/peers_blocks.py
PEER_ENGINES = ["eager", "tuned", "compile", "ort"]
CASES = ["infer_b1", "infer_b256", "train_b32"]


def torch_figures(threads, torch_script):
    out = subprocess.run(["/usr/bin/python3", torch_script, "--threads", str(threads)],
                         check=True, capture_output=True, text=True).stdout
    r = {}
    for line in out.splitlines():  # seed_cnn.t1.infer_b1_us 215.4 us
        m = re.match(r"(\w+)\.t(\d+)\.(\w+?)_(us|img_s) ([\d.]+)", line)
        if m:
            r[(m[1], m[3], int(m[2]))] = (float(m[5]), m[4])
    return r


def ctnn_figures(threads, exe, reps, nets=None):
    filt = f"threads:{threads}/" if not nets else f"^({'|'.join(nets)})/.*/threads:{threads}/"
    out = subprocess.run([exe, f"--benchmark_filter={filt}", f"--benchmark_repetitions={reps}",
                          "--benchmark_report_aggregates_only=true", "--benchmark_format=json"],
                         check=True, capture_output=True, text=True).stdout
    r = {}
    for b in json.loads(out)["benchmarks"]:
        if b.get("aggregate_name", "median" if reps == 1 else None) != "median":
            continue  # the median of the repetitions (one repetition: itself)
        net, case, th = b["run_name"].split("/")[:3]  # seed_cnn/infer_b1/threads:1/real_time
        t_us = b["real_time"] * {"us": 1, "ms": 1e3, "ns": 1e-3, "s": 1e6}[b["time_unit"]]
        r[(net, case, int(th.split(":")[1]))] = (t_us, b["items_per_second"], b["GFLOP/s"])
    return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build-bench"), help="build folder (made if missing)")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=1,
                    help="measure everything this many times, PyTorch and ctnn back to back, and report medians")
    ap.add_argument("--peak", type=float, default=0.0,
                    help="peak fp32 GFLOP/s of one core (default: measured with ctnn_bench_peak)")
    ap.add_argument("--torch", default=os.path.join(HERE, "torch_baseline.py"))
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--nets", default=",".join(NETS),
                    help=f"{','.join(NETS)} (against --torch) or {','.join(BLOCK_NETS)} (against bench/peers_blocks.py)")
    ap.add_argument("--python", default=os.path.join(ROOT, ".venv-peers", "bin", "python"),
                    help="the python of the peers (current torch, onnxruntime)")
    ap.add_argument("--engines", default=",".join(PEER_ENGINES), help="peers of the block nets")
    ap.add_argument("--compile-rounds", type=int, default=1, help="rounds that measure torch.compile")
    ap.add_argument("--pt113", action="store_true", help="block nets: also Debian's PyTorch 1.13 (/usr/bin/python3), eager")
    ap.add_argument("--peer-repeats", type=int, default=5, help="block nets: the peers' timed repeats per figure")
    ap.add_argument("--no-build", action="store_true", help="measure the binaries as they are (no rebuild)")
    ap.add_argument("--log", default="", help="block nets: append every raw peer and ctnn output line here")
    a = ap.parse_args()
    exe = os.path.join(a.build, "bench", "ctnn_bench_nets")
    if not os.path.exists(os.path.join(a.build, "CMakeCache.txt")):
        subprocess.run(["cmake", "-S", ROOT, "-B", a.build, "-G", "Ninja", "-DCMAKE_BUILD_TYPE=Release",
                        "-DCTNN_BUILD_BENCH=ON", "-DCTNN_BUILD_TESTS=OFF", "-DCTNN_BUILD_EXAMPLES=OFF"], check=True)
    # always (incremental): a stale binary would measure old code
    if not a.no_build:
        subprocess.run(["cmake", "--build", a.build, "--target", "ctnn_bench_nets", "ctnn_bench_peak", "ctnn_bench_c2c",
                        "-j", "2"], check=True, stdout=subprocess.DEVNULL)
    if a.peak <= 0:
        out = subprocess.run([os.path.join(a.build, "bench", "ctnn_bench_peak")], check=True, capture_output=True,
                             text=True).stdout
        a.peak = float(re.match(r"peak ([\d.]+)", out)[1])
        print(out.split(" [")[0] + " (measured: % of peak uses it)")
    nets = [n for n in a.nets.split(",") if n]
    if set(nets) <= set(BLOCK_NETS):
        return blocks(a, exe, nets)
    if not set(nets) <= set(NETS):
        sys.exit(f"compare.py: --nets takes nets of one group: {NETS} or {BLOCK_NETS}")
    load0 = os.getloadavg()
    threads = [int(t) for t in a.threads.split(",")]
    # rounds: PyTorch then ctnn for each thread count, back to back; the machine's load drifts
    # between rounds, so each ratio is taken within a round and the median over rounds reported
    per = {}  # (net, case, th) -> list of (PyTorch value, unit, ctnn us, ctnn img/s, ctnn GFLOP/s)
    c2c = []  # per round, just before ctnn's run with the most threads: how far apart the cores are
    for _ in range(a.rounds):
        for th in threads:
            pt = torch_figures(th, a.torch)
            if th == max(threads) and th > 1:
                out = subprocess.run([os.path.join(a.build, "bench", "ctnn_bench_c2c")], check=True,
                                     capture_output=True, text=True).stdout
                m = re.search(r"round trip (\d+) ns", out)
                c2c.append(m[1] if m else "?")
            ct = ctnn_figures(th, exe, a.reps)
            for key in pt.keys() & ct.keys():
                per.setdefault(key, []).append((*pt[key], *ct[key]))
    med = lambda v: sorted(v)[len(v) // 2] if len(v) % 2 else 0.5 * (sorted(v)[len(v) // 2 - 1] + sorted(v)[len(v) // 2])
    rows = []
    for th in threads:
        for net in nets:
            for case in CASES:
                runs = per.get((net, case, th))
                if not runs:
                    continue
                unit = runs[0][1]
                ratios = [(pv / t_us) if unit == "us" else (ips / pv) for pv, _, t_us, ips, _ in runs]
                pv, t_us, ips, gf = (med([r[i] for r in runs]) for i in (0, 2, 3, 4))
                if unit == "us":
                    p_txt, c_txt = f"{pv:.1f} us", f"{t_us:.1f} us"
                else:
                    p_txt, c_txt = f"{pv:.0f} img/s", f"{ips:.0f} img/s"
                span = f" ({min(ratios):.2f}-{max(ratios):.2f})" if len(ratios) > 1 else ""
                rows.append((net, case, th, p_txt, c_txt, f"{med(ratios):.2f}x{span}", gf, 100 * gf / (a.peak * th),
                             [r[3] for r in runs]))
    load1 = os.getloadavg()
    head = ("net", "case", "threads", "PyTorch 1.13", "ctnn", "ctnn/PyTorch", "ctnn GFLOP/s*", "% of peak*")
    fmt = lambda r: (r[0], r[1], str(r[2]), r[3], r[4], r[5], f"{r[6]:.1f}", f"{r[7]:.0f}%")
    if a.rounds > 1:
        print(f"median of {a.rounds} rounds (ratios: median, then the lowest and highest round)")
    if a.markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for r in rows:
            print("| " + " | ".join(fmt(r)) + " |")
    else:
        w = [max(len(head[i]), *(len(fmt(r)[i]) for r in rows)) for i in range(len(head))]
        print("  ".join(h.ljust(w[i]) for i, h in enumerate(head)))
        for r in rows:
            print("  ".join(c.ljust(w[i]) for i, c in enumerate(fmt(r))))
    # thread scaling of ctnn at batch >= 32, round by round
    ips = {(r[0], r[1], r[2]): r[8] for r in rows}
    for net in nets:
        for case in ("infer_b256", "train_b32"):
            if (net, case, 1) in ips and (net, case, 2) in ips:
                sc = [b / a_ for a_, b in zip(ips[(net, case, 1)], ips[(net, case, 2)])]
                span = f" ({min(sc):.2f}-{max(sc):.2f})" if len(sc) > 1 else ""
                rounds = ", ".join(f"{x:.2f}x" for x in sc)
                print(f"ctnn scaling {net} {case}: 2 threads = {med(sc):.2f}x{span} 1 thread; by round {rounds}")
    if c2c:
        print(f"core-to-core round trip by round (ctnn_bench_c2c, before the 2-thread run): {', '.join(c2c)} ns")
    print(f"load average before {load0[0]:.2f}, after {load1[0]:.2f}; peak {a.peak:.0f} GFLOP/s per thread")
    print("* FLOPs of the direct convolution (2 per multiply-add), as PyTorch's would be counted: ctnn runs its "
          "3x3 and 5x5 convolutions with Winograd F(2x2, rxr) or F(4x4, rxr), which do 2.25x / 2.8x or up to "
          "4x / 6.25x fewer multiplies, so these rates can exceed the peak")

# ---- ResNet-20 and the MobileNet-style net against bench/peers_blocks.py ----
FIG = {"infer_b1": "infer_b1_mean_us", "infer_b256": "infer_b256_img_s", "train_b32": "train_b32_img_s"}


def peer_figures(python, threads, nets, engines, repeats, log):
    """{(engine, net, case): value} from bench/peers_blocks.py (us for infer_b1, else img/s)."""
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    cmd = [python, os.path.join(HERE, "peers_blocks.py"), "--threads", str(threads), "--nets", ",".join(nets),
           "--engines", ",".join(engines), "--repeats", str(repeats)]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if log:
        with open(log, "a") as f:
            f.write(f"$ {' '.join(cmd)}\n{p.stdout}{p.stderr[-2000:] if p.returncode else ''}")
    r = {}
    for line in p.stdout.splitlines():  # eager resnet20.infer_b256_img_s 217 [201-232] n=2x3
        if line.startswith("# FAILED"):
            print(line, file=sys.stderr)
        m = re.match(r"(\w+) (\w+)\.(\w+) ([\d.]+) ", line)
        if m:
            for case, fig in FIG.items():
                if m[3] == fig:
                    r[(m[1], m[2], case)] = float(m[4])
    if p.returncode and not r:
        print(f"compare.py: {' '.join(cmd)} failed:\n{p.stderr[-2000:]}", file=sys.stderr)
    return r


def blocks(a, exe, nets):
    threads = [int(t) for t in a.threads.split(",")]
    engines = [e for e in a.engines.split(",") if e]
    med = lambda v: sorted(v)[len(v) // 2] if len(v) % 2 else 0.5 * (sorted(v)[len(v) // 2 - 1] + sorted(v)[len(v) // 2])
    load0 = os.getloadavg()
    # (net, case, th) -> list of rounds: {peer: value, ..., "ctnn": value}, plus ctnn GFLOP/s
    per, gflops = {}, {}
    for rnd in range(a.rounds):
        for th in threads:
            eng = [e for e in engines if e != "compile" or rnd < a.compile_rounds]
            pv = peer_figures(a.python, th, nets, eng, a.peer_repeats, a.log) if eng else {}
            if a.pt113:
                pv.update(peer_figures("/usr/bin/python3", th, nets, ["eager"], a.peer_repeats, a.log))
            ct = ctnn_figures(th, exe, a.reps, nets)
            if a.log:
                with open(a.log, "a") as f:
                    f.write(f"# round {rnd + 1} ctnn threads {th}: {ct}\n")
            for (net, case, t), (t_us, ips, gf) in ct.items():
                d = {"ctnn": t_us if case == "infer_b1" else ips}
                d.update({e: v for (e, n, c), v in pv.items() if n == net and c == case})
                per.setdefault((net, case, t), []).append(d)
                gflops.setdefault((net, case, t), []).append(gf)
            print(f"# round {rnd + 1}/{a.rounds}, {th} thread(s) done, load average {os.getloadavg()[0]:.2f}",
                  file=sys.stderr, flush=True)
    load1 = os.getloadavg()
    peers = [e for e in engines + (["pt113"] if a.pt113 else [])]
    # ctnn / x, higher is better for ctnn
    better = lambda case, c, p: p / c if case == "infer_b1" else c / p
    fmtv = lambda case, v: f"{v:.0f} us" if case == "infer_b1" else f"{v:.0f} img/s"
    head = ["net", "figure", "thr", "ctnn"] + peers + ["best peer", "ctnn / best peer", "ctnn GFLOP/s*", "% of peak*"]
    rows = []
    for th in threads:
        for net in nets:
            for case in CASES:
                runs = per.get((net, case, th))
                if not runs:
                    continue
                c = med([r["ctnn"] for r in runs])
                cspan = [r["ctnn"] for r in runs]
                row = [net, case if case != "infer_b1" else "infer_b1 (latency)", str(th),
                       fmtv(case, c) + (f" [{min(cspan):.0f}-{max(cspan):.0f}]" if len(runs) > 1 else "")]
                for e in peers:
                    rs = [r for r in runs if e in r]
                    if not rs:
                        row.append("-")
                        continue
                    v = med([r[e] for r in rs])
                    q = med([better(case, r["ctnn"], r[e]) for r in rs])
                    row.append(f"{fmtv(case, v)} ({q:.2f}x)")
                # best peer per round (the engines that ran in that round), ratio per round
                bests, ratios = [], []
                for r in runs:
                    ps = {e: r[e] for e in peers if e in r}
                    if not ps:
                        continue
                    b = min(ps, key=ps.get) if case == "infer_b1" else max(ps, key=ps.get)
                    bests.append(b)
                    ratios.append(better(case, r["ctnn"], ps[b]))
                if ratios:
                    span = f" ({min(ratios):.2f}-{max(ratios):.2f})" if len(ratios) > 1 else ""
                    row += [max(set(bests), key=bests.count), f"{med(ratios):.2f}x{span}"]
                else:
                    row += ["-", "-"]
                gf = med(gflops[(net, case, th)])
                row += [f"{gf:.1f}", f"{100 * gf / (a.peak * th):.0f}%"]
                rows.append(row)
    if a.rounds > 1:
        print(f"median of {a.rounds} rounds (torch.compile: the first {min(a.compile_rounds, a.rounds)}); "
              "ctnn: [lowest-highest round]; (ratio) = ctnn / that peer, median of the rounds' ratios")
    if a.markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for r in rows:
            print("| " + " | ".join(r) + " |")
    else:
        w = [max(len(head[i]), *(len(r[i]) for r in rows)) for i in range(len(head))] if rows else [len(h) for h in head]
        print("  ".join(h.ljust(w[i]) for i, h in enumerate(head)))
        for r in rows:
            print("  ".join(c.ljust(w[i]) for i, c in enumerate(r)))
    print(f"load average before {load0[0]:.2f}, after {load1[0]:.2f}; peak {a.peak:.0f} GFLOP/s per thread")
    print("* forward FLOPs of the direct convolutions and Linear layers (2 per multiply-add; a training step "
          "counts 3x forward); ctnn may run 3x3 stride-1 convolutions with Winograd, which does fewer multiplies")


if __name__ == "__main__":
    main()
