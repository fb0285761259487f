#!/usr/bin/env python3
"""Reads bench/run's result directory (loadgen JSON, pgbench output and per-transaction
logs) and prints what bench/run needs:

  summarize.py half-rate DIR            half the best create-defect req/s of ours
  summarize.py half-rate-pgbench DIR    half the best pgbench tps
  summarize.py report DIR [--json FILE] [--concurrency N] [--quick 0|1]
                                        the table, and the JSON file

Of repeated runs (label.<n>) the one with the most requests/s is taken: on a shared
machine, interference only ever makes a run slower.
"""
import argparse
import glob
import json
import math
import os
import re
import sys


def load_loadgen(path):
    with open(path) as f:
        run = json.load(f)
    return {
        "label": run["label"],
        "rps": run["requests_per_second"],
        "p50_ms": run["latency_ms"]["p50"],
        "p90_ms": run["latency_ms"]["p90"],
        "p99_ms": run["latency_ms"]["p99"],
        "max_ms": run["latency_ms"]["max"],
        "succeeded": run["succeeded"],
        "failed": run["failed"],
        "raw": run,
    }


def percentile(sorted_values, p):
    """Value at rank ceil(p% of n), as the loadgen's histogram defines it."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(p / 100.0 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def load_pgbench(out_path):
    label = os.path.basename(out_path)[: -len(".out")]
    with open(out_path) as f:
        text = f.read()
    tps = re.search(r"^tps = ([0-9.]+)", text, re.M)
    failed = re.search(r"number of failed transactions: (\d+)", text)
    processed = re.search(r"number of transactions actually processed: (\d+)", text)
    latencies_us = []
    for log in glob.glob(os.path.join(os.path.dirname(out_path), label + ".log.d", "tx.*")):
        with open(log) as f:
            for line in f:
                fields = line.split()
                # client_id transaction_no time script_no time_epoch time_us [lag]; with
                # --rate, `time` counts from the scheduled start (includes the lag).
                if len(fields) >= 6 and fields[2].isdigit():
                    latencies_us.append(int(fields[2]))
    latencies_us.sort()
    return {
        "label": label,
        "rps": float(tps.group(1)) if tps else 0.0,
        "p50_ms": percentile(latencies_us, 50) / 1000.0,
        "p90_ms": percentile(latencies_us, 90) / 1000.0,
        "p99_ms": percentile(latencies_us, 99) / 1000.0,
        "max_ms": (latencies_us[-1] / 1000.0) if latencies_us else 0.0,
        "succeeded": int(processed.group(1)) if processed else len(latencies_us),
        "failed": int(failed.group(1)) if failed else 0,
        "raw": {"output": text},
    }


def best(runs):
    return max(runs, key=lambda r: r["rps"]) if runs else None


def runs_of(directory, prefix):
    """All runs labelled prefix.<n> (or exactly prefix)."""
    runs = []
    for path in sorted(glob.glob(os.path.join(directory, prefix + "*.json"))):
        name = os.path.basename(path)[: -len(".json")]
        if name == prefix or re.fullmatch(re.escape(prefix) + r"\.\d+", name):
            runs.append(load_loadgen(path))
    for path in sorted(glob.glob(os.path.join(directory, prefix + "*.out"))):
        name = os.path.basename(path)[: -len(".out")]
        if name == prefix or re.fullmatch(re.escape(prefix) + r"\.\d+", name):
            runs.append(load_pgbench(path))
    return runs


FULL_RATE_WINDOW_S = 0.1
FULL_RATE_SHARE = 0.9


def restart_recovery(directory, label):
    """B12 from LABEL.calls (plantmesh-loadgen --calls-log), LABEL.back (when the
    restarted server accepted a TCP connection) and LABEL.json (the target rate): the
    time from accepting again to the first successful call, and to the client's full
    rate, i.e. the end of the first 100 ms (sliding) window, after the server was back,
    in which calls succeeded at >= 90 % of the target rate. None when not run."""
    paths = {ext: os.path.join(directory, f"{label}.{ext}") for ext in ("calls", "back", "json")}
    if not all(os.path.exists(p) for p in paths.values()):
        return None
    with open(paths["back"]) as f:
        back = float(f.read().strip())
    with open(paths["json"]) as f:
        rate = json.load(f)["target_rate"]
    calls = []
    with open(paths["calls"]) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            issued, ended, code, _worker = line.split()
            calls.append((float(issued), float(ended), code))
    ok_ends = sorted(end for _, end, code in calls if code == "OK")
    after = [end for end in ok_ends if end >= back]
    before = [end for end in ok_ends if end < back]
    first = after[0] - back if after else float("inf")
    needed = math.ceil(FULL_RATE_SHARE * rate * FULL_RATE_WINDOW_S)
    full = float("inf")
    for i, end in enumerate(after):
        # Successes in (end - window, end]; `after` is sorted, so count backwards.
        j = i
        while j >= 0 and after[j] > end - FULL_RATE_WINDOW_S:
            j -= 1
        if i - j >= needed:
            full = end - back
            break
    failed = [(issued, code) for issued, _, code in calls if code != "OK"]
    codes = {}
    for _, code in failed:
        codes[code] = codes.get(code, 0) + 1
    return {
        "target_rate": rate,
        "down_ms": (back - before[-1]) * 1000 if before else float("nan"),
        "first_success_ms": first * 1000,
        "full_rate_ms": full * 1000,
        "failed_issued_before_back": sum(1 for issued, _ in failed if issued < back),
        "failed_issued_after_back": sum(1 for issued, _ in failed if issued >= back),
        "failed_codes": codes,
        "calls": len(calls),
    }


def half(value):
    return max(1, int(value / 2))


def ratio(ours, base):
    return ours / base if base else float("nan")


def rfc3339_seconds(text):
    """Unix seconds of a protobuf JSON timestamp (`2026-11-30T11:38:39.123456Z`)."""
    from datetime import datetime, timezone
    whole, _, fraction = text.rstrip("Z").partition(".")
    seconds = datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)
    return seconds.timestamp() + (float("0." + fraction) if fraction else 0.0)


def watch_recovery(directory, label):
    """B12 for a watch from LABEL.watch (each line `<arrival> <WatchDefectsResponse as
    JSON>`), LABEL.back and LABEL.calls (the writer's reports): the time from accepting
    again to the first event printed, and to the first event printed within 100 ms of
    its commit (live again); reported defects (OK calls) the watch never printed. None
    when not run."""
    paths = {ext: os.path.join(directory, f"{label}.{ext}") for ext in ("watch", "back", "calls")}
    if not all(os.path.exists(p) for p in paths.values()):
        return None
    with open(paths["back"]) as f:
        back = float(f.read().strip())
    arrivals, reported_ids = [], set()
    with open(paths["watch"]) as f:
        for line in f:
            arrival, _, body = line.partition(" ")
            event = json.loads(body).get("event", {})
            if event.get("change_type") == "CHANGE_TYPE_REPORTED":
                reported_ids.add(event.get("defect", {}).get("id"))
            arrivals.append((float(arrival), rfc3339_seconds(event["event_time"])))
    with open(paths["calls"]) as f:
        reported_ok = sum(1 for line in f if not line.startswith("#") and " OK " in line)
    after = sorted(a for a in arrivals if a[0] >= back)
    first = after[0][0] - back if after else float("inf")
    live = next((a - back for a, committed in after if committed >= back and a - committed <= 0.1),
                float("inf"))
    return {
        "first_event_ms": first * 1000,
        "live_ms": live * 1000,
        "events": len(arrivals),
        "reported_ok": reported_ok,
        "missed": max(0, reported_ok - len(reported_ids)),
    }


def ingest_runs(directory, prefix):
    """plantmesh-ingest results (bench/ingest_bench.cc) whose label starts with prefix."""
    out = []
    for path in sorted(glob.glob(os.path.join(directory, prefix + "*.json"))):
        with open(path) as f:
            try:
                out.append(json.load(f))
            except ValueError:
                continue
    return out


def ingest_rows(d, row):
    """B1-B3 rows; returns the runs chosen (the best of the repeats), by label."""
    chosen = {}

    def fastest(runs):
        return max(runs, key=lambda r: r["samples_per_second"]) if runs else None

    b1 = fastest(ingest_runs(d, "ingest.b1."))
    if b1 and "copy" in b1:
        chosen["ingest.b1"] = b1
        copy = b1["copy"]["rows_per_second"]
        rate = b1["samples_per_second"]
        row("B1 ingest, SDK writer, mTLS, batch 500", "samples/s", rate, copy,
            ">= 0.80 x raw COPY", ratio(rate, copy) >= 0.80)
        row("B1 ingest, SDK writer, mTLS, batch 500", "samples/s", rate, None,
            ">= 150,000", rate >= 150_000)
    sweep = {}
    for batch in (1, 10, 100, 1000):
        run = fastest(ingest_runs(d, f"ingest.b2.n{batch}."))
        if run:
            sweep[batch] = run
            chosen[f"ingest.b2.{batch}"] = run
    if sweep:
        plateau = max(r["samples_per_second"] for r in sweep.values())
        for batch, run in sorted(sweep.items()):
            rate = run["samples_per_second"]
            goal = ">= 0.90 x plateau" if batch >= 100 else "- (below 100/msg)"
            row(f"B2 ingest, {batch} per message", "samples/s", rate, plateau, goal,
                ratio(rate, plateau) >= 0.90 if batch >= 100 else None)
    alone = fastest(ingest_runs(d, "ingest.b11.alone."))
    tailed = fastest(ingest_runs(d, "ingest.b11.tails."))
    if alone and tailed and "tails" in tailed:
        chosen["ingest.b11.alone"] = alone
        chosen["ingest.b11.tails"] = tailed
        t = tailed["tails"]
        name = f"B11 ingest with {t['tails']} live tails"
        row(name, "samples/s", tailed["samples_per_second"], alone["samples_per_second"],
            ">= 0.85 x B1 alone",
            ratio(tailed["samples_per_second"], alone["samples_per_second"]) >= 0.85)
        # Judged on the commit (PostgreSQL's commit timestamp of the batch's transaction)
        # when the run has it, else on the writer's reading of the acknowledgement.
        basis = "commit" if "commit_to_screen_ms" in t else "ack"
        p99 = t[f"{basis}_to_screen_ms"]["p99"]
        row(name, f"{basis}->screen p99 ms", p99, None, "<= 100 ms, none missed",
            p99 <= 100 and t["missed"] == 0 and t["ended_early"] == 0,
            note=f"{t['receipts']} receipts, {t['missed']} missed")
        if basis == "commit":
            row(name, "ack->screen p99 ms", t["ack_to_screen_ms"]["p99"], None,
                "- (early receipts count 0)", None)
    plain = fastest(ingest_runs(d, "ingest.b3.plain."))
    tls = fastest(ingest_runs(d, "ingest.b3.tls."))
    if plain and tls:
        chosen["ingest.b3.plain"] = plain
        chosen["ingest.b3.tls"] = tls
        row("B3 ingest, mTLS vs --insecure", "samples/s", tls["samples_per_second"],
            plain["samples_per_second"], ">= 0.90 x insecure",
            ratio(tls["samples_per_second"], plain["samples_per_second"]) >= 0.90)
    return chosen


def tail_line(t):
    """B11's tails in one line (plantmesh-ingest --tails)."""
    def figures(name):
        m = t[name]
        return (f"p50 {m['p50']:.1f}, p95 {m['p95']:.1f}, p99 {m['p99']:.1f}, "
                f"max {m['max']:.1f} ms")
    text = (f"{t['tails']} tails x {t['machines_per_tail']} machines on {t['connections']} "
            f"connections: {t['receipts']} receipts ({t['receipts_per_second']:.0f}/s) in "
            f"{t.get('messages', 0)} messages, "
            f"{t['missed']} missed, {t['ended_early']} tails ended early, "
            f"{t['duplicates']} duplicates, {t['unexpected']} unexpected; ")
    if "commit_to_screen_ms" in t:
        text += f"commit->screen {figures('commit_to_screen_ms')}"
        if "commit_to_published_ms" in t:
            text += (f" = commit->Redis (outbox relay) {figures('commit_to_published_ms')} + "
                     f"Redis->screen {figures('published_to_screen_ms')}")
        text += "; "
    share = t["before_ack"] / t["receipts"] if t["receipts"] else 0.0
    text += (f"ack->screen {figures('ack_to_screen_ms')} ({share:.0%} of the receipts came "
             f"before the writer read the batch's acknowledgement, counted 0: the "
             f"acknowledgement came p50 {t['ack_after_receipt_ms']['p50']:.1f} / max "
             f"{t['ack_after_receipt_ms']['max']:.1f} ms after them)")
    return text


def report(args):
    d = args.dir
    rows = []

    def row(scenario, unit, ours, base, goal_text, met, note=""):
        rows.append({
            "scenario": scenario, "unit": unit,
            "ours": ours, "baseline": base,
            "ratio": ratio(ours, base) if base is not None else None,
            "goal": goal_text, "met": met, "note": note,
        })

    ingest = ingest_rows(d, row)

    chosen = {}
    for channels in ("per-worker", "shared"):
        bare = best(runs_of(d, f"b4.bare.{channels}"))
        ours = best(runs_of(d, f"b4.ours.{channels}"))
        if not bare or not ours:
            continue
        chosen[f"b4.bare.{channels}"] = bare
        chosen[f"b4.ours.{channels}"] = ours
        r = ratio(ours["rps"], bare["rps"])
        row(f"B4 whoami, {channels} channels", "req/s", ours["rps"], bare["rps"],
            ">= 0.90 x bare", r >= 0.90)
        r = ratio(ours["p99_ms"], bare["p99_ms"])
        row(f"B4 whoami, {channels} channels", "p99 ms", ours["p99_ms"], bare["p99_ms"],
            "<= 1.20 x bare", r <= 1.20)

    ours_max = best(runs_of(d, "b5.ours.max"))
    pg_max = best(runs_of(d, "b5.pgbench.max"))
    if ours_max and pg_max:
        chosen["b5.ours.max"] = ours_max
        chosen["b5.pgbench.max"] = pg_max
        r = ratio(ours_max["rps"], pg_max["rps"])
        row("B5 create-defect, max load", "tx/s", ours_max["rps"], pg_max["rps"],
            ">= 0.60 x pgbench", r >= 0.60)
        row("B5 create-defect, max load", "p99 ms", ours_max["p99_ms"], pg_max["p99_ms"],
            "-", None)
    ours_half = best(runs_of(d, "b5.ours.half"))
    pg_half = best(runs_of(d, "b5.pgbench.half"))
    if ours_half:
        chosen["b5.ours.half"] = ours_half
        if pg_half:
            chosen["b5.pgbench.half"] = pg_half
        row(f"B5 create-defect, half load ({ours_half['raw']['target_rate']:.0f}/s open loop)",
            "p99 ms", ours_half["p99_ms"], pg_half["p99_ms"] if pg_half else None,
            "<= 5 ms", ours_half["p99_ms"] <= 5.0,
            note=f"achieved {ours_half['rps']:.0f}/s")

    fanout_path = os.path.join(d, "b10.fanout.json")
    if os.path.exists(fanout_path):
        with open(fanout_path) as f:
            fanout = json.load(f)
        name = f"B10 fan-out, {fanout['watchers']} watchers, {fanout['rate']:.0f}/s"
        row(name, "p99 ms", fanout["commit_to_last_watcher_p99_ms"], None,
            "<= 50 ms commit -> last watcher", fanout["commit_to_last_watcher_p99_ms"] <= 50,
            note=f"{fanout['changes']} changes")
        row(name, "threads", fanout["server_threads"], None, "<= 64", fanout["server_threads"] <= 64)
        row(name, "Redis conns", fanout["redis_connections"], None, "<= 4",
            0 <= fanout["redis_connections"] <= 4)
        row(name, "RSS MiB", fanout["server_rss_mib"], None, "<= 300", fanout["server_rss_mib"] <= 300)
        # Load-independent beside the p99: CPU-seconds per 1,000 delivered changes.
        if "server_cpu_s_per_1000_changes" in fanout:
            row(name, "server CPU s/1k changes", fanout["server_cpu_s_per_1000_changes"], None,
                "-", None,
                note=f"{fanout['changes_delivered']} changes in {fanout['messages_delivered']} "
                f"messages (up to {fanout['changes_per_response']} a message)")
            row(name, "client CPU s/1k changes", fanout["client_cpu_s_per_1000_changes"], None,
                "-", None, note="plantmesh-fanout itself (writer included)")
        chosen_fanout = fanout
    else:
        chosen_fanout = None

    recoveries = {}
    for channels in ("per-worker", "shared"):
        label = f"b12.sdk.{channels}"
        figures = restart_recovery(d, label)
        if figures is None:
            continue
        recoveries[label] = figures
        name = f"B12 restart, SDK {channels} channels, {figures['target_rate']:.0f}/s"
        row(name, "first ok ms", figures["first_success_ms"], None, "<= 500 ms from accepting",
            figures["first_success_ms"] <= 500)
        row(name, "full rate ms", figures["full_rate_ms"], None, "<= 500 ms from accepting",
            figures["full_rate_ms"] <= 500,
            note=f"{figures['failed_issued_after_back']} failed issued after")

    python = restart_recovery(d, "b12.python")
    if python is not None:
        recoveries["b12.python"] = python
        name = f"B12 restart, Python client, {python['target_rate']:.0f}/s"
        row(name, "first ok ms", python["first_success_ms"], None, "<= 500 ms from accepting",
            python["first_success_ms"] <= 500)
        row(name, "full rate ms", python["full_rate_ms"], None, "<= 500 ms from accepting",
            python["full_rate_ms"] <= 500)

    watch = watch_recovery(d, "b12.plantctl")
    if watch is not None:
        recoveries["b12.plantctl"] = watch
        name = "B12 restart, plantctl watch, 50 reports/s"
        row(name, "first event ms", watch["first_event_ms"], None, "<= 500 ms from accepting",
            watch["first_event_ms"] <= 500)
        row(name, "live ms", watch["live_ms"], None, "<= 500 ms, none missed",
            watch["live_ms"] <= 500 and watch["missed"] == 0,
            note=f"{watch['missed']} of {watch['reported_ok']} reports missed")

    failures = {label: run["failed"] for label, run in chosen.items() if run["failed"]}

    header = ("scenario", "metric", "ours", "baseline", "ratio", "goal", "met?")
    lines = []
    for r in rows:
        lines.append((
            r["scenario"], r["unit"],
            f"{r['ours']:.4f}" if "CPU" in r["unit"] else
            (f"{r['ours']:.2f}" if r["unit"].endswith("ms") else f"{r['ours']:.0f}"),
            "-" if r["baseline"] is None else
            (f"{r['baseline']:.2f}" if r["unit"].endswith("ms") else f"{r['baseline']:.0f}"),
            "-" if r["ratio"] is None or math.isnan(r["ratio"]) else f"{r['ratio']:.2f}",
            r["goal"],
            "-" if r["met"] is None else ("yes" if r["met"] else "NO"),
        ))
    widths = [max(len(str(x)) for x in col) for col in zip(header, *lines)]
    fmt = "  ".join("{:<%d}" % w for w in widths)
    print()
    print(f"PlantMesh bench, concurrency {args.concurrency}"
          + (" (--quick: smoke run, figures not judged)" if args.quick else ""))
    print(fmt.format(*header))
    print(fmt.format(*["-" * w for w in widths]))
    for line in lines:
        print(fmt.format(*line))
    for label, run in sorted(chosen.items()):
        print(f"  {label}: {run['rps']:.0f}/s, p50 {run['p50_ms']:.2f} ms, "
              f"p90 {run['p90_ms']:.2f} ms, p99 {run['p99_ms']:.2f} ms, max {run['max_ms']:.2f} ms, "
              f"{run['succeeded']} ok, {run['failed']} failed")
    for label, f in sorted(recoveries.items()):
        if "first_event_ms" in f:
            print(f"  {label}: first event {f['first_event_ms']:.1f} ms after the server was "
                  f"back, live (printed within 100 ms of its commit) {f['live_ms']:.1f} ms; "
                  f"{f['events']} events printed, {f['missed']} of {f['reported_ok']} "
                  f"acknowledged reports missed")
            continue
        print(f"  {label}: server accepting again {f['down_ms']:.0f} ms after the last success "
              f"before the kill; first success {f['first_success_ms']:.1f} ms, full rate "
              f"({FULL_RATE_SHARE:.0%} of {f['target_rate']:.0f}/s over {FULL_RATE_WINDOW_S * 1000:.0f} ms) "
              f"{f['full_rate_ms']:.1f} ms after; {f['failed_issued_before_back']} calls issued "
              f"before failed, {f['failed_issued_after_back']} issued after ({f['failed_codes']})")
    def cpu_seconds(value):
        # null: the process was not given, or ended during the run
        return "n/a" if value is None else f"{value:.1f}"

    for label, run in sorted(ingest.items()):
        cpu = run["cpu_s"]
        line = (f"  {label}: {run['samples_per_second']:.0f} samples/s ({run['samples']} in "
                f"{run['elapsed_s']:.1f} s, batch {run['batch']}, {run['writers']} writers, "
                f"{'mTLS' if run['tls'] else 'plaintext'}); CPU s: server "
                f"{cpu_seconds(cpu['server'])}, load generator {cpu_seconds(cpu['loadgen'])}, "
                f"PostgreSQL {cpu_seconds(cpu['postgres'])}")
        if "acknowledged_after_s" in run:
            line += (f"; last acknowledgement at {run['acknowledged_after_s']:.1f} s, "
                     f"{run['rollup_pending_at_close']} batches left to roll up then")
        if "copy" in run:
            c = run["copy"]
            line += (f"; raw COPY {c['rows_per_second']:.0f} rows/s ({c['elapsed_s']:.2f} s; CPU s: "
                     f"load generator {cpu_seconds(c['cpu_s']['loadgen'])}, PostgreSQL "
                     f"{cpu_seconds(c['cpu_s']['postgres'])})")
        print(line)
        if "tails" in run:
            print("    " + tail_line(run["tails"]))
    if failures:
        print(f"  requests failed: {failures}")

    if args.json:
        document = {
            "concurrency": args.concurrency,
            "quick": bool(args.quick),
            "rows": rows,
            "fanout": chosen_fanout,
            "restart_recovery": recoveries,
            "ingest": ingest,
            "runs": {label: {k: v for k, v in run.items() if k != "raw"} | {"detail": run["raw"]}
                     for label, run in chosen.items()},
            "all_runs": sorted(os.path.basename(p) for p in glob.glob(os.path.join(d, "*"))
                               if p.endswith((".json", ".out"))),
        }
        with open(args.json, "w") as f:
            json.dump(document, f, indent=2)
        print(f"  JSON written to {args.json}")
    return 0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["half-rate", "half-rate-pgbench", "report"])
    parser.add_argument("dir")
    parser.add_argument("--json")
    parser.add_argument("--concurrency", type=int, default=0)
    parser.add_argument("--quick", type=int, default=0)
    args = parser.parse_args()
    if args.command == "half-rate":
        run = best(runs_of(args.dir, "b5.ours.max"))
        print(half(run["rps"] if run else 2))
        return 0
    if args.command == "half-rate-pgbench":
        run = best(runs_of(args.dir, "b5.pgbench.max"))
        print(half(run["rps"] if run else 2))
        return 0
    return report(args)


if __name__ == "__main__":
    sys.exit(main())
