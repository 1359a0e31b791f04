#!/usr/bin/env python3
"""Server CPU per PATCH, one request at a time vs pipelined, on one
keep-alive connection (docs/HARDENING.md, "HTTP/1.1 pipelining").

    tools/pipeline-cpu.py PORT SERVER_PID [N] [DEPTH]

The server must already hold a race with id "pp" (POST /race). Prints
the server's user+system CPU per request (from /proc/PID/stat) for N
PATCHes sent one at a time, then N sent DEPTH per send.
"""
import os
import socket
import sys
import time


def main():
    port, pid = int(sys.argv[1]), int(sys.argv[2])
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 400
    depth = int(sys.argv[4]) if len(sys.argv) > 4 else 5
    host = f"Host: 127.0.0.1:{port}\r\n"

    def patch(i):
        body = '{"progress": %d}' % (i % 100)
        return (f"PATCH /race/pp HTTP/1.1\r\n{host}"
                "Content-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n{body}").encode()

    def cpu():
        f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")

    conn = socket.create_connection(("127.0.0.1", port), timeout=10)

    def read_replies(k):
        data = b""
        while data.count(b"HTTP/1.1 200") < k or not data.endswith(b"}"):
            more = conn.recv(65536)
            if not more:
                sys.exit("connection closed after %d replies" %
                         data.count(b"HTTP/1.1 "))
            data += more

    for per_send in (1, depth):
        c0, t0 = cpu(), time.time()
        for j in range(0, n, per_send):
            conn.sendall(b"".join(patch(j + i) for i in range(per_send)))
            read_replies(per_send)
        used = cpu() - c0
        print(f"{per_send} per send: {n} PATCH in {time.time() - t0:.2f} s, "
              f"server CPU {used:.2f} s = {used / n * 1000:.2f} ms each")


if __name__ == "__main__":
    main()
