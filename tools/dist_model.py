#!/usr/bin/env python3
"""The ring all-reduce cost model of docs/distributed.md: projects a data-parallel training step
to more ranks from one measured compute time per step.

  tools/dist_model.py --compute-ms 7.9 --batch 64 --bytes 102312 --per-rank-batch 64
                      [--alpha-us 30] [--gbytes-per-s 1.25] [--buckets 1] [--overlap 0.67]
                      [--ranks 8 64 512]

Model (every assumption is a parameter or stated in docs/distributed.md):
  compute(b)  = compute_ms * b / batch             (linear in the per-rank batch b)
  allreduce   = 2 (p - 1) * alpha * buckets        (a ring: 2 (p - 1) steps per bucket)
              + 2 (p - 1) / p * bytes / bandwidth  (each rank sends and receives that share)
  step        = compute + max(0, allreduce - overlap * compute)
                (overlap: the share of the compute, backward's, that the all-reduce can hide behind;
                 0: no overlap)
  throughput  = p * b / step; efficiency = throughput / (p * one rank's throughput without communication)
"""
import argparse


def project(a, p):
    b = a.per_rank_batch
    compute = a.compute_ms * 1e-3 * b / a.batch
    if p == 1:
        comm = 0.0
    else:
        comm = 2 * (p - 1) * a.alpha_us * 1e-6 * a.buckets + 2 * (p - 1) / p * a.bytes / (a.gbytes_per_s * 1e9)
    step = compute + max(0.0, comm - a.overlap * compute)
    return compute, comm, step, p * b / step, compute / step


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--compute-ms", type=float, required=True, help="measured compute time per step (step minus wait)")
    ap.add_argument("--batch", type=int, required=True, help="the per-process batch that compute time was measured at")
    ap.add_argument("--bytes", type=float, required=True, help="bytes all-reduced per step (the gradients)")
    ap.add_argument("--per-rank-batch", type=int, default=64, help="per-rank batch of the projection (fixed: weak scaling)")
    ap.add_argument("--alpha-us", type=float, default=30.0, help="latency of one message, microseconds")
    ap.add_argument("--gbytes-per-s", type=float, default=1.25, help="link bandwidth per rank, GB/s (10 GbE: 1.25)")
    ap.add_argument("--buckets", type=int, default=1, help="all-reduces per step")
    ap.add_argument("--overlap", type=float, default=0.0, help="share of compute that hides communication (0..1)")
    ap.add_argument("--ranks", type=int, nargs="+", default=[1, 8, 64, 512])
    a = ap.parse_args()
    print(f"alpha {a.alpha_us} us, bandwidth {a.gbytes_per_s} GB/s, {a.bytes:.0f} bytes in {a.buckets} bucket(s), "
          f"overlap {a.overlap}, per-rank batch {a.per_rank_batch}")
    print("| ranks | global batch | compute ms | all-reduce ms | step ms | img/s | efficiency |")
    print("|---|---|---|---|---|---|---|")
    for p in a.ranks:
        c, m, s, t, e = project(a, p)
        print(f"| {p} | {p * a.per_rank_batch} | {c * 1e3:.2f} | {m * 1e3:.2f} | {s * 1e3:.2f} | {t:,.0f} | {e * 100:.0f}% |")


if __name__ == "__main__":
    main()
