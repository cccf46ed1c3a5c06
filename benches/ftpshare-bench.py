#!/usr/bin/env python3
"""Benchmark ftpshare on its own: no peer servers, nothing to install.

Starts the release binary on 127.0.0.1 once per round, runs transfer workloads
against it with Python's ftplib and prints a Markdown table of medians, spreads
and the server's CPU time. Standard library only; traffic stays on 127.0.0.1.
The client shares the machine with the server, so rates are what this client
gets, not the server's ceiling. benches/ftpbench.sh is the side-by-side run.
"""
import argparse
import ftplib
import hashlib
import io
import json
import os
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKLOADS = ["small", "retr", "stor", "tls_retr", "tls_stor"]
SMALL_SIZE = 16 * 1024
CHUNK = 1 << 20  # big socket reads and writes keep the Python client's share small
GIB = 1 << 30
CLK_TCK = os.sysconf("SC_CLK_TCK")


class BenchError(Exception):
    """A wrong result or a broken server: reported with exit 1, never a figure."""


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def parse_size(text):
    # K, M, G are binary, so that --size 256M is the 256 MiB of the README.
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    t = text.strip().upper().removesuffix("IB").removesuffix("B")
    mult = units.get(t[-1:], 1)
    try:
        return int(float(t[:-1] if mult > 1 else t) * mult)
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad size {text!r} (examples: 256M, 1G, 4096)")


def human_size(n):
    for unit, div in (("GiB", GIB), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n % div == 0:
            return f"{n // div} {unit}"
    return f"{n} B"


def fmt(x):
    return f"{x:,.0f}" if x >= 100 else f"{x:,.1f}" if x >= 10 else f"{x:,.2f}"


class Server:
    """One ftpshare process per round, so that no round inherits another's state."""

    def __init__(self, binary, root, workdir, tls, name):
        self.out_path = os.path.join(workdir, f"{name}.jsonl")
        self.err_path = os.path.join(workdir, f"{name}.stderr")
        cmd = [binary, "--json", "--write", "--bind", "127.0.0.1", "--port", "0",
               "--timeout", "0", "--no-qr", root] + (["--tls"] if tls else [])
        # Stdout goes to a file, not a pipe: event lines can then never block
        # the server while this script is busy being a client.
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        ready = self._wait_ready()
        self.port, self.user, self.password = ready["port"], ready["user"], ready["password"]

    def _wait_ready(self):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.proc.poll() is None:
            with open(self.out_path, "rb") as f:
                line = f.readline()
            if line.endswith(b"\n"):  # a whole line, not one still being written
                try:
                    event = json.loads(line)
                except ValueError:
                    event = {}
                if event.get("event") == "ready":
                    return event
                break  # the first line is something else: fail with the stderr
            time.sleep(0.02)
        self.stop()
        with open(self.err_path, errors="replace") as f:
            tail = f.read()[-1500:]
        raise BenchError(f"the server did not report ready (exit {self.proc.returncode}):\n{tail}")

    def cpu(self):
        # utime + stime (fields 14 and 15) include all the process's threads, in
        # ticks of 1/CLK_TCK s: tiny runs read coarse. The command name may hold
        # spaces, hence the split after its ')'.
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def stop(self):
        """SIGTERM and wait; returns the events that point at a problem."""
        problems = []
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                problems.append({"event": "bench", "message": "alive 10 s after SIGTERM, killed"})
        if self.proc.returncode != 0:  # SIGTERM is a normal stop: exit status 0
            problems.append({"event": "bench", "message": f"exit status {self.proc.returncode}"})
        with open(self.out_path, errors="replace") as f:
            for line in f:
                try:
                    ev = json.loads(line)
                except ValueError:
                    ev = {"event": "not JSON: " + line.strip()}
                name = ev.get("event", "")
                if (name.endswith("_failed") or name in ("warning", "refused")
                        or name.startswith("not JSON") or ev.get("reason") == "error"):
                    problems.append(ev)
        return problems


class ReuseFTP_TLS(ftplib.FTP_TLS):
    # Data connections resume the control connection's TLS session: a cheaper
    # handshake, and what servers in strict mode (--require-tls-reuse) demand.
    reused = None

    def ntransfercmd(self, cmd, rest=None):
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:
            conn = self.context.wrap_socket(conn, server_hostname=self.host,
                                            session=self.sock.session)
            self.reused = conn.session_reused
        return conn, size


def connect(server, tls):
    if tls:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False  # a fresh self-signed certificate each round
        ctx.verify_mode = ssl.CERT_NONE
        ftp = ReuseFTP_TLS(context=ctx, timeout=60)
    else:
        ftp = ftplib.FTP(timeout=60)
    ftp.connect("127.0.0.1", server.port)
    ftp.login(server.user, server.password)  # FTP_TLS sends AUTH TLS first
    if tls:
        ftp.prot_p()
    ftp.voidcmd("TYPE I")
    return ftp


def close_data(conn):
    # TLS data connections end with close_notify both ways, as ftplib does:
    # without it the server cannot tell a whole upload from a cut-off one.
    if isinstance(conn, ssl.SSLSocket):
        conn.unwrap()
    conn.close()


def run_retr(server, fx, tls):
    # Received into one buffer and hashed after the clock stops, so that the
    # client does as little as it can while the transfer is measured.
    view = memoryview(bytearray(fx["size"]))
    ftp = connect(server, tls)
    cpu0, t0 = server.cpu(), time.perf_counter()
    conn, _ = ftp.ntransfercmd("RETR big.bin")
    got = 0
    while got < len(view) and (n := conn.recv_into(view[got:got + CHUNK])):
        got += n
    extra = len(conn.recv(1)) if got == len(view) else 0  # must be at EOF by now
    close_data(conn)
    ftp.voidresp()
    t1, cpu1 = time.perf_counter(), server.cpu()
    ftp.quit()
    if got != len(view) or extra:
        raise BenchError(f"RETR: {got}{' and more' if extra else ''} bytes, expected {len(view)}")
    if hashlib.sha256(view).hexdigest() != fx["sha256"]:
        raise BenchError("RETR: the sha256 of the received bytes differs from the file's")
    return {"seconds": t1 - t0, "server_cpu_s": cpu1 - cpu0,
            "tls_session_reused": getattr(ftp, "reused", None)}


def run_stor(server, fx, tls):
    name = "upload.bin"
    view = memoryview(fx["data"])
    ftp = connect(server, tls)
    cpu0, t0 = server.cpu(), time.perf_counter()
    conn, _ = ftp.ntransfercmd(f"STOR {name}")
    for off in range(0, len(view), CHUNK):
        conn.sendall(view[off:off + CHUNK])
    close_data(conn)
    ftp.voidresp()  # the 226 says the file is stored
    t1, cpu1 = time.perf_counter(), server.cpu()
    ftp.quit()
    path, h = os.path.join(fx["root"], name), hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            h.update(block)
    os.remove(path)
    if h.hexdigest() != fx["sha256"]:
        raise BenchError("STOR: the sha256 of the stored file differs from what was sent")
    return {"seconds": t1 - t0, "server_cpu_s": cpu1 - cpu0,
            "tls_session_reused": getattr(ftp, "reused", None)}


def run_small(server, fx, concurrency, count):
    # One barrier, passed twice: when every client has logged in (logins are not
    # measured) and when every client has uploaded, so both halves get a time.
    barrier = threading.Barrier(concurrency + 1)
    errors = []

    def client(k):
        try:
            ftp = connect(server, False)
            barrier.wait()
            for i in range(count):
                ftp.storbinary(f"STOR s{k}-{i}.bin", io.BytesIO(fx["small"][i]))
            barrier.wait()
            for i in range(count):
                parts = []
                ftp.retrbinary(f"RETR s{k}-{i}.bin", parts.append)
                if b"".join(parts) != fx["small"][i]:
                    errors.append(f"client {k}: s{k}-{i}.bin came back different")
            ftp.quit()
        except threading.BrokenBarrierError:
            pass  # another client failed and said why
        except Exception as e:
            errors.append(f"client {k}: {e!r}")
            barrier.abort()  # or everyone else waits for this client forever

    threads = [threading.Thread(target=client, args=(k,)) for k in range(concurrency)]
    for t in threads:
        t.start()
    try:
        barrier.wait(timeout=60)
        cpu0, t0 = server.cpu(), time.perf_counter()
        barrier.wait(timeout=600)
        half = time.perf_counter()
    except threading.BrokenBarrierError:
        errors.append("the clients did not all get through")
    for t in threads:
        t.join()
    t1, cpu1 = time.perf_counter(), server.cpu()
    for name in os.listdir(fx["root"]):
        if name.startswith("s") and name.endswith(".bin"):
            os.remove(os.path.join(fx["root"], name))
    if errors:
        raise BenchError("small: " + "; ".join(errors[:5]))
    return {"seconds": t1 - t0, "upload_s": half - t0, "download_s": t1 - half,
            "server_cpu_s": cpu1 - cpu0}


def measure(workload, server, fx, args):
    """One sample: (rate, its unit, server CPU per unit of work, that unit, raw figures)."""
    if workload == "small":
        raw = run_small(server, fx, args.concurrency, args.small_files)
        raw["files"] = files = 2 * args.concurrency * args.small_files  # ups + downs
        cpu = raw["server_cpu_s"] * 1000 / files
        return files / raw["seconds"], "files/s", cpu, "s/1000 files", raw
    run = run_retr if workload.endswith("retr") else run_stor
    raw = run(server, fx, workload.startswith("tls_"))
    raw["bytes"] = args.size
    cpu = raw["server_cpu_s"] * GIB / args.size
    return args.size / raw["seconds"] / 1e6, "MB/s", cpu, "s/GiB", raw


def make_fixture(root, args, workloads):
    fx = {"root": root}
    if workloads != ["small"]:
        # Random bytes, so that nothing on the way can compress them.
        log(f"writing a {human_size(args.size)} test file")
        h, data = hashlib.sha256(), bytearray()
        with open(os.path.join(root, "big.bin"), "wb") as f:
            for off in range(0, args.size, CHUNK):
                block = os.urandom(min(CHUNK, args.size - off))
                f.write(block)
                h.update(block)
                data += block
        fx.update(size=args.size, sha256=h.hexdigest(), data=data)
    fx["small"] = [os.urandom(SMALL_SIZE) for _ in range(args.small_files)]
    return fx


def label(w, args):
    if w == "small":
        return f"small: {args.concurrency} clients × {args.small_files} × 16 KiB, up + down"
    tls = "FTPS " if w.startswith("tls_") else ""
    return f"{tls}{w.removeprefix('tls_')} {human_size(args.size)}"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bin", default=os.path.join(REPO, "target", "release", "ftpshare"),
                   help="the ftpshare binary [target/release/ftpshare]")
    p.add_argument("--size", type=parse_size, default=parse_size("256M"),
                   help="file size for retr and stor; K, M, G = KiB, MiB, GiB [256M]")
    p.add_argument("--small-files", type=int, default=100, help="files per client in small [100]")
    p.add_argument("--concurrency", type=int, default=8, help="clients in small [8]")
    p.add_argument("--repeat", type=int, default=3, help="rounds of each workload [3]")
    p.add_argument("--workloads", default=",".join(WORKLOADS), help="[%(default)s]")
    p.add_argument("--json", metavar="FILE", help="write every sample to FILE")
    args = p.parse_args()
    workloads = [w for w in args.workloads.split(",") if w]
    if not workloads or set(workloads) - set(WORKLOADS):
        p.error(f"--workloads takes some of {','.join(WORKLOADS)}")
    if min(args.size, args.small_files, args.concurrency, args.repeat) < 1:
        p.error("--size, --small-files, --concurrency and --repeat must be at least 1")
    if not (os.path.isfile(args.bin) and os.access(args.bin, os.X_OK)):
        print(f"error: no ftpshare binary at {args.bin}; run `cargo build --release` first",
              file=sys.stderr)
        sys.exit(2)
    version = subprocess.run([args.bin, "--version"], capture_output=True, text=True).stdout.strip()

    samples, problems = [], 0
    with tempfile.TemporaryDirectory(prefix="ftpshare-bench-") as work:
        root = os.path.join(work, "root")
        os.mkdir(root)
        fx = make_fixture(root, args, workloads)
        try:
            # Rounds go A B C, A B C, ... so that drift of the machine touches every workload.
            for rnd in range(1, args.repeat + 1):
                for w in workloads:
                    server = Server(args.bin, root, work, w.startswith("tls_"), f"{w}-{rnd}")
                    try:
                        value, unit, cpu, cpu_unit, raw = measure(w, server, fx, args)
                    finally:  # the server's complaints are shown even when the round failed
                        found = server.stop()
                        for ev in found:
                            log(f"  server, {w} round {rnd}: {json.dumps(ev)}")
                    problems += len(found)
                    halves = ""
                    if w == "small":
                        n = raw["files"] / 2
                        halves = (f" (uploads {fmt(n / raw['upload_s'])}/s, "
                                  f"downloads {fmt(n / raw['download_s'])}/s)")
                    log(f"{w} round {rnd}/{args.repeat}: {fmt(value)} {unit}{halves}, "
                        f"server CPU {cpu:.3f} {cpu_unit}")
                    samples.append({"workload": w, "round": rnd, "value": value, "unit": unit,
                                    "server_cpu": cpu, "server_cpu_unit": cpu_unit,
                                    "server_problems": found, **raw})
        except (BenchError, ftplib.Error, OSError, EOFError) as e:
            log(f"error: {e}" if isinstance(e, BenchError) else f"error: {e!r}")
            sys.exit(1)

    print(f"{version}, {os.cpu_count()} CPUs, median of {args.repeat} round(s), "
          f"{time.strftime('%Y-%m-%d')}\n")
    print("| workload | median | spread (min–max) | server CPU (median) |")
    print("|---|--:|--:|--:|")
    for w in workloads:
        rows = [s for s in samples if s["workload"] == w]
        vals = [s["value"] for s in rows]
        cpu = statistics.median(s["server_cpu"] for s in rows)
        print(f"| {label(w, args)} | {fmt(statistics.median(vals))} {rows[0]['unit']} | "
              f"{fmt(min(vals))}–{fmt(max(vals))} | {cpu:.3f} {rows[0]['server_cpu_unit']} |")
    if problems:
        log(f"warning: the server reported {problems} problem event(s), shown above")
    if args.json:
        meta = {"binary": os.path.abspath(args.bin), "version": version,
                "cpus": os.cpu_count(), "clk_tck": CLK_TCK, **vars(args),
                "date": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "samples": samples}, f, indent=1)
        log(f"samples written to {args.json}")


if __name__ == "__main__":
    main()
