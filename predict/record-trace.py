#!/usr/bin/env python3
"""Record a progress trace from a real tool's output.

Runs COMMAND, reads its stdout and stderr (merged, split on both '\\r' and
'\\n' so carriage-return progress bars count), and writes one line per
progress report: "<seconds since start> <percent>".  A report is the first
"[n/m]" (ninja) or "NN%"/"NN.N %" (xz -v, dd-style tools) on a line; only
changes in the percentage are written.  Used to make tests/data/progress-*.txt
for predict-eval --trace.

Usage: record-trace.py OUTFILE -- COMMAND [ARGS...]
"""
import re
import subprocess
import sys
import time

PAT_NM = re.compile(rb"\[(\d+)/(\d+)\]")
PAT_PCT = re.compile(rb"(\d+(?:\.\d+)?)\s?%")


def main(argv):
    if len(argv) < 3 or argv[1] != "--":
        sys.exit(__doc__)
    out, cmd = argv[0], argv[2:]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, bufsize=0)
    last = None
    buf = b""
    with open(out, "w") as f:
        f.write("# seconds percent; recorded from: %s\n" % " ".join(cmd))
        while True:
            chunk = proc.stdout.read(256)
            if not chunk:
                break
            buf += chunk
            parts = re.split(rb"[\r\n]", buf)
            buf = parts.pop()
            for line in parts:
                m = PAT_NM.search(line)
                if m and int(m.group(2)) > 0:
                    pct = 100.0 * int(m.group(1)) / int(m.group(2))
                else:
                    m = PAT_PCT.search(line)
                    if not m:
                        continue
                    pct = float(m.group(1))
                if pct != last:
                    f.write("%.3f %.1f\n" % (time.monotonic() - t0, pct))
                    last = pct
    sys.exit(proc.wait())


if __name__ == "__main__":
    main(sys.argv[1:])
