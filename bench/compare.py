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
"""
import argparse, json, os, re, subprocess, sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
NETS = ["seed_cnn", "fmnist_cnn"]
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


def ctnn_figures(threads, exe, reps):
    out = subprocess.run([exe, f"--benchmark_filter=threads:{threads}/", f"--benchmark_repetitions={reps}",
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
    a = ap.parse_args()
    exe = os.path.join(a.build, "bench", "ctnn_bench_nets")
    if not os.path.exists(os.path.join(a.build, "CMakeCache.txt")):
        subprocess.run(["cmake", "-S", ROOT, "-B", a.build, "-G", "Ninja", "-DCMAKE_BUILD_TYPE=Release",
                        "-DCTNN_BUILD_BENCH=ON", "-DCTNN_BUILD_TESTS=OFF", "-DCTNN_BUILD_EXAMPLES=OFF"], check=True)
    # always (incremental): a stale binary would measure old code
    subprocess.run(["cmake", "--build", a.build, "--target", "ctnn_bench_nets", "ctnn_bench_peak", "ctnn_bench_c2c", "-j", "2"],
                   check=True, stdout=subprocess.DEVNULL)
    if a.peak <= 0:
        out = subprocess.run([os.path.join(a.build, "bench", "ctnn_bench_peak")], check=True, capture_output=True,
                             text=True).stdout
        a.peak = float(re.match(r"peak ([\d.]+)", out)[1])
        print(out.split(" [")[0] + " (measured: % of peak uses it)")
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
        for net in NETS:
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
    for net in NETS:
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


if __name__ == "__main__":
    main()
