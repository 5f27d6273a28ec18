#!/usr/bin/env python3
"""Minimal NATS request client over a raw socket, for run_seed.sh.

Owns: the checks the seed runner makes around the user's Go programs
(create streams, JetStream-publish fixtures, read stream/consumer info).
Promises: talks only to the given host:port, prints the reply payload on
stdout, exits non-zero on timeout, no-responders or a protocol -ERR. The
`nats` CLI is not packaged in Debian, hence this.

Usage:
  natsreq.py [--addr 127.0.0.1:4222] wait                 wait until the port accepts
  natsreq.py [--addr ...] req SUBJECT [PAYLOAD]           request, print reply
  natsreq.py [--addr ...] get SUBJECT PAYLOAD JSONPATH    request, print one field
"""
import json
import socket
import sys
import time


def connect(host, port, deadline):
    while True:
        try:
            s = socket.create_connection((host, port), timeout=1.0)
            s.settimeout(max(0.1, deadline - time.time()))
            return s
        except OSError:
            if time.time() > deadline:
                raise SystemExit("natsreq: cannot connect to %s:%d" % (host, port))
            time.sleep(0.05)


class Reader:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def _fill(self):
        d = self.sock.recv(65536)
        if not d:
            raise SystemExit("natsreq: server closed the connection")
        self.buf += d

    def line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        ln, self.buf = self.buf.split(b"\r\n", 1)
        return ln.decode("utf-8", "replace")

    def exact(self, n):
        while len(self.buf) < n + 2:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data


def request(addr, subject, payload, timeout=5.0):
    host, port = addr.rsplit(":", 1)
    deadline = time.time() + timeout
    s = connect(host, int(port), deadline)
    r = Reader(s)
    if not r.line().startswith("INFO "):
        raise SystemExit("natsreq: no INFO from server")
    inbox = "_INBOX.seedcheck%d" % int(time.time() * 1000)
    body = payload.encode()
    s.sendall(('CONNECT {"verbose":false,"pedantic":false,"headers":true,'
               '"no_responders":true,"protocol":1}\r\n').encode() +
              ("SUB %s 1\r\nPUB %s %s %d\r\n" % (inbox, subject, inbox, len(body))).encode() +
              body + b"\r\nPING\r\n")
    while True:
        ln = r.line()
        if ln == "PING":
            s.sendall(b"PONG\r\n")
        elif ln in ("PONG", "+OK"):
            continue
        elif ln.startswith("-ERR"):
            raise SystemExit("natsreq: server error: " + ln)
        elif ln.startswith("MSG "):
            n = int(ln.split()[-1])
            data = r.exact(n)
            s.close()
            return data.decode("utf-8", "replace")
        elif ln.startswith("HMSG "):
            parts = ln.split()
            hlen, total = int(parts[-2]), int(parts[-1])
            data = r.exact(total)
            hdr = data[:hlen].decode("utf-8", "replace")
            if " 503" in hdr.split("\r\n", 1)[0]:
                raise SystemExit("natsreq: no responders on " + subject)
            s.close()
            return data[hlen:].decode("utf-8", "replace")
        elif ln.startswith("INFO "):
            continue
        else:
            raise SystemExit("natsreq: unexpected line: " + ln)


def main(argv):
    addr = "127.0.0.1:4222"
    if len(argv) > 2 and argv[1] == "--addr":
        addr = argv[2]
        argv = argv[:1] + argv[3:]
    if len(argv) < 2:
        raise SystemExit(__doc__)
    cmd = argv[1]
    try:
        if cmd == "wait":
            host, port = addr.rsplit(":", 1)
            connect(host, int(port), time.time() + 10).close()
        elif cmd == "req":
            print(request(addr, argv[2], argv[3] if len(argv) > 3 else ""))
        elif cmd == "get":
            v = json.loads(request(addr, argv[2], argv[3]))
            for key in argv[4].split("."):
                v = v[key] if isinstance(v, dict) and key in v else None
            print(json.dumps(v) if isinstance(v, (dict, list)) else v)
        else:
            raise SystemExit(__doc__)
    except socket.timeout:
        raise SystemExit("natsreq: timed out waiting for a reply")


if __name__ == "__main__":
    main(sys.argv)
