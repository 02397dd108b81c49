#!/usr/bin/python3
"""Outbound (relay) benchmark: konvert against a private Postfix instance.

Both servers do the same job: take mail for a remote domain over SMTP on
127.0.0.1, queue it durably, and relay it to one next hop, a sink on
127.0.0.2 (Postfix's smtp-sink, else a small built-in asyncio sink).
konvert uses `smarthost = 127.0.0.2:PORT`, Postfix `relayhost =
[127.0.0.2]:PORT`. Two phases per server:

  end-to-end  C clients submit M messages each while the sink listens;
              messages/s from the first MAIL to the last message at the sink
  drain       C*M messages are submitted while the sink is down (queued,
              deferred), then the sink starts and the queue is flushed
              (`konvert queue flush`, `postqueue -f`); messages/s from the
              flush to the last message at the sink

See bench/README.md ("Relay benchmark") for how to run it and how to read
the table. Only 127.0.0.1 and 127.0.0.2 are used; every wait is bounded.
"""

import argparse
import asyncio
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from smtp_bench import (  # noqa: E402  - same servers, readers and table as the SMTP bench
    KIB, MIB, POSTFIX_INSTALL, PostfixServer, Sampler, SMTPError, fs_type, install_postfix, loadavg, log,
    machine_line, make_body, postfix_installed, postfix_version, proc_stat, read_reply, stop_pid,
    system_postfix_state, table, tree_cpu, wait_greeting)

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(os.environ.get("KONVERT_BIN") or ROOT / "build" / "konvert")
HOST = "127.0.0.1"  # the servers listen here
SINK_HOST = "127.0.0.2"  # the next hop
REMOTE = "remote.test"  # the recipients' domain: not local on either server
DOMAINS = 1  # --domains: session n sends to remote<n % DOMAINS>.test instead
SENDER = "sender@client.test"
SMTP_SINK = "/usr/sbin/smtp-sink"

REPLY_TIMEOUT = 60.0
START_TIMEOUT = 20.0


def free_port(host):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def storage_note(path):
    """', no journal, discard' and the like for an ext4 mount: on ext4
    without a journal the inode allocator skips every inode freed in the
    last minute or more (recently_deleted()), which makes file creation on
    a busy queue much slower; `discard` makes every freed block a TRIM."""
    path = os.path.realpath(path)
    best = None
    try:
        with open("/proc/mounts") as f:
            for line in f:
                dev, mnt, fstype, opts = line.split()[:4]
                if (path == mnt or path.startswith(mnt.rstrip("/") + "/")) and \
                        (best is None or len(mnt) >= len(best[1])):
                    best = (dev, mnt, fstype, opts)
    except OSError:
        return ""
    if best is None or best[2] != "ext4":
        return ""
    notes = []
    try:
        journals = os.listdir("/proc/fs/jbd2")
        if not any(j.rsplit("-", 1)[0] == os.path.basename(best[0]) for j in journals):
            notes.append("no journal")
    except OSError:
        pass
    if "discard" in best[3].split(","):
        notes.append("mounted with discard")
    return ", " + ", ".join(notes) if notes else ""


def count_files(root):
    """Regular files below root (Postfix hashes its queue into subdirs)."""
    n = 0
    for _, _, files in os.walk(root):
        n += sum(1 for f in files if not f.startswith("."))
    return n


# --------------------------------------------------------------------------
# the sink


class Sink:
    """The next hop on 127.0.0.2:PORT. smtp-sink -c prints running counters
    ("sess=N quit=N mesg=N", CR-terminated, unbuffered) whenever a session
    ends, a QUIT comes or a final "." arrives; the built-in sink prints the
    same line. A reader thread follows them and notes the moment the message
    count reaches the target."""

    def __init__(self, kind, port, base):
        self.kind = kind
        self.port = port
        self.err_path = Path(base) / ("sink-%d.err" % port)
        self.proc = None
        self.reader = None
        self.lock = threading.Lock()
        self.mesg = 0
        self.sess = 0
        self.target = None
        self.t_target = None
        self.reached = threading.Event()

    def start(self):
        if self.kind == "smtp-sink":
            argv = [SMTP_SINK, "-c", "-4"]
            if os.getuid() == 0:
                argv += ["-u", "nobody"]  # required when started as root
            argv += ["%s:%d" % (SINK_HOST, self.port), "1000"]
        else:
            argv = [sys.executable, str(Path(__file__).resolve()), "--serve-sink", str(self.port)]
        errf = open(self.err_path, "wb")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errf)
        errf.close()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        # the readiness probe is one session; wait until the sink counted it
        if not wait_greeting_at(SINK_HOST, self.port, START_TIMEOUT, lambda: self.proc.poll() is None):
            self.stop()
            raise RuntimeError("sink did not start: %s" % self.err_path.read_text(errors="replace")[-500:])
        deadline = time.monotonic() + 5
        while self.sess < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        with self.lock:
            self.base_mesg, self.base_sess = self.mesg, self.sess

    def _read(self):
        fd = self.proc.stdout.fileno()
        buf = b""
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
            *done, buf = buf.replace(b"\n", b"\r").split(b"\r")
            if not done:
                continue
            now = time.perf_counter()
            fields = dict(kv.split(b"=", 1) for kv in done[-1].split() if b"=" in kv)
            try:
                mesg, sess = int(fields.get(b"mesg", 0)), int(fields.get(b"sess", 0))
            except ValueError:
                continue
            with self.lock:
                self.mesg, self.sess = mesg, sess
                if self.target is not None and self.t_target is None and mesg >= self.target:
                    self.t_target = now
                    self.reached.set()

    def messages(self):
        with self.lock:
            return self.mesg - self.base_mesg

    def sessions(self):
        with self.lock:
            return self.sess - self.base_sess

    def wait_messages(self, n, timeout):
        """perf_counter() time at which the sink had n messages, or None."""
        with self.lock:
            self.target = self.base_mesg + n
            if self.mesg >= self.target:
                self.t_target = self.t_target or time.perf_counter()
                return self.t_target
        self.reached.wait(timeout)
        return self.t_target

    def pids(self):
        return [self.proc.pid] if self.proc and self.proc.poll() is None else []

    def cpu(self):
        st = proc_stat(self.proc.pid) if self.proc else None
        return st[1] if st else 0.0

    def stop(self):
        if self.proc and self.proc.poll() is None:
            stop_pid(self.proc.pid, self.proc)
        if self.reader:
            self.reader.join(5)


def wait_greeting_at(host, port, timeout, alive):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive():
            return False
        try:
            with socket.create_connection((host, port), timeout=2) as s:
                s.settimeout(2)
                if s.recv(512).startswith(b"220"):
                    s.sendall(b"QUIT\r\n")
                    s.recv(512)
                    return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


def serve_sink(port):
    """Body of the built-in sink (--serve-sink PORT), used when smtp-sink is
    missing: accepts everything, keeps nothing, prints smtp-sink's counters."""
    counts = {"sess": 0, "quit": 0, "mesg": 0}
    out = sys.stdout.buffer

    def show():
        out.write(b"sess=%d quit=%d mesg=%d\r" % (counts["sess"], counts["quit"], counts["mesg"]))
        out.flush()

    async def session(reader, writer):
        try:
            writer.write(b"220 sink.test ESMTP\r\n")
            for _ in range(1000000):
                line = await asyncio.wait_for(reader.readline(), 100)
                if not line:
                    break
                verb = line[:4].upper()
                if verb == b"EHLO":
                    writer.write(b"250-sink.test\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SIZE 0\r\n"
                                 b"250-DSN\r\n250 ENHANCEDSTATUSCODES\r\n")
                elif verb == b"DATA":
                    writer.write(b"354 go ahead\r\n")
                    for _ in range(10000000):
                        l2 = await asyncio.wait_for(reader.readline(), 100)
                        if not l2 or l2 == b".\r\n":
                            break
                    counts["mesg"] += 1
                    show()
                    writer.write(b"250 2.0.0 Ok\r\n")
                elif verb == b"QUIT":
                    counts["quit"] += 1
                    show()
                    writer.write(b"221 2.0.0 Bye\r\n")
                    break
                else:
                    writer.write(b"250 2.0.0 Ok\r\n")
                await writer.drain()
            await writer.drain()
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError):
            pass
        finally:
            counts["sess"] += 1
            show()
            writer.close()

    async def main():
        server = await asyncio.start_server(session, SINK_HOST, port, backlog=1000, limit=1 << 16)
        async with server:
            await server.serve_forever()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass


# --------------------------------------------------------------------------
# the servers


class KonvertRelay:
    """konvert serve with a temp data_dir: SMTP on 127.0.0.1, everything
    else off, every remote recipient to smarthost 127.0.0.2:SINK_PORT."""

    name = "konvert"

    def __init__(self, base, bin_path, sink_port):
        self.base = Path(tempfile.mkdtemp(prefix="konvert-", dir=base))
        self.bin = bin_path
        self.port = free_port(HOST)
        self.data_dir = self.base / "var"
        self.conf = self.base / "konvert.conf"
        self.log_path = self.base / "konvert.log"
        self.proc = None
        cfg = {
            "hostname": "bench.test",
            "domains": "example.test",
            "data_dir": str(self.data_dir),
            "smtp_listen": "%s:%d" % (HOST, self.port),
            "submission_listen": "",
            "smtps_listen": "",
            "pop3_listen": "",
            "pop3s_listen": "",
            "pop2_listen": "",
            "max_sessions_per_ip": "1000",
            "smarthost": "%s:%d" % (SINK_HOST, sink_port),
            "relay_tls": "off",
            "queue_retry": "1s",
            "dns_servers": "127.0.0.1:9",  # nothing is looked up: the smarthost is an address
            # Plain intake, like the Postfix peer (no SPF/DKIM/DMARC checks).
            "auth_checks": "no",
        }
        if os.getuid() == 0:
            cfg["run_as"] = "root"
        self.conf.write_text("".join("%s = %s\n" % kv for kv in cfg.items()).replace(" = \n", " =\n"))
        os.chmod(self.conf, 0o600)

    def start(self):
        self.data_dir.mkdir(exist_ok=True)
        logf = open(self.log_path, "wb")
        self.proc = subprocess.Popen([str(self.bin), "serve", "-c", str(self.conf)], stdin=subprocess.DEVNULL,
                                     stdout=logf, stderr=logf, cwd=str(self.base))
        logf.close()
        if not wait_greeting(self.port, START_TIMEOUT, lambda: self.proc.poll() is None):
            tail = self.log_path.read_text(errors="replace")[-2000:]
            self.stop()
            raise RuntimeError("konvert did not start:\n" + tail)

    def queued(self):
        """Messages in the queue (envelope files)."""
        d = self.data_dir / "queue" / "env"
        try:
            return sum(1 for e in os.scandir(d) if not e.name.startswith("."))
        except OSError:
            return 0

    def all_deferred(self, n):
        return self.queued() == n

    def flush(self):
        return subprocess.run([str(self.bin), "-c", str(self.conf), "queue", "flush"], capture_output=True,
                              text=True, timeout=30, stdin=subprocess.DEVNULL)

    def pids(self):
        return [self.proc.pid] if self.proc and self.proc.poll() is None else []

    def stop(self):
        if self.proc and self.proc.poll() is None:
            stop_pid(self.proc.pid, self.proc)

    def cleanup(self, keep):
        if not keep:
            shutil.rmtree(self.base, ignore_errors=True)


class PostfixRelay(PostfixServer):
    """The SMTP bench's private Postfix instance (own config, queue and data
    directories, master -c DIR -w, no chroot), with the Maildir delivery
    taken out and `relayhost = [127.0.0.2]:SINK_PORT`. Every other setting
    is Postfix's default: default_destination_concurrency_limit (20),
    connection caching on demand, the slow-start of the queue manager."""

    def __init__(self, base, maxproc=100, sink_port=9):
        super().__init__(base, maxproc)
        self.sink_port = sink_port

    def write_config(self):
        super().write_config()
        main = self.conf / "main.cf"
        cfg = {}
        for line in main.read_text().splitlines():
            k, _, v = line.partition(" = ")
            cfg[k] = v
        for k in [k for k in cfg if k.startswith("virtual_")]:
            del cfg[k]
        cfg["relayhost"] = "[%s]:%d" % (SINK_HOST, getattr(self, "sink_port", 9))
        main.write_text("".join("%s = %s\n" % kv for kv in cfg.items()))
        past = time.time() - 60
        os.utime(main, (past, past))

    def queued(self):
        return sum(count_files(self.spool / d) for d in ("maildrop", "incoming", "active", "deferred", "hold"))

    def all_deferred(self, n):
        return count_files(self.spool / "deferred") == n and \
            count_files(self.spool / "incoming") + count_files(self.spool / "active") == 0

    def flush(self):
        return subprocess.run(["postqueue", "-c", str(self.conf), "-f"], capture_output=True, text=True,
                              timeout=30, stdin=subprocess.DEVNULL)


# --------------------------------------------------------------------------
# the client


class Stats:
    def __init__(self):
        self.accepted = 0
        self.errors = []
        self.t_last = None


async def open_session(port, n):
    reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port, limit=1 << 16), REPLY_TIMEOUT)
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    code, text = await read_reply(reader)
    if code != 220:
        writer.close()
        raise SMTPError("greeting %r" % text[:200])
    writer.write(b"EHLO client%d.test\r\n" % n)
    code, text = await read_reply(reader)
    if code != 250:
        writer.close()
        raise SMTPError("EHLO %r" % text[:200])
    if not any(l[4:].strip().upper() == b"PIPELINING" for l in text.split(b"\n")):
        writer.close()
        raise SMTPError("no PIPELINING")
    return reader, writer


async def send_messages(sess, n, m, body, run_id, stats):
    """m messages, each to one recipient at REMOTE; MAIL/RCPT/DATA in one write."""
    reader, writer = sess
    domain = REMOTE if DOMAINS <= 1 else "remote%d.test" % (n % DOMAINS)
    for i in range(m):
        rcpt = b"rcpt%d@%s" % (n, domain.encode())
        writer.write(b"MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nDATA\r\n" % (SENDER.encode(), rcpt))
        codes = [(await read_reply(reader))[0] for _ in range(3)]
        if codes[2] != 354:
            stats.errors.append("envelope %r" % codes)
            writer.write(b"RSET\r\n")
            await read_reply(reader)
            continue
        writer.write(b"From: <%s>\r\nTo: <%s>\r\nSubject: relay bench %d/%d\r\n"
                     b"Message-ID: <relay-%s-%d-%d@client.test>\r\nDate: Thu, 01 Jan 2026 00:00:00 +0000\r\n"
                     b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii"
                     % (SENDER.encode(), rcpt, n, i, run_id.encode(), n, i))
        writer.write(body)
        code, text = await read_reply(reader)
        if code == 250 and codes[:2] == [250, 250]:
            stats.accepted += 1
            stats.t_last = time.perf_counter()
        else:
            stats.errors.append("DATA end: %r" % text[:120])
    writer.write(b"QUIT\r\n")
    try:
        await read_reply(reader, 5)
    except (SMTPError, OSError, asyncio.TimeoutError):
        pass
    writer.close()


async def submit(port, c, m, size, timeout, run_id, on_start=None):
    """Opens c sessions (EHLO answered), calls on_start(), then every session
    sends m messages. Returns (stats, perf_counter at the start)."""
    stats = Stats()
    res = await asyncio.wait_for(asyncio.gather(*(open_session(port, n) for n in range(c)),
                                                return_exceptions=True), timeout)
    sessions = []
    for n, r in enumerate(res):
        if isinstance(r, BaseException):
            stats.errors.append("connect %d: %r" % (n, r))
        else:
            sessions.append((n, r))
    body = make_body(size)
    if on_start:
        on_start()
    t_start = time.perf_counter()
    res = await asyncio.gather(*(asyncio.wait_for(send_messages(s, n, m, body, run_id, stats), timeout)
                                 for n, s in sessions), return_exceptions=True)
    for r in res:
        if isinstance(r, BaseException):
            stats.errors.append("session: %r" % (r,))
    for _, (_, w) in sessions:
        w.close()
    return stats, t_start


# --------------------------------------------------------------------------
# the two phases


def wait_until(pred, timeout, step=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()


def finish_row(row, server, sink, sent, t0, t_sink, cpu0, sampler, timeout):
    """Common end of both phases: the queue must empty, the sink must hold
    exactly `sent` messages (nothing more arrives within 0.5 s)."""
    row["at_sink_in_time"] = t_sink is not None
    empty = wait_until(lambda: server.queued() == 0, timeout)
    t_empty = time.perf_counter()
    row["cpu"] = tree_cpu(server.pids()) - cpu0
    sampler.finish()
    time.sleep(0.5)
    row.update({
        "sent": sent,
        "at_sink": sink.messages(),
        "conns": sink.sessions(),
        "rate": sent / max(t_sink - t0, 1e-9) if t_sink else None,
        "wall": (t_sink or t_empty) - t0,
        "empty": empty,
        "left": server.queued(),
        "rss_kib": sampler.peak_rss,
        "pss_kib": sampler.peak_pss,
        "procs": sampler.max_procs,
    })
    row["ok"] = bool(t_sink) and empty and row["at_sink"] == sent
    if not row["ok"]:
        log("%s: %d sent, %d at the sink, %d left in the queue%s" % (
            server.name, sent, row["at_sink"], row["left"], "" if t_sink else ", timed out"))


def run_end_to_end(server, sink, c, m, size, timeout):
    row = {"server": server.name, "phase": "e2e"}
    try:
        sink.start()
        server.start()
    except Exception as e:  # noqa: BLE001 - reported in the table
        row["error"] = str(e).splitlines()[0][:100]
        log("%s: %s" % (server.name, e))
        return row
    try:
        time.sleep(0.3)
        sampler = Sampler(server.pids)
        sampler.sample()
        box = {}

        def on_start():  # the clock starts once every session is open
            box["cpu0"] = tree_cpu(server.pids())
            box["sink_cpu0"] = sink.cpu()
            box["ru0"] = resource.getrusage(resource.RUSAGE_SELF)
            sampler.start()

        run_id = "%x" % int(time.time() * 1000)
        try:
            stats, t0 = asyncio.run(submit(server.port, c, m, size, timeout, run_id, on_start))
        except (OSError, SMTPError, asyncio.TimeoutError) as e:
            sampler.finish()
            row["error"] = "client: %r" % (e,)
            return row
        t_sink = sink.wait_messages(stats.accepted, timeout)
        ru1 = resource.getrusage(resource.RUSAGE_SELF)
        row["accept_rate"] = stats.accepted / max((stats.t_last or t0) - t0, 1e-9)
        row["client_cpu"] = (ru1.ru_utime + ru1.ru_stime) - (box["ru0"].ru_utime + box["ru0"].ru_stime)
        row["sink_cpu"] = sink.cpu() - box["sink_cpu0"]
        finish_row(row, server, sink, stats.accepted, t0, t_sink, box["cpu0"], sampler, timeout)
        if stats.errors or stats.accepted != c * m:
            row["ok"] = False
            log("%s: %d of %d accepted, first error: %s" % (server.name, stats.accepted, c * m,
                                                            stats.errors[:1]))
    finally:
        server.stop()
        sink.stop()
    return row


def run_drain(server, sink, c, m, size, timeout):
    row = {"server": server.name, "phase": "drain"}
    try:
        server.start()
    except Exception as e:  # noqa: BLE001
        row["error"] = str(e).splitlines()[0][:100]
        log("%s: %s" % (server.name, e))
        return row
    try:
        run_id = "%x" % int(time.time() * 1000)
        try:
            stats, _ = asyncio.run(submit(server.port, c, m, size, timeout, run_id))
        except (OSError, SMTPError, asyncio.TimeoutError) as e:
            row["error"] = "client: %r" % (e,)
            return row
        if stats.errors or stats.accepted != c * m:
            log("%s: %d of %d accepted, first error: %s" % (server.name, stats.accepted, c * m, stats.errors[:1]))
        # every message queued and its first attempt refused (sink down)
        if not wait_until(lambda: server.all_deferred(stats.accepted), timeout, 0.05):
            row["error"] = "only %d of %d queued and deferred" % (server.queued(), stats.accepted)
            return row
        time.sleep(1.0)  # attempts in flight settle
        try:
            sink.start()
        except Exception as e:  # noqa: BLE001
            row["error"] = str(e).splitlines()[0][:100]
            return row
        sampler = Sampler(server.pids)
        sampler.sample()
        cpu0 = tree_cpu(server.pids())
        sink_cpu0 = sink.cpu()
        sampler.start()
        t0 = time.perf_counter()
        r = server.flush()
        if r.returncode != 0:
            log("%s: flush: %s %s" % (server.name, r.stdout.strip(), r.stderr.strip()))
        t_sink = sink.wait_messages(stats.accepted, timeout)
        row["sink_cpu"] = sink.cpu() - sink_cpu0
        finish_row(row, server, sink, stats.accepted, t0, t_sink, cpu0, sampler, timeout)
        if stats.errors or stats.accepted != c * m:
            row["ok"] = False
    finally:
        server.stop()
        sink.stop()
    return row


def pick_median(runs):
    good = [r for r in runs if not r.get("error") and r.get("rate")]
    if not good:
        return dict(runs[0])
    good.sort(key=lambda r: r["rate"])
    row = dict(good[(len(good) - 1) // 2])
    row["range"] = (good[0]["rate"], good[-1]["rate"])
    row["bad_runs"] = sum(1 for r in runs if r.get("error") or not r.get("ok"))
    return row


def fmt(v, spec):
    return "-" if v is None else spec % v


# --------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description="Relay benchmark: konvert vs Postfix relaying to a local sink.")
    ap.add_argument("--quick", action="store_true", help="about 25 seconds instead of about 1.5 minutes")
    ap.add_argument("--install-peer", action="store_true", help="apt-get install postfix when it is missing")
    ap.add_argument("--no-peer", action="store_true", help="run konvert alone")
    ap.add_argument("--sink", choices=("auto", "smtp-sink", "builtin"), default="auto",
                    help="auto: Postfix's smtp-sink when installed, else the built-in asyncio sink")
    ap.add_argument("-C", "--clients", type=int, help="concurrent submitting sessions (default 20, quick 10)")
    ap.add_argument("-M", "--messages", type=int, help="messages per session (default 50, quick 20)")
    ap.add_argument("-S", "--size", type=int, help="message size in bytes (default 4096)")
    ap.add_argument("--repeat", type=int, help="runs of each phase per server (default 3, quick 1)")
    ap.add_argument("--domains", type=int, default=1,
                    help="spread the recipients over N remote domains (default 1; konvert's per-destination"
                    " limit applies per domain, Postfix's per relayhost)")
    ap.add_argument("--no-e2e", action="store_true", help="skip the end-to-end phase")
    ap.add_argument("--no-drain", action="store_true", help="skip the queue-drain phase")
    ap.add_argument("--tmpdir", help="where the servers' temp dirs go (default: $TMPDIR or /tmp)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dirs (configs, logs, queues)")
    ap.add_argument("--serve-sink", type=int, metavar="PORT", help=argparse.SUPPRESS)
    a = ap.parse_args()

    if a.serve_sink:
        serve_sink(a.serve_sink)
        return 0

    global DOMAINS
    DOMAINS = max(1, a.domains)
    t_begin = time.monotonic()
    quick = a.quick
    c = a.clients or (10 if quick else 20)
    m = a.messages or (20 if quick else 50)
    size = a.size or 4 * KIB
    repeat = max(1, a.repeat or (1 if quick else 3))
    timeout = 30.0 if quick else 90.0

    if not BIN.exists():
        log("%s does not exist: run `make` first" % BIN)
        return 2
    base = Path(tempfile.mkdtemp(prefix="konvert-relay-bench-", dir=a.tmpdir))
    os.chmod(base, 0o755)
    bin_copy = base / "konvert"
    shutil.copy2(BIN, bin_copy)  # a concurrent `make` cannot swap it mid-run
    kver = subprocess.run([str(bin_copy), "version"], capture_output=True, text=True, timeout=10).stdout.strip()

    # ---- the sink
    sink_kind = a.sink
    sink_note = ""
    if sink_kind == "auto":
        if not Path(SMTP_SINK).exists() and a.install_peer and not a.no_peer:
            try:
                install_postfix()
            except (OSError, subprocess.SubprocessError) as e:
                log("installing Postfix failed: %s" % e)
        sink_kind = "smtp-sink" if Path(SMTP_SINK).exists() else "builtin"
        if sink_kind == "builtin":
            sink_note = "FALLBACK sink: %s missing (it comes with the postfix package)" % SMTP_SINK
    elif sink_kind == "smtp-sink" and not Path(SMTP_SINK).exists():
        log("%s is missing" % SMTP_SINK)
        return 2

    # ---- the peer
    servers = []
    sys_state = "Postfix not installed"
    peer = None
    peer_note = ""
    if not a.no_peer:
        if not postfix_installed() and a.install_peer:
            try:
                install_postfix()
            except (OSError, subprocess.SubprocessError) as e:
                log("installing Postfix failed: %s" % e)
        if postfix_installed():
            sys_state, _ = system_postfix_state()
            try:
                servers.append(PostfixRelay.prepare(base))
                peer = "postfix"
            except Exception as e:  # noqa: BLE001 - run konvert alone, say why
                peer_note = "Postfix instance did not work here (%s)" % str(e).splitlines()[0][:80]
                log(peer_note)
        else:
            print("Postfix is not installed, so konvert runs alone. To compare against Postfix, install it:")
            print(POSTFIX_INSTALL)
            print()
            peer_note = "Postfix not installed"

    kinds = ["konvert"] + ([peer] if peer else [])

    def make_pair(kind):
        sink_port = free_port(SINK_HOST)
        sink = Sink(sink_kind, sink_port, base)
        if kind == "konvert":
            srv = KonvertRelay(base, bin_copy, sink_port)
        else:
            srv = PostfixRelay(base, sink_port=sink_port)
        servers.append(srv)
        return srv, sink

    date = time.strftime("%Y-%m-%d %H:%M %Z")
    sink_desc = ("smtp-sink (Postfix %s), -c, on %s" % (postfix_version(), SINK_HOST)) if sink_kind == "smtp-sink" \
        else "built-in asyncio sink on %s%s" % (SINK_HOST, " (%s)" % sink_note if sink_note else "")
    if peer == "postfix":
        peer_desc = "Postfix %s (private instance, relayhost = [%s]:PORT, defaults otherwise)" % (
            postfix_version(), SINK_HOST)
    else:
        peer_desc = "none (%s)" % (peer_note or "--no-peer")
    fst = fs_type(base)
    header = [
        "konvert relay benchmark, %s%s" % (date, " (--quick)" if quick else ""),
        "machine: %s" % machine_line(),
        "konvert: %s (smarthost = %s:PORT, relay_tls = off);  peer: %s" % (kver, SINK_HOST, peer_desc),
        "sink: %s" % sink_desc,
        "storage: %s (%s%s); load average at start: %s" % (
            base, fst, ": fsync costs nothing there, use --tmpdir on a disk" if fst == "tmpfs"
            else storage_note(base), loadavg()),
        "system Postfix (left alone): %s" % sys_state,
    ]

    phases = []
    if not a.no_e2e:
        phases.append(("end-to-end", run_end_to_end))
    if not a.no_drain:
        phases.append(("queue drain", run_drain))
    label_load = "C=%d M=%d S=%s%s" % (c, m, "%d KiB" % (size // KIB) if size % KIB == 0 else "%d B" % size,
                                       " D=%d" % DOMAINS if DOMAINS > 1 else "")
    rows = []
    ok = True
    try:
        for pname, fn in phases:
            runs = {kind: [] for kind in kinds}
            for rep in range(repeat):
                for kind in (kinds if rep % 2 == 0 else kinds[::-1]):
                    log("%s %s on %s (run %d of %d)" % (pname, label_load, kind, rep + 1, repeat))
                    srv, sink = make_pair(kind)
                    r = fn(srv, sink, c, m, size, timeout)
                    if r.get("rate"):
                        log("  %s: %.0f msg/s, %d at the sink over %d connections, CPU %.2f s" % (
                            kind, r["rate"], r["at_sink"], r["conns"], r["cpu"]))
                    runs[kind].append(r)
            for kind in kinds:
                r = pick_median(runs[kind])
                r["workload"] = "%s %s" % (pname, label_load)
                rows.append(r)
                if r.get("error") or r.get("bad_runs"):
                    ok = False
    finally:
        log("stopping and cleaning up")
        for srv in servers:
            srv.stop()
        for srv in servers:
            srv.cleanup(a.keep)
        if a.keep:
            log("kept %s" % base)
        else:
            shutil.rmtree(base, ignore_errors=True)

    heads = ["workload", "server", "sent", "at sink", "msg/s", "msg/s range", "vs peer", "accept msg/s",
             "sink conns", "CPU s", "CPU ms/msg", "RSS MiB", "PSS MiB", "procs", "sink CPU s"]
    trows = []
    peer_rate = {r["workload"]: r.get("rate") for r in rows if r["server"] != "konvert"}
    for r in rows:
        if r.get("error"):
            trows.append([r["workload"], r["server"], c * m, "failed: " + r["error"]])
            continue
        ratio = None
        if r["server"] == "konvert" and peer_rate.get(r["workload"]) and r.get("rate"):
            ratio = r["rate"] / peer_rate[r["workload"]]
        trows.append([
            r["workload"], r["server"], r["sent"], "%d%s" % (r["at_sink"], " !" if r.get("bad_runs") else ""),
            fmt(r.get("rate"), "%.0f"), "%.0f-%.0f" % r["range"] if r.get("range") else "-",
            fmt(ratio, "%.2fx"), fmt(r.get("accept_rate"), "%.0f"), r["conns"],
            fmt(r["cpu"], "%.2f"), fmt(r["cpu"] * 1000 / max(r["sent"], 1), "%.2f"),
            fmt(r["rss_kib"] / KIB, "%.1f"), fmt(r["pss_kib"] / KIB, "%.1f"), r["procs"],
            fmt(r.get("sink_cpu"), "%.2f"),
        ])
    print("\n".join(header))
    print()
    print(table(heads, trows, right_from=2))
    print()
    print("Each phase ran %d time(s) per server, alternating; the row is the run with the median msg/s,"
          " 'msg/s range' the lowest and highest." % repeat)
    print("end-to-end: msg/s = messages / time from the first MAIL (all %d sessions open) to the last message"
          " at the sink; accept msg/s: to the last 250." % c)
    print("queue drain: %d messages queued while the sink was down (each deferred), then the sink started;"
          " msg/s = messages / time from the flush" % (c * m))
    print("  (`konvert queue flush`, `postqueue -f`) to the last message at the sink."
          " sink conns: SMTP sessions the sink saw.")
    print("CPU s: server user+sys incl. reaped children, until the queue is empty again (ms/msg: per message)."
          " RSS/PSS MiB: largest sum over the")
    print("  server's processes at one sample (every 0.1 s); procs: most at once. '!' = a run lost,"
          " duplicated or left messages. load average at end: %s; total %.0f s." % (
              loadavg(), time.monotonic() - t_begin))
    sys.stdout.flush()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
