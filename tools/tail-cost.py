#!/usr/bin/env python3
"""tail-cost.py - server CPU per PATCH with and without an output tail
(issue 14), against the real server binary on loopback, one keep-alive
connection, one write at a time. CPU is utime+stime of the server process
(/proc/PID/stat) over each run, so a loaded machine changes it less than
wall time. Usage: tools/tail-cost.py SERVER_BIN [N [ROUNDS]]"""
import http.client, json, os, subprocess, sys, tempfile, time
BIN = sys.argv[1]
N = int(sys.argv[2]) if len(sys.argv) > 2 else 1500
ROUNDS = int(sys.argv[3]) if len(sys.argv) > 3 else 3
d = tempfile.mkdtemp(); pf = os.path.join(d, 'port')
p = subprocess.Popen([BIN, '--port', '0', '--port-file', pf, '--data-dir', os.path.join(d, 'data'), '--log-level', 'warn'], stderr=subprocess.DEVNULL)
while not os.path.exists(pf) or not open(pf).read().strip(): time.sleep(0.05)
c = http.client.HTTPConnection('127.0.0.1', int(open(pf).read()))
def req(m, path, body=None):
    c.request(m, path, body=json.dumps(body) if body is not None else None, headers={'Content-Type': 'application/json'})
    r = c.getresponse(); r.read(); return r.status
def cpu():
    f = open(f'/proc/{p.pid}/stat').read().split(')')[-1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf('SC_CLK_TCK')
line = 'x' * 200
req('POST', '/race', {'id': 'small', 'source': 'cmd', 'title': 't'})
req('POST', '/race', {'id': 'full', 'source': 'cmd', 'title': 't'})
for i in range(4): req('PATCH', '/race/full', {'output': [line] * 50})
cases = [('progress, race without a tail ', 'small', lambda i: {'progress': i % 100}),
         ('progress, race with a 40 KB tail', 'full', lambda i: {'progress': i % 100}),
         ('1 line appended to the 40 KB tail', 'full', lambda i: {'output': [f'{line}{i}']})]
res = {k[0]: [] for k in cases}
for r in range(ROUNDS):
    for label, rid, fn in cases:
        c0 = cpu()
        for i in range(N): assert req('PATCH', f'/race/{rid}', fn(i)) == 200
        res[label].append(1e6 * (cpu() - c0) / N)
for label, v in res.items():
    print(f'{label}: ' + ' / '.join(f'{x:.0f}' for x in v) + ' us server CPU per PATCH')
p.terminate(); p.wait()
subprocess.run(['rm', '-rf', d])
