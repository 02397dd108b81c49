#!/usr/bin/env python3
"""Memory held by TLS handshakes that stall: N clients connect to the smtps
port and send nothing, or half a ClientHello, or (STARTTLS) half a
ClientHello after "220 Ready to start TLS". Prints the server's RSS and
PSS growth in total and per stalled session, and the CPU the server burns
while they sit there (it must be ~0: waiting is not polling).

    python3 bench/tls_stall.py                        # build/konvert, 3000 each
    python3 bench/tls_stall.py -n 1000 --bin build/slow/konvert --bin /tmp/base/konvert

Each binary gets a fresh server on free 127.0.0.1 ports in a temporary
directory (self-signed certificate made on first start), with session
limits raised and tls_handshake_timeout / smtp_timeout long enough that
nothing expires while we measure (a binary that does not know
tls_handshake_timeout is started without it). Loopback only; bounded: every
wait has a deadline and the servers are stopped at the end."""

import argparse
import os
import resource
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODES = ("nothing", "half-hello", "starttls-half")
SETTLE = 1.5  # seconds for the server to take the last bytes
HOLD = 2.0  # seconds of server CPU measured while the sessions sit stalled


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def client_hello():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="mx.bench")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


def mem_kb(pid):
    """(RSS, PSS) of pid in kB, from smaps_rollup."""
    rss = pss = 0
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            if line.startswith("Rss:"):
                rss = int(line.split()[1])
            elif line.startswith("Pss:"):
                pss = int(line.split()[1])
    return rss, pss


def cpu_s(pid):
    """User + system CPU seconds used by pid so far."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def open_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


class Server:
    def __init__(self, binary, n):
        self.binary = binary
        self.dir = Path(tempfile.mkdtemp(prefix="tls-stall-"))
        self.smtp_port, self.smtps_port = free_port(), free_port()
        self.n = n
        self.proc = None
        self.log = None

    def config(self, with_new_keys):
        cfg = {
            "hostname": "mx.bench",
            "domains": "bench.test",
            "data_dir": str(self.dir / "var"),
            "smtp_listen": "127.0.0.1:%d" % self.smtp_port,
            "submission_listen": "",
            "smtps_listen": "127.0.0.1:%d" % self.smtps_port,
            "pop3_listen": "",
            "pop3s_listen": "",
            "pop2_listen": "",
            "max_sessions": str(self.n + 100),
            "max_sessions_per_ip": str(self.n + 100),
            "smtp_timeout": "1h",
        }
        if with_new_keys:
            cfg["tls_handshake_timeout"] = "1h"
        if os.getuid() == 0:
            cfg["run_as"] = "root"
        path = self.dir / "konvert.conf"
        path.write_text("".join("%s = %s\n" % kv for kv in cfg.items()))
        return path

    def start(self):
        (self.dir / "var").mkdir(exist_ok=True)
        for with_new_keys in (True, False):
            conf = self.config(with_new_keys)
            self.log = open(self.dir / "konvert.log", "wb")
            self.proc = subprocess.Popen([self.binary, "serve", "-c", str(conf)],
                                         stdin=subprocess.DEVNULL, stdout=self.log,
                                         stderr=self.log)
            if self.wait_ready():
                self.new_keys = with_new_keys
                return
            self.stop()
        raise SystemExit("%s did not start; see %s" % (self.binary, self.dir / "konvert.log"))

    def wait_ready(self):
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.smtps_port), timeout=3) as raw:
                    ctx = ssl.create_default_context()
                    ctx.check_hostname = False
                    ctx.verify_mode = ssl.CERT_NONE
                    with ctx.wrap_socket(raw) as s:
                        s.settimeout(3)
                        if s.recv(100).startswith(b"220"):
                            return True
            except OSError:
                time.sleep(0.1)
        return False

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.log:
            self.log.close()
        self.proc = None

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def warm_up(srv, rounds=50):
    """Complete handshakes and a few stalled ones first, so that one-time
    allocations (context, session cache, malloc arenas) are not counted."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    for _ in range(rounds):
        with socket.create_connection(("127.0.0.1", srv.smtps_port), timeout=5) as raw:
            with ctx.wrap_socket(raw) as s:
                s.settimeout(5)
                s.recv(100)
                s.sendall(b"QUIT\r\n")
                s.recv(100)


def stall(srv, mode, n, hello, deadline):
    socks = []
    base_fds = open_fds(srv.proc.pid)
    for _ in range(n):
        if time.monotonic() > deadline:
            break
        if mode == "starttls-half":
            s = socket.create_connection(("127.0.0.1", srv.smtp_port), timeout=10)
            socks.append(s)
            s.recv(200)
            s.sendall(b"EHLO bench.test\r\n")
            got = b""
            while not got.endswith(b"\r\n") or b"250 " not in got:
                got += s.recv(1000)
            s.sendall(b"STARTTLS\r\n")
            s.recv(200)
            s.sendall(hello[:len(hello) // 2])
        else:
            s = socket.create_connection(("127.0.0.1", srv.smtps_port), timeout=10)
            socks.append(s)
            if mode == "half-hello":
                s.sendall(hello[:len(hello) // 2])
    # Wait until the server holds them all, then let it read the bytes.
    while open_fds(srv.proc.pid) < base_fds + len(socks) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(SETTLE)
    return socks


def measure(binary, modes, n, time_limit):
    rows = []
    hello = client_hello()
    for mode in modes:
        srv = Server(binary, n)
        try:
            srv.start()
            warm_up(srv)
            time.sleep(0.5)
            rss0, pss0 = mem_kb(srv.proc.pid)
            socks = stall(srv, mode, n, hello, time.monotonic() + time_limit)
            rss1, pss1 = mem_kb(srv.proc.pid)
            cpu0 = cpu_s(srv.proc.pid)
            time.sleep(HOLD)
            idle_cpu = (cpu_s(srv.proc.pid) - cpu0) / HOLD * 100.0
            held = len(socks)
            for s in socks:
                s.close()
            rows.append((binary, mode, held, rss1 - rss0, pss1 - pss0, idle_cpu))
        finally:
            srv.stop()
            srv.cleanup()
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", action="append", help="konvert binary (repeatable)")
    ap.add_argument("-n", type=int, default=3000, help="stalled sessions per mode")
    ap.add_argument("--mode", action="append", choices=MODES, help="default: all")
    ap.add_argument("--time-limit", type=float, default=120, help="seconds per run")
    args = ap.parse_args()
    binaries = args.bin or [str(ROOT / "build" / "konvert")]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, args.n * 2 + 256)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    if want < args.n + 64:
        sys.exit("RLIMIT_NOFILE hard limit %d is too low for -n %d" % (hard, args.n))
    rows = []
    for b in binaries:
        rows.extend(measure(b, args.mode or list(MODES), args.n, args.time_limit))
    print("%-34s %-14s %6s %9s %9s %9s %9s %8s" % ("binary", "mode", "held", "dRSS MB", "dPSS MB",
                                                    "RSS/sess", "PSS/sess", "idle CPU"))
    for b, mode, held, drss, dpss, cpu in rows:
        per = lambda d: "%.1f KB" % (d / held) if held else "-"  # noqa: E731
        print("%-34s %-14s %6d %9.1f %9.1f %9s %9s %7.1f%%" % (b[-34:], mode, held, drss / 1024.0,
                                                               dpss / 1024.0, per(drss), per(dpss),
                                                               cpu))


if __name__ == "__main__":
    main()
