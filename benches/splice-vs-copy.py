#!/usr/bin/env python3
"""Would splice(2) make uploads cheaper? Measures a receiver's CPU per GiB
for the two ways an upload can reach its file, on this machine's kernel and
file system, side by side:

  copy    recv into a 256 KiB buffer, then write it (what ftpshare does)
  splice  splice socket -> pipe (1 MiB), then pipe -> file: no copy
          through user space

A sender process streams SIZE bytes from the page cache (sendfile) over
loopback; the two receivers take turns, ROUNDS times each. The file is
written in DIR (default: the current directory), which should be on the
file system uploads go to. Standard library only (Linux, Python 3.10+).

    python3 benches/splice-vs-copy.py [ROUNDS=5] [DIR=.] [SIZE_MIB=1024]

Pin it like the side-by-side harness for repeatable figures:
    taskset -c 0 python3 benches/splice-vs-copy.py
"""
import fcntl
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 5
DIR = sys.argv[2] if len(sys.argv) > 2 else "."
SIZE = (int(sys.argv[3]) if len(sys.argv) > 3 else 1024) << 20
F_SETPIPE_SZ = 1031


def sender(port, src):
    # A separate process, so that only the receiver's CPU is measured.
    code = (
        "import socket, sys\n"
        f"s = socket.create_connection(('127.0.0.1', {port}))\n"
        f"s.sendfile(open({src!r}, 'rb'))\n"
        "s.close()\n"
    )
    return subprocess.Popen([sys.executable, "-c", code])


def receive(mode, conn, out):
    n = 0
    if mode == "copy":
        buf = bytearray(256 << 10)
        view = memoryview(buf)
        while k := conn.recv_into(buf):
            os.write(out, view[:k])
            n += k
        return n
    r, w = os.pipe()
    fcntl.fcntl(w, F_SETPIPE_SZ, 1 << 20)
    try:
        while k := os.splice(conn.fileno(), w, 1 << 20, flags=os.SPLICE_F_MOVE):
            left = k
            while left:
                left -= os.splice(r, out, left, flags=os.SPLICE_F_MOVE)
            n += k
    finally:
        os.close(r)
        os.close(w)
    return n


def one(mode, src, work):
    with socket.socket() as ls:
        ls.bind(("127.0.0.1", 0))
        ls.listen(1)
        p = sender(ls.getsockname()[1], src)
        conn, _ = ls.accept()
    path = os.path.join(work, f"received-{mode}.bin")
    out = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    cpu, wall = time.process_time(), time.perf_counter()
    with conn:
        n = receive(mode, conn, out)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    os.close(out)
    os.unlink(path)
    p.wait()
    if n != SIZE:
        sys.exit(f"{mode}: received {n} bytes of {SIZE}")
    return cpu * (1 << 30) / SIZE, SIZE / wall / 1e6


def main():
    with tempfile.TemporaryDirectory(dir=DIR, prefix="splice-bench-") as work:
        src = os.path.join(work, "source.bin")
        with open(src, "wb") as f:
            for _ in range(SIZE >> 20):
                f.write(os.urandom(1 << 20))
        results = {"copy": [], "splice": []}
        for _ in range(ROUNDS):
            for mode in results:
                results[mode].append(one(mode, src, work))
    print(f"receiver CPU per GiB, median of {ROUNDS} rounds of {SIZE >> 20} MiB (lower is better):")
    for mode, samples in results.items():
        cpu = statistics.median(s[0] for s in samples)
        spread = max(s[0] for s in samples) - min(s[0] for s in samples)
        rate = statistics.median(s[1] for s in samples)
        print(f"  {mode:6}  {cpu:.3f} s/GiB (spread {spread:.3f})  {rate:,.0f} MB/s")


if __name__ == "__main__":
    main()
