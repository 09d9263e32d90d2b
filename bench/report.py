#!/usr/bin/env python3
"""report.py — merges the benchmarks' JSON into one file, prints one table of
absolute figures and ratios, draws the chart and rewrites docs/benchmarks.md.

Input: one directory per N (``--run DIR``, repeatable), each holding what
scripts/bench.sh had the benchmarks write: ``log.json`` (bench_log),
``peer-*.json`` (bench_peers_c, one process per peer), ``db.json``
(bench_db, or a "skipped" stub), ``python.json``, ``lua.json``. A missing or
unreadable file is reported as such, never filled in.

Output: ``--out`` (bench/results/latest.json), ``--chart`` (docs/bench.png,
needs matplotlib; skipped with a message without it), ``--doc``
(docs/benchmarks.md). Ratios are lsmlog's figure divided by the peer's, both
from the same run, so > 1 means lsmlog is faster.
"""

from __future__ import annotations

import argparse
import datetime
import glob
import json
import os
import platform
import re
import subprocess
import sys
from typing import Any, Dict, List, Optional, Tuple

KV_WORKLOADS = ["fillseq", "fillrandom", "overwrite", "readrandom", "readseq", "seekrandom"]
LOG_WORKLOADS = ["log_append", "log_scan"]
C_PEERS = ["leveldb", "rocksdb", "lmdb", "sqlite"]
NAMES = {
    "lsmlog-db": "lsmlog DB",
    "lsmlog-log": "lsmlog Log",
    "leveldb": "LevelDB",
    "rocksdb": "RocksDB",
    "lmdb": "LMDB",
    "sqlite": "SQLite",
}
PY_WORKLOADS = ["extend", "append", "scan", "range"]
LUA_WORKLOADS = ["append_batch", "records"]
# The Core DB issue's goals: (workload, peer key, peer name, factor): lsmlog's
# rate at least factor x the peer's, same run. (Write amplification after 10M
# fillrandom and memory bounds are reported in the tables, not judged here.)
DB_GOALS = [("fillseq", "leveldb", "LevelDB", 1.5), ("fillseq", "rocksdb", "RocksDB", 2.0),
            ("fillrandom", "leveldb", "LevelDB", 1.5), ("fillrandom", "rocksdb", "RocksDB", 2.0),
            ("readrandom", "leveldb", "LevelDB", 1.5), ("readseq", "leveldb", "LevelDB", 1.0)]


# ---- loading -----------------------------------------------------------------


def load(path: str, problems: List[str]) -> Optional[Dict[str, Any]]:
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        problems.append(f"{os.path.basename(path)}: missing (that benchmark did not finish)")
    except (OSError, ValueError) as e:
        problems.append(f"{os.path.basename(path)}: unreadable: {e}")
    return None


def median(v: List[float]) -> float:
    s = sorted(v)
    k = len(s)
    return s[k // 2] if k % 2 else (s[k // 2 - 1] + s[k // 2]) / 2


def merge_reps(entries: List[Dict[str, Any]]) -> Dict[str, Any]:
    """One peer's entries from its repetitions (one process each) as one
    entry: medians of time, memory, bytes written and size on disk. A peer
    that failed in any repetition is failed; one skipped in all is skipped."""
    for e in entries:
        if e.get("status") == "failed":
            return e
    ran = [e for e in entries if e.get("status") == "ran"]
    if not ran:
        return entries[0]
    out = dict(ran[0])
    out["repetitions"] = len(ran)
    if any("close_seconds" in e for e in ran):
        out["close_seconds"] = median([e["close_seconds"] for e in ran if e.get("close_seconds") is not None] or [float("nan")])
    workloads: Dict[str, Any] = {}
    for w, first in ran[0]["workloads"].items():
        reps = [e["workloads"][w] for e in ran if w in e.get("workloads", {})]
        ops = first["ops"]
        bytes_per_op = first["mb_per_s"] * first["seconds"] * 1e6 / ops
        secs = median([r["seconds"] for r in reps])

        def med(k: str) -> Optional[float]:
            v = [r[k] for r in reps if r.get(k) is not None]
            return median(v) if v else None

        workloads[w] = {
            "label": first["label"], "ops": ops, "seconds": secs, "ops_per_s": ops / secs,
            "us_per_op": secs * 1e6 / ops, "mb_per_s": ops * bytes_per_op / secs / 1e6,
            "peak_rss_bytes": med("peak_rss_bytes"), "write_bytes": med("write_bytes"),
            "disk_bytes": med("disk_bytes"), "anon_bytes": med("anon_bytes"), "runs_seconds": [x for r in reps for x in r.get("runs_seconds", [r["seconds"]])],
        }
    out["workloads"] = workloads
    return out


def load_run(d: str) -> Dict[str, Any]:
    problems: List[str] = []
    run: Dict[str, Any] = {"dir": d, "problems": problems, "kv": {}}
    run["log"] = load(os.path.join(d, "log.json"), problems)
    # peer-NAME-REP.json: one process per peer and repetition (scripts/bench.sh);
    # peer-NAME.json or db.json: a run of all repetitions in one process.
    grouped: Dict[str, List[Dict[str, Any]]] = {}
    files = sorted(glob.glob(os.path.join(d, "peer-*.json")) + glob.glob(os.path.join(d, "db.json")))
    if not files:
        problems.append("no C key-value results (peer-*.json): bench_peers_c did not run")
    for p in files:
        doc = load(p, problems)
        if not doc:
            continue
        if doc.get("params"):
            run.setdefault("kv_params", dict(doc["params"]))
        for peer in doc.get("peers", []):
            grouped.setdefault(peer["peer"], []).append(peer)
    for name, entries in grouped.items():
        run["kv"][name] = merge_reps(entries)
    if run.get("kv_params"):
        reps = [e.get("repetitions", 0) for e in run["kv"].values()]
        run["kv_params"]["reps"] = max(reps) if reps else run["kv_params"].get("reps")
    run["python"] = load(os.path.join(d, "python.json"), problems)
    run["lua"] = load(os.path.join(d, "lua.json"), problems)
    n = None
    for key in ("log", "python", "lua"):
        if run[key]:
            n = run[key]["params"]["n"]
            break
    if n is None and run.get("kv_params"):
        n = run["kv_params"]["n"]
    run["n"] = n
    return run


# ---- machine --------------------------------------------------------------------


def sh(cmd: List[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def machine(data_dir: str) -> Dict[str, str]:
    m: Dict[str, str] = {}
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    m["cpu"] = cpu
    m["cores"] = str(os.cpu_count())
    try:
        with open("/proc/meminfo") as f:
            kb = int(f.readline().split()[1])
        m["ram"] = f"{kb / 2**20:.1f} GiB"
    except (OSError, ValueError, IndexError):
        m["ram"] = "unknown"
    src_fs = sh(["findmnt", "-no", "SOURCE,FSTYPE,OPTIONS", "--target", data_dir])
    if not src_fs:
        src_fs = sh(["df", "-T", data_dir]).splitlines()[-1] if sh(["df", "-T", data_dir]) else "unknown"
    m["disk"] = src_fs
    dev = src_fs.split()[0] if src_fs else ""
    base = os.path.basename(dev)
    rot = ""
    for cand in (base, re.sub(r"p?\d+$", "", base)):
        p = f"/sys/block/{cand}/queue/rotational"
        if cand and os.path.exists(p):
            with open(p) as f:
                rot = "the kernel reports it rotational" if f.read().strip() == "1" else "the kernel reports it non-rotational"
            model = ""
            mp = f"/sys/block/{cand}/device/model"
            if os.path.exists(mp):
                with open(mp) as f:
                    model = f.read().strip()
            rot = f"{rot}{', ' + model if model else ''} ({cand})"
            break
    m["device"] = rot or "unknown"
    m["kernel"] = f"{platform.system()} {platform.release()} {platform.machine()}"
    cc = sh(["cc", "--version"]).splitlines()
    m["compiler"] = cc[0] if cc else "unknown"
    m["python"] = platform.python_version()
    m["lua"] = sh(["lua5.4", "-v"]) or "not found"
    virt = sh(["systemd-detect-virt"])
    if virt and virt != "none":
        m["virtualization"] = virt
    return m


# ---- formatting --------------------------------------------------------------------


def fmt_num(v: float) -> str:
    """A figure with three or four significant digits, never in e-notation."""
    a = abs(v)
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.1f}"
    if a >= 10:
        return f"{v:.2f}"
    return f"{v:.3g}"


def fmt_rate(v: Optional[float]) -> str:
    if v is None:
        return "—"
    if v >= 1e6:
        return f"{v / 1e6:.2f} M/s"
    if v >= 1e3:
        return f"{v / 1e3:.0f} k/s"
    return f"{v:.0f} /s"


def fmt_cost(us: Optional[float]) -> str:
    if us is None:
        return "—"
    if us < 1:
        return f"{us * 1e3:.0f} ns"
    if us < 1000:
        return f"{us:.2f} µs"
    return f"{us / 1e3:.1f} ms"


DETAIL_HEAD = ["store", "workload", "ops/s", "per op", "MB/s", "peak RSS", "anon", "written", "on disk"]


def detail_row(p: str, w: str, x: Dict[str, Any]) -> List[str]:
    return [NAMES[p], f"`{w}`", fmt_rate(x["ops_per_s"]), fmt_cost(x["us_per_op"]), f"{x['mb_per_s']:.1f}",
            fmt_mib(x.get("peak_rss_bytes")), fmt_mib(x.get("anon_bytes")), fmt_mib(x.get("write_bytes")),
            fmt_mib(x.get("disk_bytes"))]


def fmt_mib(b: Optional[float]) -> str:
    return "n/a" if b is None else f"{b / 2**20:.0f} MiB"


def fmt_ratio(a: Optional[float], b: Optional[float]) -> str:
    if not a or not b:
        return "—"
    r = a / b
    return f"{r:.2f}×" if r < 10 else f"{r:.1f}×"


def md_table(head: List[str], rows: List[List[str]]) -> str:
    out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def wl(peer: Optional[Dict[str, Any]], w: str) -> Optional[Dict[str, Any]]:
    if not peer or peer.get("status") != "ran":
        return None
    return peer.get("workloads", {}).get(w)


def rate(peer: Optional[Dict[str, Any]], w: str) -> Optional[float]:
    x = wl(peer, w)
    return x["ops_per_s"] if x else None


def status_text(peer: Optional[Dict[str, Any]]) -> str:
    if not peer:
        return "not run"
    if peer.get("status") == "skipped":
        return "skipped: " + peer.get("reason", "")
    if peer.get("status") == "failed":
        return "FAILED: " + peer.get("reason", "")
    return "ran"


# ---- comparisons ---------------------------------------------------------------------


def comparisons(run: Dict[str, Any]) -> List[Tuple[str, str, str, Optional[float], str, Optional[float]]]:
    """(layer, workload, lsmlog store, its ops/s, peer, its ops/s) for every pair."""
    rows = []
    kv = run["kv"]
    for w in KV_WORKLOADS:
        for p in C_PEERS:
            rows.append(("C key-value", w, "lsmlog DB", rate(kv.get("lsmlog-db"), w), NAMES[p], rate(kv.get(p), w)))
    for w in LOG_WORKLOADS:
        for p in C_PEERS + ["lsmlog-db"]:
            rows.append(("C log-shaped", w, "lsmlog Log", rate(kv.get("lsmlog-log"), w), NAMES[p], rate(kv.get(p), w)))
    py = run.get("python")
    if py:
        stores = {s["peer"]: s for s in py["peers"]}
        for w in PY_WORKLOADS:
            for name, s in stores.items():
                if name == "lsmlog.Log" or (wl(s, w) is None and s.get("status") == "ran"):
                    continue
                rows.append(("Python", w, "lsmlog.Log", rate(stores.get("lsmlog.Log"), w), name, rate(s, w)))
    lua = run.get("lua")
    if lua:
        stores = {s["peer"]: s for s in lua["peers"]}
        for w in LUA_WORKLOADS:
            for name, s in stores.items():
                if name == "lsmlog (Lua)":
                    continue
                rows.append(("Lua", w, "lsmlog (Lua)", rate(stores.get("lsmlog (Lua)"), w), name, rate(s, w)))
    return rows


def print_table(run: Dict[str, Any]) -> None:
    print(f"\n== N = {run['n']:,}: lsmlog against each peer (ops/s; ratio = lsmlog / peer, > 1: lsmlog faster) ==")
    print(f"{'layer':<13} {'workload':<12} {'lsmlog':<13} {'ops/s':>11}  {'peer':<16} {'ops/s':>11}  {'ratio':>7}")
    for layer, w, lname, lr, pname, pr in comparisons(run):
        print(f"{layer:<13} {w:<12} {lname:<13} {fmt_rate(lr):>11}  {pname:<16} {fmt_rate(pr):>11}  {fmt_ratio(lr, pr):>7}")
    log = run.get("log")
    if log:
        f = log["figures"]
        print(f"\n{'C Log vs the machine':<40} {'median':>12}")
        for k in ("ceiling_write_mbps", "os_batch_mbps", "ratio_os_vs_write", "ceiling_fdatasync_mbps", "sync_batch_mbps",
                  "ratio_sync_vs_fdatasync", "memcpy_mbps", "crc32c_mbps", "scan_mrecs", "scan_ns_per_record"):
            if k in f:
                print(f"  {f[k]['label']:<44} {fmt_num(f[k]['median']):>10} {f[k]['unit']}")
    skipped = [(k, v) for k, v in run["kv"].items() if v.get("status") != "ran"]
    for src in ("python", "lua"):
        if run.get(src):
            skipped += [(s["peer"], s) for s in run[src]["peers"] if s.get("status") != "ran"]
    for name, s in skipped:
        print(f"  {NAMES.get(name, name)}: {status_text(s)}")
    for p in run["problems"]:
        print(f"  problem: {p}")


# ---- goals -------------------------------------------------------------------------------


def db_scaling_goals(runs: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """The Core DB goals that need the 10M run: write amplification after
    10M fillrandom no more than LevelDB's (bytes the process caused to be
    written, /proc/self/io), and memory bounded by the memtable and cache
    settings rather than the data: the DB's anonymous memory (RssAnon after
    each workload, less before the open; mapped table files are page cache,
    not counted) at 10M no more than at 1M plus 10 % and 2 MiB."""
    by_n = {r["n"]: r for r in runs}
    big, small = by_n.get(10_000_000), by_n.get(1_000_000)
    if not big:
        return [{"layer": "Core DB", "goal": g, "figure": "n/a (no 10M run: bash scripts/bench.sh --n 10000000)", "met": None}
                for g in ("write amplification after 10M fillrandom ≤ LevelDB's", "memory bounded by memtable + cache, not data size")]
    out: List[Dict[str, Any]] = []
    kv = big["kv"]
    db, ldb = kv.get("lsmlog-db"), kv.get("leveldb")

    def wl(peer: Optional[Dict[str, Any]], w: str) -> Optional[Dict[str, Any]]:
        return (peer or {}).get("workloads", {}).get(w) if (peer or {}).get("status") == "ran" else None

    a, b = wl(db, "fillrandom"), wl(ldb, "fillrandom")
    goal = "write amplification after 10M fillrandom ≤ LevelDB's"
    if a and b and a.get("write_bytes") and b.get("write_bytes"):
        user = 10_000_000 * 116.0
        out.append({"layer": "Core DB", "goal": goal,
                    "figure": f"{a['write_bytes'] / user:.2f} vs {b['write_bytes'] / user:.2f} (bytes written / user bytes)",
                    "met": a["write_bytes"] <= b["write_bytes"]})
    else:
        out.append({"layer": "Core DB", "goal": goal, "figure": "n/a (a store did not run)", "met": None})
    goal = "memory bounded by memtable + cache, not data size (anonymous memory, 10M vs 1M)"
    sdb = (small or {}).get("kv", {}).get("lsmlog-db")
    hi = [x.get("anon_bytes") for x in (db or {}).get("workloads", {}).values() if x.get("anon_bytes") is not None]
    lo = [x.get("anon_bytes") for x in (sdb or {}).get("workloads", {}).values() if x.get("anon_bytes") is not None]
    if hi and lo:
        mib = 1024.0 * 1024.0
        out.append({"layer": "Core DB", "goal": goal,
                    "figure": f"max {max(hi) / mib:.1f} MiB at 10M vs {max(lo) / mib:.1f} MiB at 1M",
                    "met": max(hi) <= 1.1 * max(lo) + 2 * mib})
    else:
        out.append({"layer": "Core DB", "goal": goal, "figure": "n/a (no anonymous-memory figures in this run)", "met": None})
    return out


def goals(run: Dict[str, Any], runs: Optional[List[Dict[str, Any]]] = None) -> List[Dict[str, Any]]:
    out: List[Dict[str, Any]] = []
    log = run.get("log")
    if log:
        f = log["figures"]
        for k, text in (("ratio_os_vs_write", "Log `os` batches ≥ 80 % of raw `write()`"),
                        ("ratio_sync_vs_fdatasync", "Log `sync` batches ≥ 90 % of `write()+fdatasync()`"),
                        ("scan_mrecs", "Log full scan ≥ 20 M records/s")):
            if k in f:
                x = f[k]
                out.append({"layer": "Core Log", "goal": text, "figure": f"{fmt_num(x['median'])} {x['unit']}", "met": x.get("met")})
        if "scan_anon_max_during_mib" in f:
            v = f["scan_anon_max_during_mib"]["median"]
            out.append({"layer": "Core Log", "goal": "reader memory does not grow with the log (anonymous RSS growth during a full scan)",
                        "figure": f"{v:.1f} MiB for a {f['log_size_mib']['median']:.0f} MiB log" if "log_size_mib" in f else f"{v:.1f} MiB",
                        "met": v <= 1.0})
    else:
        out.append({"layer": "Core Log", "goal": "(bench_log did not run)", "figure": "—", "met": None})
    # the issue asks them at 1M and at 10M: judged at every N of the run
    sized = sorted(runs or [run], key=lambda r: r["n"])
    for w, key, name, factor in DB_GOALS:
        for r in sized:
            kv = r["kv"]
            db, peer = kv.get("lsmlog-db"), kv.get(key)
            a, b = rate(db, w), rate(peer, w)
            goal = f"{w} ≥ {factor:g}× {name}" if factor != 1.0 else f"{w} ≥ {name}"
            if len(sized) > 1:
                goal += f" ({r['n'] // 1_000_000}M)" if r["n"] % 1_000_000 == 0 else f" (N = {r['n']:,})"
            if a is None or b is None:
                why = "lsmlog DB " + status_text(db) if a is None else name + " " + status_text(peer)
                out.append({"layer": "Core DB", "goal": goal, "figure": f"n/a ({why})", "met": None})
            else:
                out.append({"layer": "Core DB", "goal": goal, "figure": f"{fmt_rate(a)} vs {fmt_rate(b)} = {a / b:.2f}×",
                            "met": a >= factor * b})
    out += db_scaling_goals(runs or [run])
    for src in ("python", "lua"):
        doc = run.get(src)
        if not doc:
            out.append({"layer": src.capitalize(), "goal": f"(bench_{src} did not run)", "figure": "—", "met": None})
            continue
        for g in doc.get("goals", []):
            v = g.get("value")
            unit = g.get("unit", "")
            fig = "n/a" if v is None else f"{v:.2f}{unit}"
            if g.get("detail"):
                fig += f" ({g['detail']})"
            out.append({"layer": g["layer"], "goal": g["goal"], "figure": fig, "met": g.get("met")})
    return out


def verdict(met: Optional[bool]) -> str:
    return "—" if met is None else ("**met**" if met else "**NOT met**")


# ---- chart ------------------------------------------------------------------------------------

COLORS = {
    "lsmlog": "#c0392b", "lsmlog2": "#e67e73",
    "leveldb": "#2e86c1", "rocksdb": "#e67e22", "lmdb": "#27ae60", "sqlite": "#8e44ad", "sqlite2": "#c39bd3",
}


def color_of(name: str) -> str:
    n = name.lower()
    if "lsmlog" in n:
        return COLORS["lsmlog"] if ("log" in n.replace("lsmlog", "", 1) or "lua" in n) else COLORS["lsmlog2"]
    if "leveldb" in n or "plyvel" in n:
        return COLORS["leveldb"]
    if "rocks" in n:
        return COLORS["rocksdb"]
    if "lmdb" in n:
        return COLORS["lmdb"]
    if "1 txn" in n:
        return COLORS["sqlite2"]
    return COLORS["sqlite"]


def chart(run: Dict[str, Any], path: str) -> Optional[str]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        return f"no chart: matplotlib is not installed ({e})"
    panels = []
    kv = run["kv"]
    order = ["lsmlog-db"] + C_PEERS
    db = kv.get("lsmlog-db")
    note = "" if db and db.get("status") == "ran" else f"  [lsmlog DB: {status_text(db)[:70]}]"
    panels.append(("C: key-value (db_bench shape)" + note, KV_WORKLOADS,
                   [(NAMES[p], [rate(kv.get(p), w) for w in KV_WORKLOADS]) for p in order if kv.get(p, {}).get("status") == "ran"]))
    order = ["lsmlog-log", "lsmlog-db"] + C_PEERS
    panels.append(("C: log-shaped (offset keys, ts + 100 B)", ["append", "scan"],
                   [(NAMES[p], [rate(kv.get(p), w) for w in LOG_WORKLOADS]) for p in order if kv.get(p, {}).get("status") == "ran"]))
    if run.get("python"):
        st = [s for s in run["python"]["peers"] if s.get("status") == "ran"]
        panels.append(("Python", PY_WORKLOADS, [(s["peer"], [rate(s, w) for w in PY_WORKLOADS]) for s in st]))
    if run.get("lua"):
        st = [s for s in run["lua"]["peers"] if s.get("status") == "ran"]
        panels.append(("Lua 5.4", ["append_batch", "records()"], [(s["peer"], [rate(s, w) for w in LUA_WORKLOADS]) for s in st]))
    fig, axes = plt.subplots(len(panels), 1, figsize=(11, 3.6 * len(panels)))
    if len(panels) == 1:
        axes = [axes]
    for ax, (title, wls, series) in zip(axes, panels):
        k = max(len(series), 1)
        width = 0.8 / k
        for i, (name, vals) in enumerate(series):
            xs = [j + (i - (k - 1) / 2) * width for j in range(len(wls))]
            ys = [v if v else 0 for v in vals]
            ax.bar(xs, ys, width, label=name, color=color_of(name), edgecolor="black" if "lsmlog" in name.lower() else "none", linewidth=0.6)
        ax.set_yscale("log")
        ax.set_xticks(range(len(wls)))
        ax.set_xticklabels(wls)
        ax.set_ylabel("ops/s (log scale)")
        ax.set_title(title, loc="left", fontsize=11)
        ax.grid(axis="y", which="major", alpha=0.3)
        ax.legend(fontsize=8, ncol=min(k, 6), loc="upper center", bbox_to_anchor=(0.5, -0.12), frameon=False)
    fig.suptitle(f"lsmlog vs peers, N = {run['n']:,} records, same run (higher is better)", fontsize=12)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None


# ---- the doc --------------------------------------------------------------------------------------


def kv_sections(run: Dict[str, Any]) -> List[str]:
    kv = run["kv"]
    params = run.get("kv_params") or {}
    out = []
    n = run["n"]
    reads = params.get("reads", "?")
    head = ["workload", "lsmlog DB"] + [NAMES[p] for p in C_PEERS]
    rows = []
    db = kv.get("lsmlog-db")
    for w in KV_WORKLOADS:
        a = rate(db, w)
        cells = [f"`{w}`", f"**{fmt_rate(a)}** ({fmt_cost(wl(db, w)['us_per_op'])})" if a else status_text(db)]
        for p in C_PEERS:
            b = rate(kv.get(p), w)
            cells.append(f"{fmt_rate(b)} ({fmt_cost(wl(kv.get(p), w)['us_per_op'])}) · lsmlog {fmt_ratio(a, b)}" if b else status_text(kv.get(p)))
        rows.append(cells)
    out.append("## C: key-value stores, db_bench shape\n")
    out.append(
        f"`bench_db` (lsmlog DB) and `bench_peers_c` (one process per peer), one driver (`bench/kv_bench.c`): "
        f"{n:,} records of 16-byte zero-padded decimal keys and 100 incompressible bytes (slices of a 1 MiB random "
        "buffer, as db_bench takes them), batches of 1,000; "
        f"`readrandom` and `seekrandom` do {reads:,} operations. `fillseq` runs on a fresh store; `fillrandom` "
        "(the keys in a random order) on another fresh store, which then takes `overwrite` (uniformly random keys), "
        "`readrandom`, `readseq` and `seekrandom` in that order, as db_bench runs them (background compaction left "
        "by a write workload is paid by the next one). Timed: the store's calls only. Cells: ops/s (cost per op) · "
        "lsmlog's rate ÷ the peer's.\n")
    out.append(md_table(head, rows))
    out.append("\nDetails (medians): cost per op, MB/s (key + value bytes), the process's peak RSS during the "
               "workload (mapped files included), the store's anonymous memory after it (`RssAnon`, less before the "
               "store was opened: heap, memtables, caches; not the page cache of mapped files), bytes the process caused to be written to storage (`/proc/self/io` `write_bytes`), "
               "and the store's size on disk after the workload (`du`).\n")
    rows = []
    for p in ["lsmlog-db"] + C_PEERS:
        for w in KV_WORKLOADS:
            x = wl(kv.get(p), w)
            if not x:
                continue
            rows.append(detail_row(p, w, x))
    out.append(md_table(DETAIL_HEAD, rows))

    out.append("\n## C: log-shaped, \"what else would you keep a log in\"\n")
    out.append(
        f"The same {n:,} records appended in batches of 1,000 and scanned back, with what each store needs to "
        "hold a log: record *i* is keyed by its offset (8 bytes, big-endian, so keys sort in append order) and "
        "carries an 8-byte timestamp with its 100-byte payload. The lsmlog Log assigns the offsets itself and "
        "stores the timestamp in the record; LevelDB, RocksDB, LMDB (with `MDB_APPEND`) and the lsmlog DB store "
        "the 108 bytes as the value; SQLite a row of `log(off INTEGER PRIMARY KEY, ts INTEGER, v BLOB)`. "
        "Cells: ops/s (cost per record) · the Log's rate ÷ the store's.\n")
    lg = kv.get("lsmlog-log")
    rows = []
    for w, label in zip(LOG_WORKLOADS, ["append (batches of 1,000)", "full scan"]):
        a = rate(lg, w)
        cells = [label, f"**{fmt_rate(a)}** ({fmt_cost(wl(lg, w)['us_per_op'])})" if a else status_text(lg)]
        for p in ["lsmlog-db"] + C_PEERS:
            b = rate(kv.get(p), w)
            cells.append(f"{fmt_rate(b)} ({fmt_cost(wl(kv.get(p), w)['us_per_op'])}) · Log {fmt_ratio(a, b)}" if b else status_text(kv.get(p)))
        rows.append(cells)
    out.append(md_table(["workload", "lsmlog Log", "lsmlog DB"] + [NAMES[p] for p in C_PEERS], rows))
    rows = []
    for p in ["lsmlog-log", "lsmlog-db"] + C_PEERS:
        for w in LOG_WORKLOADS:
            x = wl(kv.get(p), w)
            if x:
                rows.append(detail_row(p, w, x))
    out.append("\n" + md_table(DETAIL_HEAD, rows))
    return out


def log_section(run: Dict[str, Any]) -> List[str]:
    log = run.get("log")
    if not log:
        return ["## C: the Log against the machine's ceilings\n", "bench_log did not run in this run."]
    f = log["figures"]
    p = log["params"]
    out = ["## C: the Log against the machine's ceilings\n",
           f"`bench_log`: {p['n']:,} values of 100 incompressible bytes in batches of 1,000 "
           f"(`lsmlog_log_append_batch`), a fresh directory per run, {p['reps']} run(s), median and range; write "
           f"runs are timed from open to close; the durable comparison uses {p['n_sync']:,} values. Every ceiling "
           "is measured in the same run.\n"]
    rows = []
    for k in ("ceiling_write_mbps", "os_batch_mbps", "os_batch_mrecs", "ratio_os_vs_write", "os_scattered_batch_mbps",
              "ratio_os_scattered_vs_write", "buffered_batch_mbps", "ratio_buffered_vs_write", "ceiling_fdatasync_mbps",
              "sync_batch_mbps", "ratio_sync_vs_fdatasync", "single_os_mrecs", "single_os_ns", "memcpy_mbps", "crc32c_mbps",
              "scan_mrecs", "scan_ns_per_record", "ratio_scan_vs_memcpy", "offset_for_time_ns", "tail_p50_us", "tail_p99_us",
              "tail_p999_us", "os_disk_bytes_per_record", "scan_anon_max_during_mib", "peak_rss_mib"):
        if k not in f:
            continue
        x = f[k]
        runs_ = x.get("runs") or []
        rng = f"{fmt_num(min(runs_))} – {fmt_num(max(runs_))}" if len(runs_) > 1 else ""
        goal = x.get("goal") or ""
        rows.append([x["label"], f"{fmt_num(x['median'])} {x['unit']}", rng, goal, verdict(x.get("met")) if goal else ""])
    out.append(md_table(["figure", "median", "range", "goal", ""], rows))
    return out


def py_section(run: Dict[str, Any]) -> List[str]:
    py = run.get("python")
    if not py:
        return ["## Python\n", "bench_python did not run in this run."]
    p = py["params"]
    out = ["## Python\n",
           f"`bench/bench_python.py` (Python {py.get('python')}): {p['n']:,} values of 100 random bytes; `extend` in "
           f"batches of 1,000 (peers: one transaction / write batch each; `sqlite3 (1 txn)`: all rows in one "
           f"`executemany` and one transaction), `append` one call per value ({p['single']:,}), a full scan with a "
           f"fresh handle, and {p['ranges']:,} reads of the 1,000 records of a random batch (the Log by time: "
           "`read(since, until)`; the peers by key range, the offset being the key). Writes are timed from open "
           "to close. The key-value peers store the payload without a timestamp (in their favour); every store's "
           "inputs are built before the clock starts. Cells: ops/s (cost per record) · lsmlog.Log's rate ÷ the "
           "store's.\n"]
    stores = [s for s in py["peers"]]
    log = next((s for s in stores if s["peer"] == "lsmlog.Log"), None)
    head = ["workload"] + [s["peer"] for s in stores]
    rows = []
    for w in PY_WORKLOADS:
        a = rate(log, w)
        cells = [f"`{w}`"]
        for s in stores:
            b = rate(s, w)
            if s is log:
                cells.append(f"**{fmt_rate(a)}** ({fmt_cost(wl(log, w)['us_per_op'])})" if a else status_text(log))
            elif s.get("status") != "ran":
                cells.append(status_text(s))
            elif b is None:
                cells.append("—")
            else:
                cells.append(f"{fmt_rate(b)} ({fmt_cost(wl(s, w)['us_per_op'])}) · {fmt_ratio(a, b)}")
        rows.append(cells)
    out.append(md_table(head, rows))
    c = py.get("c_reference_ns") or {}
    if log and c:
        e, s = wl(log, "extend"), wl(log, "scan")
        out.append(
            f"\nPer record, Python against the C core in the same run (`bench_log`): `Log.extend` "
            f"{e['us_per_op'] * 1e3:.0f} ns vs `lsmlog_log_append_batch` {c.get('extend_ns', float('nan')):.0f} ns "
            f"({e['us_per_op'] * 1e3 / c['extend_ns']:.1f}×); `read()` {s['us_per_op'] * 1e3:.0f} ns vs "
            f"`lsmlog_log_iter_next` {c.get('scan_ns', float('nan')):.1f} ns ({s['us_per_op'] * 1e3 / c['scan_ns']:.0f}×).")
        raw = wl(log, "scan_raw")
        if raw:
            out.append(
                f"\nWhere a `read()` step goes: the extension's iterator alone (`Log._raw.iter`, a tuple per "
                f"record, no `Record`, no generator; a diagnostic run in the same process) takes "
                f"{raw['us_per_op'] * 1e3:.0f} ns per record, so the C binding is "
                f"{raw['us_per_op'] / s['us_per_op'] * 100:.0f} % of the cost and the Python layer (the generator "
                f"and the `Record` named tuple) the remaining {(1 - raw['us_per_op'] / s['us_per_op']) * 100:.0f} %; "
                f"the core's own step is {c.get('scan_ns', float('nan')):.0f} ns.")
    return out


def lua_section(run: Dict[str, Any]) -> List[str]:
    lua = run.get("lua")
    if not lua:
        return ["## Lua\n", "bench_lua did not run in this run."]
    p = lua["params"]
    out = ["## Lua\n",
           f"`bench/bench_lua.lua` ({lua.get('lua')}): {p['n']:,} strings of 100 bytes in tables of 1,000 "
           "(`log:append_batch`; LuaSQL: one transaction per 1,000 rows, one `conn:execute` of an SQL string per "
           "row, as LuaSQL 2.6 has no prepared statements; the values are random letters and digits so that none "
           "needs escaping), then a full scan with a fresh handle (`log:records()`; LuaSQL: `cur:fetch()`). "
           "Writes are timed from open to close.\n"]
    stores = lua["peers"]
    log = next((s for s in stores if s["peer"] == "lsmlog (Lua)"), None)
    rows = []
    for w in LUA_WORKLOADS:
        a = rate(log, w)
        cells = [f"`{w}`"]
        for s in stores:
            if s is log:
                cells.append(f"**{fmt_rate(a)}** ({fmt_cost(wl(log, w)['us_per_op'])})" if a else status_text(log))
            elif s.get("status") != "ran":
                cells.append(status_text(s))
            else:
                b = rate(s, w)
                cells.append(f"{fmt_rate(b)} ({fmt_cost(wl(s, w)['us_per_op'])}) · {fmt_ratio(a, b)}")
        rows.append(cells)
    out.append(md_table(["workload"] + [s["peer"] for s in stores], rows))
    return out


def scaling_section(runs: List[Dict[str, Any]], command_10m: str) -> List[str]:
    if len(runs) < 2:
        out = ["## Scaling: 1M against 10M records\n"]
        out.append("Not measured in this run (the default run does 1,000,000 records only). To measure it:\n")
        out.append(f"```sh\n{command_10m}\n```\n")
        out.append("It runs everything at 1,000,000 and again at 10,000,000 records and adds a table here of "
                   "each workload's cost per operation at both sizes and its growth. It has not been timed on this "
                   "machine: the 10M part does ten times the work of the 1M run above, with one repetition, and the "
                   "random-key fills and overwrites of the B-tree peers (SQLite, LMDB) slow down as they grow, so "
                   "count on well over ten times the 1M run's duration. It needs about 5 GB free under `--dir`.")
        return out
    a, b = runs[0], runs[-1]
    out = [f"## Scaling: {a['n']:,} against {b['n']:,} records\n"]
    out.append(f"Cost per operation at N = {a['n']:,} and N = {b['n']:,} (same command, same machine), and the "
               "growth (1.00× = the cost per operation does not change with N).\n")
    rows = []

    def add(layer: str, store: str, w: str, pa: Optional[Dict[str, Any]], pb: Optional[Dict[str, Any]]) -> None:
        xa, xb = wl(pa, w), wl(pb, w)
        if xa and xb:
            rows.append([layer, store, f"`{w}`", fmt_cost(xa["us_per_op"]), fmt_cost(xb["us_per_op"]), f"{xb['us_per_op'] / xa['us_per_op']:.2f}×"])

    for p in ["lsmlog-db"] + C_PEERS:
        for w in KV_WORKLOADS:
            add("C key-value", NAMES[p], w, a["kv"].get(p), b["kv"].get(p))
    for p in ["lsmlog-log", "lsmlog-db"] + C_PEERS:
        for w in LOG_WORKLOADS:
            add("C log-shaped", NAMES[p], w, a["kv"].get(p), b["kv"].get(p))
    for src, wls in (("python", PY_WORKLOADS), ("lua", LUA_WORKLOADS)):
        if a.get(src) and b.get(src):
            sa = {s["peer"]: s for s in a[src]["peers"]}
            sb = {s["peer"]: s for s in b[src]["peers"]}
            for name in sa:
                for w in wls:
                    add(src.capitalize(), name, w, sa.get(name), sb.get(name))
    if a.get("log") and b.get("log"):
        fa, fb = a["log"]["figures"], b["log"]["figures"]
        for k in ("os_batch_mrecs", "scan_mrecs"):
            if k in fa and k in fb:
                ca, cb = 1 / fa[k]["median"], 1 / fb[k]["median"]
                rows.append(["C Log (bench_log)", "lsmlog Log", fa[k]["label"], fmt_cost(ca), fmt_cost(cb), f"{cb / ca:.2f}×"])
    out.append(md_table(["layer", "store", "workload", f"per op, {a['n']:,}", f"per op, {b['n']:,}", "growth"], rows))
    return out


def settings_section(run: Dict[str, Any]) -> List[str]:
    rows = []
    for p in ["lsmlog-log", "lsmlog-db"] + C_PEERS:
        s = run["kv"].get(p)
        if s:
            rows.append(["C", NAMES[p], s.get("version", "—"), s.get("settings") or ("skipped: " + s.get("reason", ""))])
    for src in ("python", "lua"):
        if run.get(src):
            for s in run[src]["peers"]:
                rows.append([src.capitalize(), s["peer"], s.get("version", "—"), s.get("settings") or ("skipped: " + s.get("reason", ""))])
    return ["## What each store ran with\n",
            "Durability is comparable everywhere to lsmlog's `os`: every write is handed to the OS before the call "
            "returns, nothing is fsynced (it survives a kill -9 of the process, not a power loss).\n",
            md_table(["layer", "store", "version", "settings"], rows)]


def heavy_load_note(meta: Dict[str, Any], mach: Dict[str, str]) -> str:
    """A warning when the machine was busier than its cores during the run."""
    try:
        loads = [float(x) for x in (meta["load_start"] + " " + meta["load_end"]).split()]
        cores = int(mach.get("cores", "0"))
    except (KeyError, ValueError):
        return ""
    if not cores or max(loads) < cores:
        return ""
    return (f" **This run was made under heavy load** (a load average of {max(loads):.1f} on {cores} cores): "
            "the absolute figures are low, the disk-bound ones (fdatasync) most of all, and ratios between "
            "stores measured minutes apart carry more noise than usual.")


def write_doc(path: str, runs: List[Dict[str, Any]], mach: Dict[str, str], meta: Dict[str, Any], chart_note: Optional[str]) -> None:
    run = runs[0]
    g = goals(run, runs)
    lines = ["# Benchmarks", "",
             "<!-- Written by bench/report.py from the run's JSON (bench/results/latest.json): edit the generator, not this page. -->", "",
             "Every figure on this page was measured in one run of `scripts/bench.sh` "
             f"({meta['date']}, lsmlog {meta.get('version', '?')}, commit {meta.get('commit', '?')}); every ratio "
             "compares two figures of that same run. Each workload ran "
             f"{meta['reps']} times (fresh directories each time) and the median is shown.",
             "",
             f"**The machine is shared and small** ({mach.get('cores', '?')} cores, other builds and tests running at "
             f"the same time): the load average was {meta.get('load_start', '?')} when the run started and "
             f"{meta.get('load_end', '?')} when it ended. Figures move by ±10 % or more between runs; ratios within "
             "that margin (0.9×–1.1×) are a tie, not a result." + heavy_load_note(meta, mach), "",
             "## Reproduce", "",
             f"This run: `{meta['command']}`.", "",
             "```sh",
             "make bench                                           # = bash scripts/bench.sh: installs the peers, builds (Release), runs, rewrites this page",
             "bash scripts/bench.sh --n 10000000 --reps 1          # adds the 10M scaling table (long: see below)",
             "bash scripts/bench.sh --quick                        # smoke test, < 60 s; does not touch this page",
             "```", "",
             "`scripts/bench.sh` installs what is missing (`librocksdb-dev libleveldb-dev liblmdb-dev libsqlite3-dev "
             "lua-sql-sqlite3` with apt, `plyvel lmdb rocksdict matplotlib` with pip), builds lsmlog in Release "
             "(`build-release/`) with the C peers CMake finds, runs `bench_log`, `bench_peers_c` (once per peer), "
             "`bench_db`, `bench/bench_python.py` and `bench/bench_lua.lua`, and merges their JSON with "
             "`bench/report.py` into `bench/results/latest.json`, `docs/bench.png` and this page. A peer that cannot "
             "run is listed as skipped, with the reason; no figure is ever filled in.", "",
             "## Machine", "",
             md_table(["", ""], [[k, v] for k, v in mach.items()] + [["data directory", meta.get("data_dir", "/tmp")]]), "",
             "## Goals", "",
             md_table(["layer", "goal", "figure (this run)", "verdict"], [[x["layer"], x["goal"], x["figure"], verdict(x["met"])] for x in g]), "",
             "The Core DB goals are the issue's (C, same settings as below, same run); its goal on write "
             "amplification after 10M fillrandom needs the `--n 10000000` run.", ""]
    if chart_note:
        lines += [f"(Chart not drawn: {chart_note}.)", ""]
    else:
        lines += ["![lsmlog against each peer, per workload, ops/s on a log scale](bench.png)", ""]
    for p in run["problems"]:
        lines += [f"- Problem in this run: {p}"]
    if run["problems"]:
        lines += [""]
    for sec in (kv_sections(run), log_section(run), py_section(run), lua_section(run), scaling_section(runs, meta["command_10m"]), settings_section(run)):
        lines += sec + [""]
    lines += ["## How the figures are taken", "",
              "- Clock: `CLOCK_MONOTONIC` in C, `time.perf_counter` in Python, `date +%s%N` around each timed part "
              "in Lua (Lua has no finer wall clock; about 1 ms of error, under 1 % here).",
              "- Peak RSS: the process's high-water mark (`VmHWM`), reset before each workload through "
              "`/proc/self/clear_refs`; it includes the harness (its value buffers and key lists) and, in Python "
              "and Lua, the interpreter and the prepared inputs.",
              "- Written: `/proc/self/io` `write_bytes`, all threads of the process: bytes of page-cache pages the "
              "workload turned dirty (a page rewritten while still dirty counts once), so it is what the kernel "
              "will write back for it, including compaction done by background threads during the workload.",
              "- On disk: allocated blocks (`du`) of the store's directory after the workload. RocksDB preallocates "
              "its WAL (and LMDB reserves its map sparsely): allocated space, not data.",
              "- Repetitions are interleaved: all stores of a layer run once, then again in the reverse order, "
              "and so on (`bench_log` alternates its sides the same way), so that drift in the machine's load "
              "hits every store alike; the C peers run one process per store and repetition.",
              "- Before each write workload the file system is synced, so no workload pays for the previous one's "
              "writeback. Reads run with a warm page cache (the data was just written).",
              "- Every read is checked (counts, offsets, keys found); a store that returns a wrong answer stops the "
              "run instead of printing a figure.",
              ""]
    with open(path, "w") as f:
        f.write("\n".join(lines))


# ---- main ---------------------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--run", action="append", required=True, help="a directory of one N's JSON files (repeatable, smallest N first)")
    ap.add_argument("--out", help="the merged JSON")
    ap.add_argument("--chart", help="the PNG chart")
    ap.add_argument("--doc", help="the Markdown page to rewrite")
    ap.add_argument("--command", default="make bench", help="the command that made this run")
    ap.add_argument("--command-10m", default="bash scripts/bench.sh --n 10000000 --reps 1")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--data-dir", default="/tmp")
    ap.add_argument("--load-start", default="?")
    ap.add_argument("--started", default=None)
    ap.add_argument("--commit", default=None, help="the commit the run was built from (default: HEAD now)")
    ap.add_argument("--load-end", default=None, help="the load average when the run ended (default: now)")
    args = ap.parse_args()

    runs = [load_run(d) for d in args.run]
    mach = machine(args.data_dir)
    with open("/proc/loadavg") as f:
        load_end = args.load_end or " ".join(f.read().split()[:3])
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    commit = args.commit
    if not commit:
        commit = sh(["git", "-C", root, "rev-parse", "--short", "HEAD"]) or "?"
        if sh(["git", "-C", root, "status", "--porcelain", "--untracked-files=no"]):
            commit += " + uncommitted changes"
    version = "?"
    try:
        with open(os.path.join(root, "core", "include", "lsmlog.h")) as f:
            m = re.search(r'#define LSMLOG_VERSION "([^"]+)"', f.read())
            version = m.group(1) if m else "?"
    except OSError:
        pass
    meta = {
        "date": args.started or datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": args.command,
        "command_10m": args.command_10m,
        "reps": args.reps,
        "commit": commit,
        "version": version,
        "load_start": args.load_start,
        "load_end": load_end,
        "data_dir": args.data_dir,
    }
    for r in runs:
        print_table(r)
    print("\n== goals (N = %s) ==" % f"{runs[0]['n']:,}")
    for g in goals(runs[0], runs):
        v = "—" if g["met"] is None else ("met" if g["met"] else "NOT met")
        print(f"  {g['layer']:<9} {g['goal']:<92} {g['figure']:<34} {v}")

    chart_note = None
    if args.chart:
        chart_note = chart(runs[0], args.chart)
        print(f"\nchart: {chart_note or args.chart}")
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        doc = {"meta": meta, "machine": mach,
               "runs": {str(r["n"]): {k: r[k] for k in ("log", "kv", "python", "lua", "problems")} for r in runs},
               "goals": goals(runs[0], runs)}
        with open(args.out, "w") as f:
            json.dump(doc, f, indent=1)
        print(f"merged JSON: {args.out}")
    if args.doc:
        write_doc(args.doc, runs, mach, meta, chart_note if args.chart else "not requested")
        print(f"page: {args.doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
