"""The table and ratios of a side-by-side benchmark run (bench/compare.sh, bench/gpu.sh).

    python bench/summarize.py RESULTS.jsonl

RESULTS holds the JSON lines of `vae bench --json` and bench/reference/vae_bench.py, and for a
CPU run the line of `vae_bench.py --peak` (then GFLOP/s are also shown as a share of the
machine's float32 matmul peak). Medians over the runs of each workload and side.
"""

import json
import statistics
import sys

rows = [json.loads(line) for line in open(sys.argv[1])]
peak = next((r["sgemm_gflops"] for r in rows if "sgemm_gflops" in r), None)
runs = [r for r in rows if "model" in r]
if peak is not None:
    print(f"machine sgemm peak (torch 2048^3 float32, {runs[0]['threads']} threads): {peak:.1f} GFLOP/s")
print(f"raw results: {sys.argv[1]}\n")
head = ("| workload | framework | images/s (median) | seconds | GFLOP/s | % of peak | loss | "
        "decode b1 ms | decode b256 ms/img | peak RSS MiB | host reads/step |")
print(head)
print("|" + "---|" * (head.count("|") - 1))


def med(rs, k):
    values = [r[k] for r in rs if r.get(k) is not None]
    return statistics.median(values) if values else None


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def name(r):
    return ("iwae-" if r.get("task") == "iwae" else "") + r["model"]


ratios = []
for workload in dict.fromkeys(name(r) for r in runs):
    side = {}
    for fw in ("vae", "pytorch"):
        rs = [r for r in runs if name(r) == workload and r["framework"].startswith(fw)]
        if not rs:
            continue
        side[fw] = {k: med(rs, k) for k in ("images_per_second", "seconds_per_epoch", "test_loss",
                    "decode_ms_batch1", "decode_ms_per_image_batch256", "peak_rss_mib",
                    "host_reads_per_step")}
        ips, flops = side[fw]["images_per_second"], rs[0]["train_flops_per_image"]
        gflops = ips * flops / 1e9
        share = None if peak is None else 100 * gflops / peak
        print(f"| {workload} | {rs[0]['framework']} (n={len(rs)}) | {ips:.1f} | "
              f"{side[fw]['seconds_per_epoch']:.2f} | {gflops:.1f} | {fmt(share, '.0f')}% | "
              f"{side[fw]['test_loss']:.2f} | {fmt(side[fw]['decode_ms_batch1'], '.3f')} | "
              f"{fmt(side[fw]['decode_ms_per_image_batch256'], '.4f')} | "
              f"{side[fw]['peak_rss_mib']:.0f} | {fmt(side[fw]['host_reads_per_step'], '.3f')} |")
    if len(side) == 2:
        ours, theirs = side["vae"], side["pytorch"]
        line = (f"{workload}: speed ours / PyTorch = {ours['images_per_second'] / theirs['images_per_second']:.2f}x, "
                f"peak RSS ours / PyTorch = {ours['peak_rss_mib'] / theirs['peak_rss_mib']:.2f}")
        if ours["decode_ms_batch1"] is not None:
            line += (f", decode 1 image {ours['decode_ms_batch1']:.3f} vs {theirs['decode_ms_batch1']:.3f} ms"
                     f" ({theirs['decode_ms_batch1'] / ours['decode_ms_batch1']:.2f}x)")
        ratios.append(line)
print()
print("\n".join(ratios))
