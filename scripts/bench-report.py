#!/usr/bin/env python3
"""Turns one `make bench` run (a folder of the load generator's JSON files)
into the generated part of docs/benchmarks.md: tables of every scenario with
chatd's figures as ratios of the bare relay's and of the seed peer's from the
same run, and two plots drawn with gnuplot. Only the text between the
markers below is replaced; the prose around it is written by hand.

usage: bench-report.py RESULTS_DIR OUTPUT_MD
"""
import glob
import json
import os
import subprocess
import sys

TARGETS = [("relay", "bare relay"), ("chatd-sqlite", "chatd (SQLite)"),
           ("chatd-postgres", "chatd (PostgreSQL)"), ("seed-node", "seed peer (Node.js, PostgreSQL)")]


def load(results):
    runs = {}
    for path in glob.glob(os.path.join(results, "*.*.json")):
        target, label = os.path.basename(path)[:-5].split(".", 1)
        with open(path) as f:
            runs.setdefault(target, {})[label] = json.load(f)
    return runs


def get(run, *keys, default=None):
    for k in keys:
        if not isinstance(run, dict) or run.get(k) is None:
            return default
        run = run[k]
    return run


def fmt(v, digits=0):
    if v is None:
        return "—"
    if digits == 0:
        return "{:,.0f}".format(v)
    return "{:,.{}f}".format(v, digits)


def ratio(a, b):
    if a is None or b in (None, 0):
        return "—"
    return "{:.2f}×".format(a / b)


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


def each_target(runs, label):
    """(key, name, run) for every target with a run labelled label."""
    for key, name in TARGETS:
        r = get(runs, key, label)
        if r:
            yield key, name, r


def throughput_section(runs):
    rows = []
    relay = get(runs, "relay", "dm", "messages", "acked_per_s")
    seed = get(runs, "seed-node", "dm", "messages", "acked_per_s")
    for _, name, r in each_target(runs, "dm"):
        rate = get(r, "messages", "acked_per_s")
        rows.append([name, fmt(rate), ratio(rate, relay), ratio(rate, seed),
                     fmt(get(r, "latency", "ack", "p50_ms"), 2), fmt(get(r, "latency", "ack", "p99_ms"), 2),
                     fmt(get(r, "cpu", "run", "server_cores"), 2),
                     fmt(get(r, "cpu", "run", "generator_cores"), 2),
                     fmt(get(r, "cpu", "run", "other_cores"), 2),
                     fmt(get(r, "messages", "error_replies"))])
    return table(["target", "acked msg/s", "÷ relay", "÷ seed", "ack p50 ms", "ack p99 ms",
                  "server cores", "generator cores", "other cores", "error replies"], rows)


def rate_labels(runs):
    labels = set()
    for key, _ in TARGETS:
        labels |= {l for l in runs.get(key, {}) if l.startswith("rate")}
    return sorted(labels, key=lambda l: int(l[4:]))


def latency_section(runs):
    rows = []
    for label in rate_labels(runs):
        for key, name in TARGETS:
            r = get(runs, key, label)
            if not r:
                continue
            d = get(r, "latency", "delivery") or {}
            rows.append([fmt(int(label[4:])), name, fmt(get(r, "messages", "acked_per_s")),
                         fmt(d.get("p50_ms"), 2), fmt(d.get("p99_ms"), 2), fmt(d.get("p999_ms"), 2),
                         fmt(d.get("max_ms"), 2), fmt(get(r, "messages", "late")),
                         fmt(get(r, "messages", "error_replies")),
                         fmt(get(r, "cpu", "run", "server_cores"), 2),
                         fmt(get(r, "cpu", "run", "other_cores"), 2)])
    return table(["offered msg/s", "target", "acked msg/s", "delivery p50 ms", "p99 ms", "p99.9 ms",
                  "max ms", "late sends", "error replies", "server cores", "other cores"], rows)


def fanout_section(runs):
    rows = []
    relay = get(runs, "relay", "fanout", "messages", "delivered_per_s")
    for _, name, r in each_target(runs, "fanout"):
        rate = get(r, "messages", "delivered_per_s")
        rows.append([name, fmt(rate), ratio(rate, relay), fmt(get(r, "latency", "delivery", "p99_ms"), 2),
                     fmt(get(r, "cpu", "run", "server_cores"), 2)])
    return table(["target", "deliveries/s", "÷ relay", "delivery p99 ms", "server cores"], rows)


def idle_labels(runs, key):
    return sorted((l for l in runs.get(key, {}) if l.startswith("idle")), key=lambda l: int(l[4:]))


def idle_section(runs):
    rows = []
    for key, name in TARGETS:
        for label in idle_labels(runs, key):
            r = runs[key][label]
            rows.append([name, fmt(get(r, "connect", "ok")), fmt(get(r, "connect", "per_s")),
                         fmt(get(r, "server", "rss_before_bytes", default=0) / 1048576, 1),
                         fmt(get(r, "server", "rss_end_bytes", default=0) / 1048576, 1),
                         fmt(get(r, "server", "rss_per_connection_bytes"))])
    return table(["target", "connections", "connect+auth /s", "RSS before MiB", "RSS held MiB",
                  "bytes / connection"], rows)


def storm_section(runs):
    rows = []
    seed = get(runs, "seed-node", "storm", "connect", "per_s")
    for _, name, r in each_target(runs, "storm"):
        rate = get(r, "connect", "per_s")
        rows.append([name, fmt(get(r, "connect", "ok")), fmt(get(r, "connect", "failed")), fmt(rate),
                     ratio(rate, seed), fmt(get(r, "connect", "latency", "p99_ms"), 1)])
    return table(["target", "connected", "failed", "connect+auth /s", "÷ seed", "p99 ms"], rows)


def store_section(runs):
    """The store alone (bench store), and for SQLite the bound it puts on one core beside the
    relay's socket work: 1 / (1/relay rate + store CPU per DM)."""
    rows = []
    relay = get(runs, "relay", "dm", "messages", "acked_per_s")
    for key, name, r in each_target(runs, "store"):
        rate = r.get("dms_per_s")
        cores = get(r, "cpu", "user_cores", default=0) + get(r, "cpu", "sys_cores", default=0)
        us = cores * 1e6 / rate if rate else None
        bound = 1 / (1 / relay + us / 1e6) if key == "chatd-sqlite" and relay and us else None
        rows.append([name, fmt(rate), fmt(us, 1), fmt(get(r, "cpu", "other_cores"), 2),
                     fmt(r.get("written_bytes_per_dm")), fmt(get(r, "latency_ms", "p99"), 1),
                     fmt(bound), ratio(bound, relay)])
    return table(["store alone", "DMs/s", "store CPU µs / DM", "other cores", "bytes written / DM",
                  "answer p99 ms", "one core with the relay's socket work: msg/s", "÷ relay"], rows)


def startup_section(results):
    path = os.path.join(results, "startup.json")
    if not os.path.exists(path):
        return "(not measured in this run)"
    with open(path) as f:
        data = json.load(f)
    rows = [[name, fmt(data[k].get("start_ms"), 1), fmt(data[k].get("rss_bytes", 0) / 1048576, 1)]
            for k, name in TARGETS if k in data]
    return table(["target", "start-up ms (exec → port open)", "idle RSS MiB"], rows)


def plot(runs, results, docs_dir):
    """Two PNGs: delivery p99 against offered load, RSS per connection against connections."""
    img = os.path.join(docs_dir, "img")
    os.makedirs(img, exist_ok=True)
    data_files = []
    for key, name in TARGETS:
        lat = os.path.join(results, key + ".latency.dat")
        with open(lat, "w") as f:
            for label in rate_labels(runs):
                p99 = get(runs, key, label, "latency", "delivery", "p99_ms")
                if p99 is not None:
                    f.write("%s %s\n" % (label[4:], p99))
        rss = os.path.join(results, key + ".rss.dat")
        with open(rss, "w") as f:
            for label in idle_labels(runs, key):
                r = runs[key][label]
                added = (get(r, "server", "rss_end_bytes", default=0) -
                         get(r, "server", "rss_before_bytes", default=0))
                f.write("%s %s\n" % (get(r, "connect", "ok"), added / 1048576))
        data_files.append((key, name, lat, rss))
    script = [
        'set terminal png size 900,500',
        'set output "%s"' % os.path.join(img, "latency.png"),
        'set title "delivery latency p99 against offered load (open loop, same run)"',
        'set xlabel "offered messages/s"', 'set ylabel "p99 ms"', 'set logscale y', 'set key outside right',
        'plot ' + ", ".join('"%s" using 1:2 with linespoints title "%s"' % (lat, name)
                            for _, name, lat, _ in data_files if os.path.getsize(lat)),
        'unset logscale y',
        'set output "%s"' % os.path.join(img, "rss.png"),
        'set title "server RSS added by idle authenticated connections"',
        'set xlabel "connections"', 'set ylabel "RSS added, MiB"', 'set key inside top left',
        'plot ' + ", ".join('"%s" using 1:2 with linespoints title "%s"' % (rss, name)
                            for _, name, _, rss in data_files if os.path.getsize(rss)),
    ]
    try:
        subprocess.run(["gnuplot"], input="\n".join(script), text=True, check=True)
        return True
    except (OSError, subprocess.CalledProcessError) as e:
        print("bench-report: gnuplot failed: %s" % e, file=sys.stderr)
        return False


BEGIN = "<!-- generated by scripts/bench-report.py: begin -->"
END = "<!-- generated by scripts/bench-report.py: end -->"
GENERATED = """
Results of `{results}`.

### Persisted DMs, closed loop (1000 connections, 4 in flight each)

{throughput}

### Delivery latency at fixed offered rates (open loop, 1000 connections)

{latency}

{plots}

### The store alone (`bench store`: no socket, WebSocket or JSON)

{store}

### Fan-out to one user's 100 connections

{fanout}

### Idle authenticated connections

{idle}

### Connect + authenticate storm

{storm}

### Start-up

{startup}

### Physical limits of this machine (bench/physical)

```
{physical}
```
"""


def main():
    results, output = sys.argv[1], sys.argv[2]
    runs = load(results)
    physical = ""
    phys_path = os.path.join(results, "physical.txt")
    if os.path.exists(phys_path):
        with open(phys_path) as f:
            physical = f.read().strip()
    plotted = plot(runs, results, os.path.dirname(output) or ".")
    text = GENERATED.format(
        results=results,
        throughput=throughput_section(runs),
        latency=latency_section(runs),
        fanout=fanout_section(runs),
        store=store_section(runs),
        idle=idle_section(runs),
        storm=storm_section(runs),
        startup=startup_section(results),
        physical=physical or "(not measured in this run)",
        plots=("![delivery p99 against offered load](img/latency.png)\n\n"
               "![server RSS added by idle connections](img/rss.png)") if plotted else "(gnuplot unavailable)",
    )
    text = BEGIN + "\n" + text.strip() + "\n" + END
    try:
        with open(output) as f:
            doc = f.read()
    except FileNotFoundError:
        doc = ""
    if BEGIN in doc and END in doc:
        doc = doc[:doc.index(BEGIN)] + text + doc[doc.index(END) + len(END):]
    else:
        doc = doc + "\n" + text + "\n"
    with open(output, "w") as f:
        f.write(doc)


if __name__ == "__main__":
    main()
