#!/usr/bin/env python3
"""bench/report.py RAW PHASES: the tables and target checks of bench/RESULTS.md
from bench/run.sh's raw figures (tab-separated: case phase tool run ms rsskb rc;
phases: case phase tool run name seconds)."""
import collections, statistics, sys

raw = collections.defaultdict(dict)       # (case, phase, tool) -> {run: ms}
cpu = collections.defaultdict(dict)       # (case, phase, tool) -> {run: user+sys ms}
rss = collections.defaultdict(int)        # (case, tool) -> max kB
fails = collections.Counter()
cases, tools = [], []
for line in open(sys.argv[1]):
    c, ph, t, r, ms, kb, rc, cms = line.rstrip("\n").split("\t")
    if c not in cases: cases.append(c)
    if t not in tools: tools.append(t)
    if rc != "0":
        fails[(c, ph, t)] += 1
        continue
    raw[(c, ph, t)][int(r)] = int(ms)
    if cms != "-": cpu[(c, ph, t)][int(r)] = int(cms)
    if kb != "-": rss[(c, t)] = max(rss[(c, t)], int(kb))
phs = collections.defaultdict(list)       # (case, phase, tool, name) -> [s]
for line in open(sys.argv[2]):
    c, ph, t, r, n, v = line.rstrip("\n").split("\t")
    try: phs[(c, ph, t, n)].append(float(v))
    except ValueError: pass

def med(v): return statistics.median(v) if v else None
def m(c, ph, t): return med(list(raw[(c, ph, t)].values()))
def mc(c, ph, t): return med(list(cpu[(c, ph, t)].values()))
def ratio(c, ph, a, b):
    A, B = raw[(c, ph, a)], raw[(c, ph, b)]
    rs = [A[r] / B[r] for r in A if r in B and B[r] > 0]
    return med(rs)
def f(x, d=0): return "-" if x is None else (f"{x:.{d}f}")

peers = [("imgbuild", p) for p in ("buildah", "docker", "floor") if p in tools]
if "imgbuild-rl" in tools and "buildah-rl" in tools: peers.append(("imgbuild-rl", "buildah-rl"))
order = [t for t in ("imgbuild", "buildah", "docker", "imgbuild-rl", "buildah-rl", "floor") if t in tools]
print("## Medians (ms) and ratios\n")
print("| case | phase | " + " | ".join(order) + " | " + " | ".join(f"{a}/{b}" for a, b in peers) + " |")
print("|---|---|" + "---|" * (len(order) + len(peers)))
for c in cases:
    for ph in ("cold", "warm", "nocache", "push"):
        if not any(raw[(c, ph, t)] or fails[(c, ph, t)] for t in tools): continue
        cells = []
        for t in order:
            x = m(c, ph, t)
            cells.append(f(x) + (f" ({fails[(c, ph, t)]} failed)" if fails[(c, ph, t)] else ""))
        rs = [f(ratio(c, ph, a, b), 3) for a, b in peers]
        print(f"| {c} | {ph} | " + " | ".join(cells) + " | " + " | ".join(rs) + " |")
print("\nCPU time (user + sys of the tool's process tree, ms, median; docker: the client"
      " only, its daemon's work is not counted) - less distorted than wall time by a loaded machine:\n")
ct = [t for t in order if t not in ("floor", "docker")]
print("| case | phase | " + " | ".join(ct) + " |")
print("|---|---|" + "---|" * len(ct))
for c in cases:
    for ph in ("cold", "warm", "nocache", "push"):
        if not any(cpu[(c, ph, t)] for t in ct): continue
        print(f"| {c} | {ph} | " + " | ".join(f(med(list(cpu[(c, ph, t)].values()))) for t in ct) + " |")
print("\nPeak RSS (MB, the largest over all runs and phases, from /usr/bin/time -v: the"
      " largest single process of the tool's process tree; docker: the client only)\n")
rt = [t for t in order if t != "floor"]
print("| case | " + " | ".join(rt) + " |")
print("|---|" + "---|" * len(rt))
for c in cases:
    print(f"| {c} | " + " | ".join(f(rss[(c, t)] / 1024, 1) if rss[(c, t)] else "-" for t in rt) + " |")

names = ["resolve", "pull", "extract", "run", "snapshot", "compress", "push"]
print("\n## imgbuild (root) per phase, seconds, median (from its JSON summary)\n")
print("| case | phase | " + " | ".join(names) + " | extracted layers | wall |")
print("|---|---|" + "---|" * (len(names) + 2))
for c in cases:
    for ph in ("cold", "warm", "nocache", "push"):
        if not phs[(c, ph, "imgbuild", "resolve")]: continue
        w = m(c, ph, "imgbuild")
        print(f"| {c} | {ph} | " + " | ".join(f(med(phs[(c, ph, 'imgbuild', n)]), 3) for n in names)
              + f" | {f(med(phs[(c, ph, 'imgbuild', 'extracted')]))} | {f(w / 1000 if w else None, 3)} |")

print("\n## Targets of #8 (computed from the figures above)\n")
def tgt(name, ok, detail):
    print(f"- **{'met' if ok else 'NOT met' if ok is not None else 'not measured'}** - {name}: {detail}")
r1, r3 = m("run1-bb", "nocache", "imgbuild"), m("run3-bb", "nocache", "imgbuild")
b1, b3 = m("run1-bb", "nocache", "buildah"), m("run3-bb", "nocache", "buildah")
if r1 is not None and r3 is not None:
    d = r3 - r1
    tgt("three RUNs cost <= 50 ms more than one (<= 25 ms per RUN)", d <= 50,
        f"imgbuild --no-cache, base local: 1 RUN {r1:.0f} ms, 3 RUNs {r3:.0f} ms: {d / 2:.0f} ms per extra RUN"
        + (f"; buildah: {b1:.0f} / {b3:.0f} ms, {(b3 - b1) / 2:.0f} ms per extra RUN" if b1 and b3 else "")
        + (f"; in CPU time imgbuild {(mc('run3-bb', 'nocache', 'imgbuild') - mc('run1-bb', 'nocache', 'imgbuild')) / 2:.0f} ms per extra RUN"
           if mc("run3-bb", "nocache", "imgbuild") is not None and mc("run1-bb", "nocache", "imgbuild") is not None else ""))
    rn = m("run1-node", "nocache", "imgbuild")
    if rn is not None:
        tgt("the same 1-file RUN within 1.2x on the node-like base and on busybox", rn / r1 <= 1.2,
            f"--no-cache build with the base local: {rn:.0f} ms vs {r1:.0f} ms = {rn / r1:.2f}x")
worst_f, worst_b = [], []
for c in cases:
    x = ratio(c, "cold", "imgbuild", "floor"); y = ratio(c, "cold", "imgbuild", "buildah")
    if x is not None: worst_f.append((x, c))
    if y is not None: worst_b.append((y, c))
if worst_f:
    nf = [(x, c) for x, c in worst_f if c.endswith("-node")]
    tgt("cold builds <= 1.1x the floor (the node-like base's cases; the busybox floors, one 1 MB layer, are mostly process start-ups and say little)",
        all(x <= 1.1 for x, _ in nf) if nf else None,
        ", ".join(f"{c} {x:.2f}x" for x, c in worst_f))
if worst_b:
    tgt("cold builds <= 0.5x buildah on every case", all(x <= 0.5 for x, _ in worst_b),
        ", ".join(f"{c} {x:.2f}x" for x, c in worst_b))
ex = med(phs[("article-node", "cold", "imgbuild", "extracted")])
if ex is not None:
    tgt("a stage with no RUN never extracts its base (article-node: base has 7 layers, extracted once for stage 1 only)",
        ex <= 7, f"layers extracted in the cold build: {ex:.0f}")
ws = [(m(c, "warm", "imgbuild"), ratio(c, "warm", "imgbuild", "buildah"), c) for c in cases if m(c, "warm", "imgbuild") is not None]
if ws:
    tgt("warm rebuilds <= 30 ms and <= 0.1x buildah's", all(w <= 30 and (r is None or r <= 0.1) for w, r, _ in ws),
        ", ".join(f"{c} {w:.0f} ms ({f(r, 3)}x; CPU {f(mc(c, 'warm', 'imgbuild'))} ms)" for w, r, c in ws))
ps = [(ratio(c, "push", "imgbuild", "buildah"), c) for c in cases if raw[(c, "push", "imgbuild")]]
if ps:
    tgt("push faster than buildah's (only missing blobs travel; see notes)", all(r is not None and r < 1 for r, _ in ps),
        ", ".join(f"{c} {f(r, 3)}x" for r, c in ps))
mx = [(rss[(c, t)] / 1024, c, t) for c in cases for t in ("imgbuild", "imgbuild-rl") if rss[(c, t)]]
if mx:
    top = max(mx)
    tgt("peak RSS <= 64 MB on every case", top[0] <= 64, f"largest: {top[0]:.1f} MB ({top[2]}, {top[1]})")
