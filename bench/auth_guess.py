#!/usr/bin/python3
"""Password-guessing benchmark: how many guesses per second an attacker gets
answered against ONE account over SMTP AUTH (submission, AUTH PLAIN), from
one source address or from many (127.0.0.x), with and without logging in to
an account of their own between guesses (which reset the old per-address
throttle).

Every scenario starts a fresh konvert (so no throttle state carries over)
with a victim account and the attacker's own account, runs W parallel
attacker threads for a fixed time, and counts the replies:
  answered  535: a guess that was checked and found wrong
  refused   454: the throttle refused the attempt without checking it
Guesses/s is answered / seconds. Each session makes up to three guesses
(konvert closes it after the third failure), then the thread reconnects.

    /usr/bin/python3 bench/auth_guess.py [--bin build/konvert] [--seconds 20]

Only 127.0.0.0/8 is used; every loop is bounded by the deadline and a
count, and the servers are stopped at the end. Progress goes to stderr and
the table to stdout.
"""

import argparse
import base64
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VICTIM, VICTIM_PW = "victim@example.test", "correct horse battery staple"
OWN, OWN_PW = "mallory@example.test", "mallory-own-password"
MAX_SESSIONS_PER_THREAD = 100000  # hard bound besides the deadline


def log(msg):
    print("auth_guess: " + msg, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, binary, base):
        self.bin = str(binary)
        self.base = Path(base)
        self.port = free_port()
        self.proc = None
        data = self.base / "var"
        data.mkdir(parents=True)
        cfg = {
            "hostname": "bench.test", "domains": "example.test", "data_dir": str(data),
            "smtp_listen": "127.0.0.1:%d" % free_port(),
            "submission_listen": "127.0.0.1:%d" % self.port,
            "smtps_listen": "", "pop3_listen": "", "pop3s_listen": "", "pop2_listen": "",
            "relay_networks": "127.0.0.0/8", "max_sessions_per_ip": "100",
        }
        if os.getuid() == 0:
            cfg["run_as"] = "root"
        self.conf = self.base / "konvert.conf"
        self.conf.write_text("".join(("%s = %s" % kv).rstrip() + "\n" for kv in cfg.items()))
        for user, pw in ((VICTIM, VICTIM_PW), (OWN, OWN_PW)):
            r = subprocess.run([self.bin, "-c", str(self.conf), "user", "add", user,
                                "--password-stdin"], input=pw + "\n", text=True,
                               capture_output=True, timeout=60)
            if r.returncode != 0:
                raise SystemExit("user add failed: %s" % r.stderr)

    def start(self):
        self.logf = open(self.base / "konvert.log", "wb")
        self.proc = subprocess.Popen([self.bin, "serve", "-c", str(self.conf)],
                                     stdin=subprocess.DEVNULL, stdout=self.logf, stderr=self.logf)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit("konvert exited: see %s" % (self.base / "konvert.log"))
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
                    if s.recv(512).startswith(b"220"):
                        s.sendall(b"QUIT\r\n")
                        return
            except OSError:
                pass
            time.sleep(0.05)
        self.stop()
        raise SystemExit("konvert did not start")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.logf.close()


class Session:
    """One submission session from a chosen source address; every read
    stops at the scenario's deadline."""

    def __init__(self, port, source, deadline):
        self.deadline = deadline
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5,
                                             source_address=(source, 0))
        self.buf = b""
        self.reply()  # greeting

    def reply(self):
        """The last line of one reply, or None at the deadline / close."""
        while True:
            while b"\n" not in self.buf:
                left = self.deadline - time.monotonic()
                if left <= 0:
                    return None
                self.sock.settimeout(min(left, 30))
                try:
                    chunk = self.sock.recv(4096)
                except (socket.timeout, OSError):
                    return None
                if not chunk:
                    return None
                self.buf += chunk
            line, _, self.buf = self.buf.partition(b"\n")
            if line[3:4] != b"-":
                return line.decode("ascii", "replace").rstrip("\r")

    def cmd(self, text):
        try:
            self.sock.sendall(text.encode() + b"\r\n")
        except OSError:
            return None
        return self.reply()

    def auth_plain(self, user, pw):
        token = base64.b64encode(("\0%s\0%s" % (user, pw)).encode()).decode()
        return self.cmd("AUTH PLAIN " + token)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class Counts:
    def __init__(self):
        self.lock = threading.Lock()
        self.answered = self.refused = self.own_ok = self.other = 0

    def add(self, reply):
        with self.lock:
            if reply is None:
                return
            if reply.startswith("535"):
                self.answered += 1
            elif reply.startswith("454"):
                self.refused += 1
            else:
                self.other += 1


def attacker(port, source, deadline, own_login, counts, tid):
    guess = 0
    for _ in range(MAX_SESSIONS_PER_THREAD):
        if time.monotonic() >= deadline:
            return
        try:
            s = Session(port, source, deadline)
        except OSError:
            time.sleep(0.05)
            continue
        try:
            if s.cmd("EHLO attacker.test") is None:
                continue
            for _ in range(3):
                guess += 1
                r = s.auth_plain(VICTIM, "guess-%d-%d" % (tid, guess))
                counts.add(r)
                if r is None or not r.startswith(("535", "454")):
                    break
        finally:
            s.close()
        if own_login and time.monotonic() < deadline:
            # the attacker's own account, from the same address
            try:
                s = Session(port, source, deadline)
            except OSError:
                continue
            try:
                s.cmd("EHLO attacker.test")
                r = s.auth_plain(OWN, OWN_PW)
                if r is not None and r.startswith("235"):
                    with counts.lock:
                        counts.own_ok += 1
            finally:
                s.close()


def run_scenario(binary, tmp, name, sources, threads, own_login, seconds):
    srv = Server(binary, Path(tmp) / name)
    srv.start()
    try:
        counts = Counts()
        start = time.monotonic()
        deadline = start + seconds
        workers = []
        for i in range(threads):
            source = "127.0.0.%d" % (2 + i % sources)
            t = threading.Thread(target=attacker, args=(srv.port, source, deadline, own_login,
                                                        counts, i), daemon=True)
            t.start()
            workers.append(t)
        for t in workers:
            t.join(seconds + 60)
        # the right password from a fresh address, after the attack
        check = "?"
        try:
            s = Session(srv.port, "127.0.0.250", time.monotonic() + 30)
            s.cmd("EHLO user.test")
            r = s.auth_plain(VICTIM, VICTIM_PW)
            check = (r or "closed")[:3]
            s.close()
        except OSError:
            pass
        return counts, check
    finally:
        srv.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default=os.environ.get("KONVERT_BIN") or str(ROOT / "build" / "konvert"))
    ap.add_argument("--seconds", type=float, default=20.0, help="per scenario (default 20)")
    ap.add_argument("--threads", type=int, default=100,
                    help="parallel attacker sessions (default 100)")
    ap.add_argument("--label", default="")
    args = ap.parse_args()
    if not Path(args.bin).exists():
        log("%s does not exist" % args.bin)
        return 2
    seconds = max(1.0, min(args.seconds, 600.0))
    threads = max(1, min(args.threads, 250))
    tmp = tempfile.mkdtemp(prefix="auth-guess-")
    rows = []
    try:
        for sources in (1, 100):
            for own in (False, True):
                name = "src%d-%s" % (sources, "own" if own else "plain")
                log("%s: %d threads from %d address(es), %s, %.0f s" % (
                    name, threads, sources, "own login between guesses" if own else "guesses only",
                    seconds))
                counts, check = run_scenario(args.bin, tmp, name, sources, threads, own, seconds)
                rows.append((sources, own, counts, check))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("binary: %s %s" % (args.bin, args.label))
    print("%d parallel attacker sessions, %.0f s per scenario, one victim account, AUTH PLAIN"
          % (threads, seconds))
    print("%-9s %-9s %9s %9s %10s %8s %s" % ("sources", "own-login", "answered", "refused",
                                             "guesses/s", "own-ok", "right pw after"))
    for sources, own, c, check in rows:
        print("%-9d %-9s %9d %9d %10.2f %8d %s" % (sources, "yes" if own else "no", c.answered,
                                                   c.refused, c.answered / seconds, c.own_ok,
                                                   check))
    return 0


if __name__ == "__main__":
    sys.exit(main())
