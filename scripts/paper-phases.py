#!/usr/bin/env python3
"""Phase figures of the paper runs: throughput before and after the page cache fills.

    scripts/paper-phases.py RESULT_DIR... [--reference direct]

For each result directory (a run.json made by `faultline run` with a time series) and
each backend, prints one markdown table row:

* fill: with a memory cgroup (`reclaim = "cgroup"`), the first interval at whose end
  the cgroup's page cache (`cgroup_page_cache_bytes_end`) reached 95% of its largest
  value in the cell, provided the cgroup evicted pages in the cell
  (`cgroup_reclaim_pages` > 0); without one (`reclaim = "global"`), the first interval
  whose /proc/vmstat `pgsteal_*` deltas are above 0 (machine-wide eviction, the rule of
  the throughput chart's marker, docs/charts-and-reports.md). In the cgroup regime the
  machine-wide signal is not used: other processes' reclaim, and kswapd trimming the
  cgroup while the machine is short of free memory, show there too. "none" when the
  cell did not fill;
* before: mean ops/s of the intervals before the fill (the page cache filling);
* dip: the lowest interval rate among the five intervals from the fill on;
* after: mean ops/s from two intervals after the fill to the end;
* before/after ratios to the reference backend's own before/after means in the same
  directory (the reference's phases are its own: it may not fill at all);
* shootdowns/s (system-wide /proc/interrupts TLB row) before and after the fill;
* the cell's reclaim verdict (`regime.ok` and its reason) when run.json has one.

Rates are per interval: ops / interval length. A last interval shorter than half the
median interval (the stop's remainder) is left out. Only reads run.json; no figure here
is typed in by hand.
"""
import json
import statistics
import sys


def spans(ts):
    prev = 0
    out = []
    for iv in ts:
        length = iv["t_ns"] - prev
        if length > 0:
            out.append((prev, length, iv))
        prev = max(prev, iv["t_ns"])
    if len(out) > 2:
        med = statistics.median(s[1] for s in out)
        if out[-1][1] < 0.5 * med:
            out.pop()
    return out


def pgsteal(iv):
    vm = iv.get("vmstat") or {}
    return sum(v for k, v in vm.items() if k.startswith("pgsteal") and v)


def mean(xs):
    return sum(xs) / len(xs) if xs else None


def phases(b):
    sp = spans(b.get("timeseries") or [])
    if not sp:
        return None
    rate = [iv["ops"] * 1e9 / length for (_, length, iv) in sp]
    sd = [
        (iv.get("tlb_shootdowns_system") * 1e9 / length)
        if iv.get("tlb_shootdowns_system") is not None
        else None
        for (_, length, iv) in sp
    ]
    gauge = [iv.get("cgroup_page_cache_bytes_end") for (_, _, iv) in sp]
    if any(g is not None for g in gauge):
        top = max(g for g in gauge if g is not None)
        evicted = sum(iv.get("cgroup_reclaim_pages") or 0 for (_, _, iv) in sp)
        fill = None
        if evicted > 0 and top > 0:
            fill = next((i for i, g in enumerate(gauge) if g is not None and g >= 0.95 * top), None)
    else:
        fill = next((i for i, (_, _, iv) in enumerate(sp) if pgsteal(iv) > 0), None)
    if fill is None:
        return {
            "fill": None,
            "fill_s": None,
            "before": mean(rate),
            "dip": None,
            "after": None,
            "sd_before": mean([x for x in sd if x is not None]),
            "sd_after": None,
            "n": len(sp),
        }
    before = rate[:fill]
    after = rate[fill + 2 :]
    return {
        "fill": fill,
        "fill_s": sp[fill][0] / 1e9,
        "before": mean(before),
        "dip": min(rate[fill : fill + 5]),
        "after": mean(after),
        "sd_before": mean([x for x in sd[:fill] if x is not None]),
        "sd_after": mean([x for x in sd[fill + 2 :] if x is not None]),
        "n": len(sp),
    }


def fmt(x, ratio=False):
    if x is None:
        return "-"
    if ratio:
        return f"{x:.2f}x"
    if x >= 1e6:
        return f"{x / 1e6:.2f}M"
    if x >= 1e3:
        return f"{x / 1e3:.1f}K"
    return f"{x:.0f}"


def main(argv):
    ref = "direct"
    dirs = []
    i = 0
    while i < len(argv):
        if argv[i] == "--reference":
            ref = argv[i + 1]
            i += 2
            continue
        dirs.append(argv[i])
        i += 1
    if not dirs:
        sys.exit(__doc__)
    print(
        "| result | backend | fill at | before | dip | after | before vs ref | after vs ref "
        "| shootdowns/s before | after | regime |"
    )
    print("| --- | --- | --: | --: | --: | --: | --: | --: | --: | --: | --- |")
    for d in dirs:
        try:
            r = json.load(open(f"{d}/run.json"))
        except OSError as e:
            sys.exit(f"error: cannot read {d}/run.json: {e}")
        ph = {}
        for b in r["backends"]:
            if b.get("status") == "ok":
                ph[b["name"]] = phases(b)
        rp = ph.get(ref)
        for b in r["backends"]:
            name = b["name"]
            if b.get("status") != "ok":
                print(f"| {d} | {name} | {b.get('status')}: {b.get('reason')} | | | | | | | | |")
                continue
            p = ph[name]
            if p is None:
                print(f"| {d} | {name} | no time series | | | | | | | | |")
                continue
            rb = p["before"] / rp["before"] if rp and rp["before"] and p["before"] else None
            ra = None
            if rp and p["after"] is not None:
                rref = rp["after"] if rp["after"] is not None else rp["before"]
                ra = p["after"] / rref if rref else None
            reg = b.get("regime") or {}
            regime = ""
            if reg:
                regime = f"{reg.get('reclaim')} ok={reg.get('ok')}"
            fill = "none" if p["fill"] is None else f"{p['fill_s']:.0f} s"
            print(
                f"| {d} | {name} | {fill} | {fmt(p['before'])} | {fmt(p['dip'])} | {fmt(p['after'])} "
                f"| {fmt(rb, True)} | {fmt(ra, True)} | {fmt(p['sd_before'])} | {fmt(p['sd_after'])} | {regime} |"
            )


if __name__ == "__main__":
    main(sys.argv[1:])
