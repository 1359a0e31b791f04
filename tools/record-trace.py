#!/usr/bin/env python3
"""Record one run of a real program as a progress trace (issue 17).

Runs COMMAND under a pseudo-terminal (xz -v, zstd --progress and git only
print progress bars to a terminal), reads everything it prints (split on
'\\r' and '\\n', so carriage-return bars count) and appends one run to
OUTFILE, at the program's own output cadence (nothing is resampled):

    run <k> start=<UTC> load1=<1-min load average> <note>
    <seconds since start> <percent>        one line per change of percent
    end <seconds since start at exit>

The first line of a new OUTFILE is "# job <name>: <command>".
--parse says how a line becomes a percent:
  nm          the first "[n/m]" (ninja) or a leading "n/m " (meson test)
  pct         the first "NN%" or "NN.N %" (xz -v)
  zstd        "Read: A MiB / B MiB" of zstd --progress (A / B)
  bytes:N     the first integer followed by " bytes" (dd), over N bytes
  git:P1,P2   git's "Phase name:  NN%" lines; phase k of n maps to
              [k/n, (k+1)/n), as a producer wrapping git would report it
Progress only goes forward within a run; a value below the last is
dropped (a phase's first line can repeat an earlier percent).

Usage: record-trace.py --out FILE --parse MODE [--note TEXT] -- COMMAND...
"""
import argparse
import datetime
import os
import pty
import re
import subprocess
import sys
import time

PAT_BRACKET = re.compile(rb"\[(\d+)/(\d+)\]")
PAT_LEAD = re.compile(rb"^\s*(\d+)/(\d+)\s")
PAT_PCT = re.compile(rb"(\d+(?:\.\d+)?)\s?%")
PAT_ZSTD = re.compile(rb"Read\s*:\s*([\d.]+)\s*(\w?i?B)?\s*/\s*([\d.]+)\s*(\w?i?B)")
PAT_BYTES = re.compile(rb"(\d+) bytes")
UNITS = {b"B": 1, b"KiB": 1 << 10, b"MiB": 1 << 20, b"GiB": 1 << 30}


def parser_for(mode):
    if mode == "nm":
        def f(line):
            m = PAT_BRACKET.search(line) or PAT_LEAD.search(line)
            if m and int(m.group(2)) > 0:
                return 100.0 * int(m.group(1)) / int(m.group(2))
            return None
        return f
    if mode == "pct":
        def f(line):
            m = PAT_PCT.search(line)
            return float(m.group(1)) if m else None
        return f
    if mode == "zstd":
        def f(line):
            m = PAT_ZSTD.search(line)
            if not m:
                return None
            a = float(m.group(1)) * UNITS.get(m.group(2) or m.group(4), 1)
            b = float(m.group(3)) * UNITS.get(m.group(4), 1)
            return 100.0 * a / b if b > 0 else None
        return f
    if mode.startswith("bytes:"):
        total = float(mode[6:])
        def f(line):
            m = PAT_BYTES.search(line)
            return 100.0 * int(m.group(1)) / total if m else None
        return f
    if mode.startswith("git:"):
        phases = [p.encode() for p in mode[4:].split(",")]
        def f(line):
            for k, name in enumerate(phases):
                if name in line:
                    m = PAT_PCT.search(line)
                    if m:
                        return 100.0 * (k + float(m.group(1)) / 100.0) / len(phases)
            return None
        return f
    sys.exit("unknown --parse mode: " + mode)


def next_run(path):
    if not os.path.exists(path):
        return 1
    with open(path) as f:
        return 1 + sum(1 for line in f if line.startswith("run "))


def main():
    ap = argparse.ArgumentParser(usage=__doc__)
    ap.add_argument("--out", required=True)
    ap.add_argument("--parse", required=True)
    ap.add_argument("--note", default="")
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    if not cmd:
        sys.exit(__doc__)
    parse = parser_for(a.parse)
    k = next_run(a.out)
    head = [] if k > 1 else ["# job %s: %s" % (os.path.basename(a.out), " ".join(cmd))]
    load1 = os.getloadavg()[0]
    start = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    head.append("run %d start=%s load1=%.2f %s" % (k, start, load1, a.note))
    rows = []
    master, slave = pty.openpty()
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=slave,
                            stderr=slave, close_fds=True)
    os.close(slave)
    last = -1.0
    buf = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the terminal's last writer closed it
            break
        if not chunk:
            break
        now = time.monotonic() - t0
        buf += chunk
        parts = re.split(rb"[\r\n]", buf)
        buf = parts.pop()
        for line in parts:
            pct = parse(line)
            if pct is None:
                continue
            pct = round(min(max(pct, 0.0), 100.0), 1)
            if pct > last:
                rows.append("%.3f %.1f" % (now, pct))
                last = pct
    rc = proc.wait()
    end = time.monotonic() - t0
    os.close(master)
    if rc != 0:
        sys.exit("%s exited %d; run not recorded" % (cmd[0], rc))
    with open(a.out, "a") as f:
        f.write("\n".join(head + rows + ["end %.3f" % end]) + "\n")
    print("%s run %d: %d reports, %.1f s" % (a.out, k, len(rows), end))


if __name__ == "__main__":
    main()
