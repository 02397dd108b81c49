#!/usr/bin/python3
"""SMTP intake benchmark: konvert against a named peer (Postfix, else aiosmtpd).

Both servers do the same job: accept mail over SMTP on 127.0.0.1 and store it,
fsynced, in a Maildir. The client is asyncio over raw sockets (PIPELINING when
offered), C concurrent persistent sessions each sending M messages of S bytes.
See bench/README.md for how to run it and how to read the table.

Besides plain konvert and the peer it runs "konvert+checks" (auth_checks =
yes: SPF, DKIM and DMARC over a DNS server the script runs on 127.0.0.1,
every message DKIM-signed by the client and passing all three) and a signing
measurement: konvert's submission listener (AUTH PLAIN) with dkim_sign = yes
and no.

Only 127.0.0.1 is used; every wait and loop is bounded.
"""

import argparse
import asyncio
import base64
import collections
import grp
import itertools
import os
import re
import pwd
import resource
import select
import shutil
import signal
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(os.environ.get("KONVERT_BIN") or ROOT / "build" / "konvert")
HOST = "127.0.0.1"
DOMAIN = "example.test"
RCPT = "bench@" + DOMAIN
SENDER = "sender@client.test"
SENDER_DOMAIN = "client.test"
DKIM_SELECTOR = "sel"
PASSWORD = "bench-password"
CHECKS = "konvert+checks"  # server name of the auth_checks = yes variant
CLK = os.sysconf("SC_CLK_TCK")
KIB = 1024
MIB = 1024 * 1024

REPLY_TIMEOUT = 60.0  # one SMTP reply
START_TIMEOUT = 20.0  # a server becoming ready
STOP_TIMEOUT = 20.0

POSTFIX_INSTALL = """\
  echo 'postfix postfix/main_mailer_type select No configuration' | debconf-set-selections
  echo 'postfix postfix/mailname string localhost' | debconf-set-selections
  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postfix
(or run this script with --install-peer, which does exactly that). "No configuration"
sets up no system mail service; the benchmark never starts the system Postfix."""


T0 = time.monotonic()


def log(msg):
    print("bench: %5.1fs %s" % (time.monotonic() - T0, msg), file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# /proc readers


def proc_stat(pid):
    """(ppid, own cpu seconds, reaped children's cpu seconds) or None."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            data = f.read()
    except OSError:
        return None
    rest = data[data.rindex(b")") + 2:].split()
    ut, st, cut, cst = (int(x) for x in rest[11:15])
    return int(rest[1]), (ut + st) / CLK, (cut + cst) / CLK


def proc_start(pid):
    """Start time of a process (clock ticks since boot), or None: with the pid
    it names one process, so a reused pid is never mistaken for it."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            data = f.read()
    except OSError:
        return None
    return int(data[data.rindex(b")") + 2:].split()[19])


def proc_kib(pid, key, fname="status"):
    """A 'Key: N kB' field of /proc/PID/status or smaps_rollup, or None."""
    try:
        with open("/proc/%d/%s" % (pid, fname)) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def children_of(ppid):
    kids = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = proc_stat(int(name))
            if st and st[0] == ppid:
                kids.append(int(name))
    return kids


def tree_cpu(pids):
    """CPU seconds of the processes plus the children they have reaped.
    For Postfix: master (which reaps every exited daemon) + live daemons."""
    total = 0.0
    for p in pids:
        st = proc_stat(p)
        if st:
            total += st[1] + st[2]
    return total


def tree_cpu_split(pids):
    """(user, system) CPU seconds of the processes plus their reaped children."""
    user = system = 0.0
    for p in pids:
        try:
            with open("/proc/%d/stat" % p, "rb") as f:
                data = f.read()
        except OSError:
            continue
        ut, st, cut, cst = (int(x) for x in data[data.rindex(b")") + 2:].split()[11:15])
        user += (ut + cut) / CLK
        system += (st + cst) / CLK
    return user, system


def mem_sum(pids, key="VmRSS", fname="status"):
    return sum(proc_kib(p, key, fname) or 0 for p in pids)


class Sampler(threading.Thread):
    """Samples the server's processes during a run: the largest sum over the
    processes alive at one sample of VmHWM (each process's own peak RSS since
    it started), of VmRSS and of Pss, and the most processes seen at once."""

    def __init__(self, pids_fn, interval=0.1, max_seconds=900):
        super().__init__(daemon=True)
        self.pids_fn = pids_fn
        self.interval = interval
        self.max_samples = int(max_seconds / interval)
        self.stop_evt = threading.Event()
        self.peak_hwm = 0
        self.peak_rss = 0
        self.peak_pss = 0
        self.max_procs = 0

    def sample(self, with_pss=True):
        pids = self.pids_fn()
        self.max_procs = max(self.max_procs, len(pids))
        self.peak_hwm = max(self.peak_hwm, mem_sum(pids, "VmHWM"))
        self.peak_rss = max(self.peak_rss, mem_sum(pids, "VmRSS"))
        if with_pss:
            self.peak_pss = max(self.peak_pss, mem_sum(pids, "Pss", "smaps_rollup"))

    def run(self):
        for i in range(self.max_samples):
            if self.stop_evt.wait(self.interval):
                break
            self.sample(with_pss=(i % 3 == 0))

    def finish(self):
        self.stop_evt.set()
        self.join(5)
        self.sample()


# --------------------------------------------------------------------------
# helpers


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_greeting(port, timeout, alive=lambda: True):
    """True once a connection to port gets a 220 line."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive():
            return False
        try:
            with socket.create_connection((HOST, port), timeout=2) as s:
                s.settimeout(2)
                if s.recv(512).startswith(b"220"):
                    s.sendall(b"QUIT\r\n")
                    return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


def count_maildir(md):
    n = 0
    for sub in ("new", "cur"):
        d = Path(md) / sub
        if d.is_dir():
            n += sum(1 for _ in os.scandir(d))
    return n


def verify_maildir(md, run_id):
    """(distinct Message-IDs of this run, files without one) in new/ and cur/."""
    tag = b"Message-ID: <bench-%s-" % run_id.encode()
    ids = set()
    foreign = 0
    for sub in ("new", "cur"):
        d = Path(md) / sub
        if not d.is_dir():
            continue
        for e in os.scandir(d):
            with open(e.path, "rb") as f:
                head = f.read(16384)
            i = head.find(tag)
            if i < 0:
                foreign += 1
            else:
                ids.add(head[i:head.find(b">", i)])
    return len(ids), foreign


def fs_type(path):
    """Filesystem type of the mount holding path (longest mount prefix)."""
    path = os.path.realpath(path)
    best, fstype = "", "?"
    try:
        with open("/proc/mounts") as f:
            for line in f:
                parts = line.split()
                mnt = parts[1]
                if (path == mnt or path.startswith(mnt.rstrip("/") + "/")) and len(mnt) >= len(best):
                    best, fstype = mnt, parts[2]
    except OSError:
        pass
    return fstype


def stop_pid(pid, proc=None, timeout=STOP_TIMEOUT):
    """SIGTERM a process we started, then SIGKILL after timeout."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None:
            if proc.poll() is not None:
                return
        elif proc_stat(pid) is None:
            return
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    if proc is not None:
        proc.wait(5)


# --------------------------------------------------------------------------
# servers


class KonvertServer:
    """konvert serve with a temp config. extra overrides config keys (e.g.
    auth_checks, dkim_sign). submission=True: the client's port (self.port)
    is the submission listener, where it logs in; the smtp listener is on
    another port."""

    name = "konvert"

    def __init__(self, base, bin_path, sessions_per_ip, name=None, extra=None, submission=False):
        self.base = Path(tempfile.mkdtemp(prefix="konvert-", dir=base))
        self.bin = bin_path
        if name:
            self.name = name
        self.port = free_port()
        smtp_port = self.port
        if submission:
            smtp_port = free_port()
            while smtp_port == self.port:
                smtp_port = free_port()
        self.data_dir = self.base / "var"
        self.conf = self.base / "konvert.conf"
        self.log_path = self.base / "konvert.log"
        self.proc = None
        cfg = {
            "hostname": "bench.test",
            "domains": DOMAIN,
            "data_dir": str(self.data_dir),
            "smtp_listen": "%s:%d" % (HOST, smtp_port),
            "submission_listen": "%s:%d" % (HOST, self.port) if submission else "",
            "smtps_listen": "",
            "pop3_listen": "",
            "pop3s_listen": "",
            "pop2_listen": "",
            "max_sessions_per_ip": str(sessions_per_ip),
            # Plain intake, like the Postfix peer (no SPF/DKIM/DMARC), and
            # never a query to a real resolver: loopback only.
            "auth_checks": "no",
            "dns_servers": "127.0.0.1:9",
        }
        if os.getuid() == 0:
            cfg["run_as"] = "root"
        cfg.update(extra or {})
        self.conf.write_text("".join("%s = %s\n" % kv for kv in cfg.items()).replace(" = \n", " =\n"))

    def maildir(self):
        return self.data_dir / "mail" / DOMAIN / "bench"

    def start(self):
        self.data_dir.mkdir(exist_ok=True)
        r = subprocess.run([str(self.bin), "-c", str(self.conf), "user", "add", RCPT, "--password-stdin"],
                           input=PASSWORD + "\n", capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError("konvert user add failed: %s" % r.stderr.strip())
        logf = open(self.log_path, "wb")
        self.proc = subprocess.Popen([str(self.bin), "serve", "-c", str(self.conf)], stdin=subprocess.DEVNULL,
                                     stdout=logf, stderr=logf, cwd=str(self.base))
        logf.close()
        if not wait_greeting(self.port, START_TIMEOUT, lambda: self.proc.poll() is None):
            tail = self.log_path.read_text(errors="replace")[-2000:]
            self.stop()
            raise RuntimeError("konvert did not start:\n" + tail)

    def pids(self):
        return [self.proc.pid] if self.proc and self.proc.poll() is None else []

    def stop(self):
        if self.proc and self.proc.poll() is None:
            stop_pid(self.proc.pid, self.proc)

    def cleanup(self, keep):
        if not keep:
            shutil.rmtree(self.base, ignore_errors=True)


class PostfixServer:
    """A private Postfix instance: own config_directory, queue_directory and
    data_directory in a temp dir, one smtpd on 127.0.0.1:PORT, virtual(8)
    delivery into a Maildir under the temp dir. Never the system service.

    prepare() builds one checked instance (`postfix -c DIR check` creates the
    queue and data directories with Postfix's owners and modes, the slow part
    of `postfix start`); each run copies it (cp -a), writes its own main.cf
    and master.cf and starts the master with `master -c DIR -w`, which is what
    `postfix start` does after its checks. stop() is `postfix -c DIR stop`;
    the master takes a second or two to go, so cleanup() waits for that."""

    name = "postfix"
    template = None
    daemon_dir = None

    def __init__(self, base, maxproc=100):
        self.base = Path(tempfile.mkdtemp(prefix="postfix-", dir=base))
        os.chmod(self.base, 0o755)
        self.port = free_port()
        self.conf = self.base / "etc"
        self.spool = self.base / "spool"
        self.vmail = self.base / "vmail"
        self.maillog = self.base / "maillog"
        self.maxproc = maxproc
        self.master_pid = None
        self.stopping = []

    @classmethod
    def prepare(cls, base):
        t = cls(base)
        t.write_config()
        r = t.postfix("check")
        if r.returncode != 0:
            raise RuntimeError("postfix check failed: %s %s" % (r.stdout.strip(), r.stderr.strip()))
        r = subprocess.run(["postconf", "-c", str(t.conf), "-h", "daemon_directory"], capture_output=True,
                           text=True, timeout=30)
        daemon_dir = Path(r.stdout.strip() or "/usr/lib/postfix/sbin")
        if not (daemon_dir / "master").exists():
            raise RuntimeError("no %s/master" % daemon_dir)
        cls.template, cls.daemon_dir = t.base, daemon_dir
        # one real start, so that a Postfix that cannot run here is found
        # before the runs (and the aiosmtpd peer used instead)
        probe = cls(base)
        try:
            probe.start()
        except Exception:
            cls.template = None
            raise
        finally:
            probe.stop()
        return probe

    def maildir(self):
        return self.vmail / DOMAIN / "bench"

    def postfix(self, *args, timeout=60):
        return subprocess.run(["postfix", "-c", str(self.conf)] + list(args), capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)

    def write_config(self):
        for d in (self.conf, self.spool):
            d.mkdir(mode=0o755, exist_ok=True)
        self.vmail.mkdir(mode=0o755, exist_ok=True)
        nobody = pwd.getpwnam("nobody").pw_uid
        nogroup = grp.getgrnam("nogroup").gr_gid
        os.chown(self.vmail, nobody, nogroup)
        (self.conf / "vmailbox").write_text("%s %s/bench/\n" % (RCPT, DOMAIN))
        main = {
            "compatibility_level": "3.6",
            "queue_directory": str(self.spool),
            "data_directory": str(self.base / "lib"),
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "myhostname": "peer.test",
            "mydomain": "peer.test",
            "myorigin": "$myhostname",
            "mydestination": "",
            "inet_interfaces": HOST,
            "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.0/8",
            "relayhost": "",
            "alias_maps": "",
            "alias_database": "",
            "local_recipient_maps": "",
            "biff": "no",
            "virtual_mailbox_domains": DOMAIN,
            "virtual_mailbox_base": str(self.vmail),
            "virtual_mailbox_maps": "texthash:%s" % (self.conf / "vmailbox"),
            "virtual_uid_maps": "static:%d" % nobody,
            "virtual_gid_maps": "static:%d" % nogroup,
            "default_process_limit": str(max(100, self.maxproc)),
            "smtpd_client_connection_count_limit": "0",
            "maillog_file": str(self.maillog),
            "maillog_file_prefixes": str(self.base),
            "syslog_name": "postfix-bench",
        }
        (self.conf / "main.cf").write_text("".join("%s = %s\n" % kv for kv in main.items()))
        # service type private unpriv chroot wakeup maxproc command; no chroot
        services = [
            ("%s:%d" % (HOST, self.port), "inet", "n", "-", "n", "-", str(self.maxproc), "smtpd"),
            ("pickup", "unix", "n", "-", "n", "60", "1", "pickup"),
            ("cleanup", "unix", "n", "-", "n", "-", "0", "cleanup"),
            ("qmgr", "unix", "n", "-", "n", "300", "1", "qmgr"),
            ("rewrite", "unix", "-", "-", "n", "-", "-", "trivial-rewrite"),
            ("bounce", "unix", "-", "-", "n", "-", "0", "bounce"),
            ("defer", "unix", "-", "-", "n", "-", "0", "bounce"),
            ("trace", "unix", "-", "-", "n", "-", "0", "bounce"),
            ("verify", "unix", "-", "-", "n", "-", "1", "verify"),
            ("flush", "unix", "n", "-", "n", "1000?", "0", "flush"),
            ("proxymap", "unix", "-", "-", "n", "-", "-", "proxymap"),
            ("proxywrite", "unix", "-", "-", "n", "-", "1", "proxymap"),
            ("smtp", "unix", "-", "-", "n", "-", "-", "smtp"),
            ("relay", "unix", "-", "-", "n", "-", "-", "smtp"),
            ("showq", "unix", "n", "-", "n", "-", "-", "showq"),
            ("error", "unix", "-", "-", "n", "-", "-", "error"),
            ("retry", "unix", "-", "-", "n", "-", "-", "error"),
            ("discard", "unix", "-", "-", "n", "-", "-", "discard"),
            ("local", "unix", "-", "n", "n", "-", "-", "local"),
            ("virtual", "unix", "-", "n", "n", "-", "-", "virtual"),
            ("lmtp", "unix", "-", "-", "n", "-", "-", "lmtp"),
            ("anvil", "unix", "-", "-", "n", "-", "1", "anvil"),
            ("scache", "unix", "-", "-", "n", "-", "1", "scache"),
            ("postlog", "unix-dgram", "n", "-", "n", "-", "1", "postlogd"),
        ]
        (self.conf / "master.cf").write_text("".join("  ".join(s) + "\n" for s in services))
        # Postfix waits (0.3 s steps) until a table or main.cf is over a
        # second old, in case it is still being edited: backdate them.
        past = time.time() - 60
        for f in ("main.cf", "master.cf", "vmailbox"):
            os.utime(self.conf / f, (past, past))

    def start(self):
        if self.template is None:
            raise RuntimeError("PostfixServer.prepare() was not called")
        subprocess.run(["cp", "-a", str(self.template) + "/.", str(self.base)], check=True, timeout=60)
        self.write_config()
        r = subprocess.run([str(self.daemon_dir / "master"), "-c", str(self.conf), "-w"], capture_output=True,
                           text=True, timeout=START_TIMEOUT, stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            raise RuntimeError("postfix master -w failed: %s %s" % (r.stderr.strip(), self.log_tail()))
        pidfile = self.spool / "pid" / "master.pid"
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and self.master_pid is None:
            try:
                self.master_pid = int(pidfile.read_text().split()[0])
            except (OSError, ValueError, IndexError):
                time.sleep(0.05)
        if self.master_pid is None or not wait_greeting(self.port, START_TIMEOUT,
                                                        lambda: proc_stat(self.master_pid) is not None):
            self.stop()
            raise RuntimeError("postfix did not start: %s" % self.log_tail())

    def log_tail(self):
        try:
            return self.maillog.read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def pids(self):
        if self.master_pid is None or proc_stat(self.master_pid) is None:
            return []
        return [self.master_pid] + children_of(self.master_pid)

    def stop(self):
        pids = self.pids()
        if pids:
            ids = [(p, proc_start(p)) for p in pids]
            self.postfix("stop", timeout=STOP_TIMEOUT)
            self.stopping.extend(ids)

    def cleanup(self, keep):
        deadline = time.monotonic() + STOP_TIMEOUT
        def alive(p, start):
            return start is not None and proc_start(p) == start

        while time.monotonic() < deadline and any(alive(*ps) for ps in self.stopping):
            time.sleep(0.05)
        for p, start in self.stopping:  # only processes of this private instance
            if alive(p, start):
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if not keep:
            shutil.rmtree(self.base, ignore_errors=True)


class AiosmtpdServer:
    """Fallback peer: aiosmtpd in its own Python process, each message written
    to Maildir tmp/, fsynced, linked into new/, new/ fsynced (thread pool)."""

    name = "aiosmtpd"

    def __init__(self, base):
        self.base = Path(tempfile.mkdtemp(prefix="aiosmtpd-", dir=base))
        self.port = free_port()
        self.log_path = self.base / "aiosmtpd.log"
        self.proc = None

    def maildir(self):
        return self.base / "Maildir"

    def start(self):
        logf = open(self.log_path, "wb")
        self.proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--serve-aiosmtpd",
                                      str(self.port), str(self.maildir())],
                                     stdin=subprocess.DEVNULL, stdout=logf, stderr=logf)
        logf.close()
        if not wait_greeting(self.port, START_TIMEOUT, lambda: self.proc.poll() is None):
            tail = self.log_path.read_text(errors="replace")[-2000:]
            self.stop()
            raise RuntimeError("aiosmtpd peer did not start:\n" + tail)

    def pids(self):
        return [self.proc.pid] if self.proc and self.proc.poll() is None else []

    def stop(self):
        if self.proc and self.proc.poll() is None:
            stop_pid(self.proc.pid, self.proc)

    def cleanup(self, keep):
        if not keep:
            shutil.rmtree(self.base, ignore_errors=True)


def serve_aiosmtpd(port, maildir):
    """Body of the aiosmtpd peer process (--serve-aiosmtpd PORT MAILDIR)."""
    from concurrent.futures import ThreadPoolExecutor

    from aiosmtpd.smtp import SMTP

    md = Path(maildir)
    for sub in ("tmp", "new", "cur"):
        (md / sub).mkdir(parents=True, exist_ok=True)
    pool = ThreadPoolExecutor(8)
    seq = itertools.count()
    host = socket.gethostname().replace("/", "_").replace(":", "_")

    def deliver(data):
        now = time.time()
        name = "%d.M%dP%dQ%d.%s" % (int(now), int(now * 1e6) % 1000000, os.getpid(), next(seq), host)
        tmp = md / "tmp" / name
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.link(tmp, md / "new" / name)
        os.unlink(tmp)
        dfd = os.open(md / "new", os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)

    class Handler:
        async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
            if address.lower() != RCPT:
                return "550 5.1.1 No such user"
            envelope.rcpt_tos.append(address)
            return "250 2.1.5 Ok"

        async def handle_DATA(self, server, session, envelope):
            data = b"Return-Path: <%s>\n" % envelope.mail_from.encode() + \
                envelope.original_content.replace(b"\r\n", b"\n")
            await asyncio.get_running_loop().run_in_executor(pool, deliver, data)
            return "250 2.0.0 Ok: queued"

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    handler = Handler()
    server = loop.run_until_complete(loop.create_server(
        lambda: SMTP(handler, hostname="peer.test", decode_data=False, enable_SMTPUTF8=True),
        HOST, port, backlog=1024))
    loop.add_signal_handler(signal.SIGTERM, loop.stop)
    loop.add_signal_handler(signal.SIGINT, loop.stop)
    loop.run_forever()
    server.close()
    pool.shutdown(wait=True)


# --------------------------------------------------------------------------
# Postfix discovery and installation


def postfix_installed():
    return shutil.which("postfix") is not None and shutil.which("postconf") is not None \
        and Path("/usr/lib/postfix/sbin/master").exists()


def postfix_version():
    try:
        return subprocess.run(["postconf", "-d", "-h", "mail_version"], capture_output=True, text=True,
                              timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "?"


def system_postfix_state():
    """Read-only look at the system Postfix (never touched by the bench)."""
    states = []
    if shutil.which("systemctl"):
        try:
            r = subprocess.run(["systemctl", "is-active", "postfix"], capture_output=True, text=True, timeout=10)
            out = (r.stdout.strip() or r.stderr.strip()).splitlines()
            out = out[0] if out else "?"
            states.append("systemd not running" if "not been booted" in out or "bus" in out
                          else "systemctl is-active postfix: " + out)
        except (OSError, subprocess.SubprocessError):
            pass
    masters = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.readlink("/proc/%s/exe" % name).endswith("/postfix/sbin/master"):
                    masters.append(int(name))
            except OSError:
                pass
    states.append("Postfix masters running: %s" % (masters or "none"))
    return "; ".join(states), masters


def install_postfix():
    log("installing Postfix (debconf: No configuration; the system service is not set up)")
    sel = "postfix postfix/main_mailer_type select No configuration\npostfix postfix/mailname string localhost\n"
    subprocess.run(["debconf-set-selections"], input=sel, text=True, check=True, timeout=60)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    subprocess.run(["apt-get", "update", "-q"], check=True, timeout=600, env=env, stdin=subprocess.DEVNULL)
    subprocess.run(["apt-get", "install", "-y", "-q", "--no-install-recommends", "postfix"], check=True,
                   timeout=600, env=env, stdin=subprocess.DEVNULL)


# --------------------------------------------------------------------------
# SMTP client (asyncio, raw sockets)


class SMTPError(Exception):
    pass


async def read_reply(reader, timeout=REPLY_TIMEOUT):
    """(code, bytes of all lines)."""
    lines = []
    for _ in range(200):
        line = await asyncio.wait_for(reader.readline(), timeout)
        if not line.endswith(b"\n"):
            raise SMTPError("connection closed after %r" % b"".join(lines + [line])[-200:])
        lines.append(line)
        if line[3:4] != b"-":
            try:
                return int(line[:3]), b"".join(lines)
            except ValueError:
                raise SMTPError("bad reply %r" % line[:200]) from None
    raise SMTPError("reply of more than 200 lines")


def make_body(size):
    """Message text after the per-message headers (about `size` bytes in all):
    the CRLF that ends the last header line, the empty line, the body, and
    CRLF . CRLF. No line starts with '.', so no dot-stuffing."""
    line = (b"The quick brown fox jumps over the lazy dog 0123456789 abcdefghijklmnopqrstuv\r\n")
    head_guess = 220
    n = max(1, (size - head_guess) // len(line))
    return b"\r\n\r\n" + line * n + b".\r\n"


def make_head(c, i, run_id, sender=SENDER):
    return (b"From: <%s>\r\nTo: <%s>\r\nSubject: bench %d/%d\r\n"
            b"Message-ID: <bench-%s-%d-%d@client.test>\r\nDate: Thu, 01 Jan 2026 00:00:00 +0000\r\n"
            b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii"
            % (sender.encode(), RCPT.encode(), c, i, run_id.encode(), c, i))


class Traffic:
    """What the client sends: the envelope sender, an optional login (user,
    password) after EHLO, and head(c, i, run_id, size), the header block of
    message i of session c (the body, make_body(size), follows it)."""

    def __init__(self, sender=SENDER, auth=None, head=None):
        self.sender = sender
        self.auth = auth
        self.head = head or (lambda c, i, run_id, size: make_head(c, i, run_id, sender))


PLAIN = Traffic()


class SignedTraffic(Traffic):
    """Mail from sender@client.test, DKIM-signed once (dkimpy, rsa-sha256,
    h=from:to:subject) per body size: only the Message-ID, which the
    signature does not cover, differs between the messages."""

    def __init__(self, key_pem):
        super().__init__(sender=SENDER)
        self.key = key_pem
        self.fixed = (b"From: <%s>\r\nTo: <%s>\r\nSubject: bench with checks\r\n"
                      b"Date: Thu, 01 Jan 2026 00:00:00 +0000\r\n"
                      b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii"
                      % (SENDER.encode(), RCPT.encode()))
        self.sigs = {}
        self.head = self.signed_head

    def signature(self, size):
        if size not in self.sigs:
            import dkim
            msg = self.fixed + make_body(size)[:-3]  # without the final ".CRLF"
            self.sigs[size] = dkim.sign(msg, DKIM_SELECTOR.encode(), SENDER_DOMAIN.encode(),
                                        self.key, include_headers=[b"from", b"to", b"subject"])
        return self.sigs[size]

    def signed_head(self, c, i, run_id, size):
        return (self.signature(size) + b"Message-ID: <bench-%s-%d-%d@client.test>\r\n" % (run_id.encode(), c, i)
                + self.fixed)


class RunStats:
    def __init__(self):
        self.accepted = 0
        self.latencies = []
        self.errors = []
        self.t_last = None


async def open_session(port, n, auth=None, greet_times=None):
    t0 = time.perf_counter()
    reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port, limit=1 << 16), REPLY_TIMEOUT)
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    # drain() returns only once every byte is handed to the kernel, so the
    # latency clock starts when the final dot has left the client
    writer.transport.set_write_buffer_limits(high=0)
    code, text = await read_reply(reader)
    if greet_times is not None:
        greet_times.append(time.perf_counter() - t0)  # connect to greeting
    if code != 220:
        writer.close()
        raise SMTPError("greeting %r" % text[:200])
    writer.write(b"EHLO client%d.test\r\n" % n)
    code, text = await read_reply(reader)
    if code != 250:
        writer.close()
        raise SMTPError("EHLO %r" % text[:200])
    pipelining = any(l[4:].strip().upper() == b"PIPELINING" for l in text.split(b"\n"))
    if auth:
        token = base64.b64encode(b"\0%s\0%s" % (auth[0].encode(), auth[1].encode()))
        writer.write(b"AUTH PLAIN " + token + b"\r\n")
        code, text = await read_reply(reader)
        if code != 235:
            writer.close()
            raise SMTPError("AUTH PLAIN %r" % text[:200])
    return reader, writer, pipelining


async def send_messages(sess, n, m, size, body, run_id, stats, traffic=PLAIN):
    reader, writer, pipelining = sess
    envelope = b"MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nDATA\r\n" % (traffic.sender.encode(), RCPT.encode())
    for i in range(m):
        if pipelining:
            writer.write(envelope)
            codes = [(await read_reply(reader))[0] for _ in range(3)]
        else:
            codes = []
            for cmd in envelope.split(b"\r\n")[:3]:
                writer.write(cmd + b"\r\n")
                codes.append((await read_reply(reader))[0])
        if codes[2] != 354:
            stats.errors.append("envelope %r" % codes)
            writer.write(b"RSET\r\n")
            await read_reply(reader)
            continue
        writer.write(traffic.head(n, i, run_id, size))
        writer.write(body)
        await writer.drain()
        t0 = time.perf_counter()
        code, text = await read_reply(reader)
        t1 = time.perf_counter()
        if code == 250 and codes[:2] == [250, 250]:
            stats.accepted += 1
            stats.latencies.append(t1 - t0)
            stats.t_last = t1
        else:
            stats.errors.append("DATA end: %r" % text[:120])
    writer.write(b"QUIT\r\n")
    try:
        await read_reply(reader, 5)
    except (SMTPError, OSError, asyncio.TimeoutError):
        pass
    writer.close()


async def workload(port, c, m, size, timeout, run_id, traffic=PLAIN, on_open=None):
    """Opens c sessions (EHLO done, logged in when traffic.auth), calls
    on_open(), then all send m messages at once.
    Returns (stats, t_start, sessions opened)."""
    stats = RunStats()
    res = await asyncio.wait_for(asyncio.gather(*(open_session(port, n, traffic.auth) for n in range(c)),
                                                return_exceptions=True), timeout)
    sessions = []
    for n, r in enumerate(res):
        if isinstance(r, BaseException):
            stats.errors.append("connect %d: %r" % (n, r))
        else:
            sessions.append((n, r))
    body = make_body(size)
    if on_open is not None:
        on_open()
    t_start = time.perf_counter()
    res = await asyncio.gather(*(asyncio.wait_for(send_messages(s, n, m, size, body, run_id, stats, traffic),
                                                  timeout)
                                 for n, s in sessions), return_exceptions=True)
    for r in res:
        if isinstance(r, BaseException):
            stats.errors.append("session: %r" % (r,))
    for _, (_, w, _) in sessions:
        w.close()
    return stats, t_start, len(sessions)


async def idle_sessions(port, n, timeout, hold_fn):
    """Opens n sessions (greeting read, EHLO answered), calls hold_fn() while
    they are all open, closes them. Returns (opened, seconds to open, errors,
    hold_fn's result, the slowest connect-to-greeting seconds)."""
    sem = asyncio.Semaphore(100)
    writers = []
    errors = []
    greet_times = []

    async def one(i):
        async with sem:
            try:
                _, w, _ = await open_session(port, i, greet_times=greet_times)
                writers.append(w)
            except (OSError, SMTPError, asyncio.TimeoutError) as e:
                errors.append(repr(e))

    t0 = time.perf_counter()
    tasks = [asyncio.ensure_future(one(i)) for i in range(n)]
    done, pending = await asyncio.wait(tasks, timeout=timeout)
    for t in pending:
        t.cancel()
    if pending:
        await asyncio.wait(pending, timeout=5)
        errors.append("%d sessions not open after %.0f s" % (len(pending), timeout))
    t_open = time.perf_counter() - t0
    await asyncio.sleep(1.0)  # let the server settle
    result = hold_fn()
    for w in writers:
        w.close()
    await asyncio.sleep(0.2)
    return len(writers), t_open, errors, result, max(greet_times, default=0.0)


# --------------------------------------------------------------------------
# auth_checks: local DNS server, signed mail, what was stored


class BenchDns:
    """tests/dns_server.py's DnsServer on 127.0.0.1 (UDP and TCP, one free
    port), on its own threads. It serves the sender domain client.test: SPF
    "v=spf1 ip4:127.0.0.1 -all", DMARC p=reject and the DKIM key
    sel._domainkey (1024-bit RSA from openssl genrsa, so the record fits one
    TXT string; the private key is written to base/client-dkim.pem). key is
    that key (PEM), which the client signs with. counters() gives (requests
    answered, CPU seconds of the threads that answered them; 0 with replay).

    replay=False: DnsServer as the tests run it, a new thread per request,
    every answer built by dnslib. replay=True: UDP is answered on the
    server's one thread, and each distinct query (all but its ID) is
    answered by DnsServer once; repeats get that answer again with their
    own ID, as from a caching resolver's cache. The default is replay in a
    child process of its own (DnsProcess below); --dns-in-process runs it
    without replay on threads of the bench process."""

    in_process = True

    def __init__(self, base, replay=False):
        sys.path.insert(0, str(ROOT / "tests"))
        import dkim  # noqa: F401 - python3-dkim, needed to sign; fail early
        from dns_server import DnsServer

        key_path = Path(base) / "client-dkim.pem"
        subprocess.run(["openssl", "genrsa", "-out", str(key_path), "1024"], check=True, capture_output=True,
                       timeout=60)
        pub = subprocess.run(["openssl", "rsa", "-in", str(key_path), "-pubout", "-outform", "DER"], check=True,
                             capture_output=True, timeout=60).stdout
        self.key = key_path.read_bytes()
        self.lock = threading.Lock()
        self.answered = 0
        self.cpu = 0.0
        self.replay = replay
        self.srv = DnsServer(HOST, ttl=300)  # konvert caches answers for their TTL, as a resolver would
        self.srv.start()
        # ThreadingMixIn runs each request in a new thread: its CPU time
        # when the request is done is what answering it cost
        for side in (self.srv._udp, self.srv._tcp):
            side.finish_request = self._timed(side.finish_request)
        if replay:
            udp = self.srv._udp
            udp.process_request = socketserver.BaseServer.process_request.__get__(udp)  # no thread
            self.cache = {}
            self.srv._answer = self._replayed(self.srv._answer)
        self.srv.add_txt(SENDER_DOMAIN, "v=spf1 ip4:127.0.0.1 -all")
        self.srv.add_txt("_dmarc." + SENDER_DOMAIN, "v=DMARC1; p=reject")
        self.srv.add_txt("%s._domainkey.%s" % (DKIM_SELECTOR, SENDER_DOMAIN),
                         "v=DKIM1; k=rsa; p=" + base64.b64encode(pub).decode())

    def _timed(self, finish_request):
        def wrapped(request, client_address):
            try:
                finish_request(request, client_address)
            finally:
                t = 0.0 if self.replay else time.thread_time()
                with self.lock:
                    self.answered += 1
                    self.cpu += t
        return wrapped

    def _replayed(self, answer):
        def wrapped(data, proto):
            key = (proto, bytes(data[2:]))
            with self.lock:
                hit = self.cache.get(key)
            if hit is not None:
                return bytes(data[:2]) + hit, None
            reply, mode = answer(data, proto)
            if reply is not None and mode is None and len(self.cache) < 10000:
                with self.lock:
                    self.cache[key] = reply[2:]
            return reply, mode
        return wrapped

    @property
    def dns_servers(self):
        return self.srv.dns_servers

    def counters(self):
        with self.lock:
            return self.answered, self.cpu

    def stop(self):
        self.srv.stop()


class DnsProcess:
    """BenchDns in a child process (this script with --serve-dns DIR), so
    that answering DNS neither competes with the load generator for its GIL
    nor hides in the client's CPU time. counters() gives (requests
    answered, CPU seconds of the whole child process from /proc)."""

    in_process = False

    def __init__(self, base):
        log_path = Path(base) / "dns.log"
        with open(log_path, "wb") as logf:
            self.proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--serve-dns", str(base)],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=logf)
        line = self._line(START_TIMEOUT + 40)  # includes openssl genrsa
        if not line.startswith(HOST + ":"):
            self.stop()
            raise RuntimeError("DNS server did not start: %r %s" % (
                line, log_path.read_text(errors="replace").strip().splitlines()[-1:]))
        self.dns_servers = line
        self.key = (Path(base) / "client-dkim.pem").read_bytes()

    def _line(self, timeout):
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            return ""
        return self.proc.stdout.readline().decode(errors="replace").strip()

    def counters(self):
        cpu = proc_stat(self.proc.pid)
        try:
            self.proc.stdin.write(b"c\n")
            self.proc.stdin.flush()
            answered = int(self._line(10).split()[0])
        except (OSError, ValueError, IndexError):
            answered = 0
        return answered, (cpu[1] + cpu[2]) if cpu else 0.0

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()  # the child stops at end of input
            except OSError:
                pass
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                stop_pid(self.proc.pid, self.proc)


def serve_dns(base):
    """Body of the DNS child process (--serve-dns DIR): prints the
    dns_servers value, answers each "c" line on stdin with "ANSWERED CPU",
    stops at end of input."""
    dns = BenchDns(Path(base), replay=True)
    print(dns.dns_servers, flush=True)
    try:
        for _ in range(10 ** 7):
            line = sys.stdin.readline()
            if not line:
                break
            answered, cpu = dns.counters()
            print("%d %.6f" % (answered, cpu), flush=True)
    finally:
        dns.stop()


def stored_heads(md, limit=16384):
    """The header block of every stored message in new/ and cur/, unfolded:
    a list with one list of (lower-case name, value) per file."""
    heads = []
    for sub in ("new", "cur"):
        d = Path(md) / sub
        if not d.is_dir():
            continue
        for e in os.scandir(d):
            with open(e.path, "rb") as f:
                head = f.read(limit).replace(b"\r\n", b"\n").split(b"\n\n", 1)[0].decode("latin-1")
            fields = []
            for line in head.split("\n"):
                if line[:1] in (" ", "\t") and fields:
                    fields[-1] = (fields[-1][0], fields[-1][1] + " " + line.strip())
                elif ":" in line:
                    name, value = line.split(":", 1)
                    fields.append((name.strip().lower(), value.strip()))
            heads.append(fields)
    return heads


def check_auth_results(md):
    """Every stored message must carry konvert's Authentication-Results with
    spf=pass, dkim=pass and dmarc=pass. (summary, error or None)."""
    counts = collections.Counter()
    for fields in stored_heads(md):
        ar = next((v for n, v in fields if n == "authentication-results"), None)
        if ar is None:
            counts["no Authentication-Results"] += 1
            continue
        res = []
        for method in ("spf", "dkim", "dmarc"):
            m = re.search(r"(?:^|[;\s])%s=([a-z]+)" % method, ar)
            res.append("%s=%s" % (method, m.group(1) if m else "?"))
        counts[" ".join(res)] += 1
    want = "spf=pass dkim=pass dmarc=pass"
    summary = ", ".join("%s: %d" % kv for kv in sorted(counts.items()))
    total = sum(counts.values())
    if not total or counts[want] != total:
        return summary, "Authentication-Results not all %s (%s)" % (want, summary or "no messages")
    return summary, None


def signature_check(expect):
    """A content check: every stored message carries exactly the DKIM
    signatures (a= values, sorted) in expect."""
    expect = sorted(expect)

    def check(md):
        counts = collections.Counter()
        for fields in stored_heads(md):
            algs = sorted(re.search(r"\ba=([a-z0-9-]+)", v).group(1) if re.search(r"\ba=([a-z0-9-]+)", v) else "?"
                          for n, v in fields if n == "dkim-signature")
            counts[" ".join(algs) or "unsigned"] += 1
        summary = ", ".join("%s: %d" % kv for kv in sorted(counts.items()))
        total = sum(counts.values())
        if not total or counts[" ".join(expect) or "unsigned"] != total:
            return summary, "DKIM signatures not all %s (%s)" % (" ".join(expect) or "absent", summary)
        return summary, None

    return check


# --------------------------------------------------------------------------
# runs


def pct(values, q):
    if not values:
        return None
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(q * len(s) + 0.5)) - 1))
    return s[k]


def run_workload(server, c, m, size, timeout, deliver_timeout, traffic=PLAIN, cpu_from_open=False,
                 content_check=None, dns=None):
    """One server, one workload. Returns a dict for the table.
    cpu_from_open: server CPU counts from the moment every session is open
    (and logged in) instead of from before the sessions open.
    content_check(maildir) -> (summary, error or None) looks at what was
    stored; dns (BenchDns) has its queries and CPU counted for the run."""
    row = {"server": server.name, "sent": c * m}
    try:
        server.start()
    except Exception as e:  # noqa: BLE001 - reported in the table
        row["error"] = str(e).splitlines()[0][:100]
        log("%s: %s" % (server.name, e))
        return row
    try:
        time.sleep(0.3)
        sampler = Sampler(server.pids)
        sampler.sample()
        traffic.head(0, 0, "warm-up", size)  # a signature is made (once) before anything is timed
        mark = {"cpu0": tree_cpu_split(server.pids())}

        def opened_all():
            if cpu_from_open:
                mark["cpu0"] = tree_cpu_split(server.pids())
            if dns is not None:
                mark["dns0"] = dns.counters()

        ru0 = resource.getrusage(resource.RUSAGE_SELF)
        sampler.start()
        run_id = "%x" % int(time.time() * 1000)
        try:
            stats, t_start, opened = asyncio.run(workload(server.port, c, m, size, timeout, run_id, traffic,
                                                          opened_all))
        except (OSError, SMTPError, asyncio.TimeoutError) as e:
            sampler.finish()
            row["error"] = "client: %r" % (e,)
            log("%s: %s" % (server.name, row["error"]))
            return row
        t_accept_end = stats.t_last or time.perf_counter()
        # wait until every accepted message is in the Maildir (Postfix
        # delivers after its 250; konvert and aiosmtpd before it)
        md = server.maildir()
        on_disk = count_maildir(md)
        t_deliv = t_accept_end
        deadline = time.monotonic() + deliver_timeout
        while on_disk < stats.accepted and time.monotonic() < deadline:
            time.sleep(0.02)
            on_disk = count_maildir(md)
            t_deliv = time.perf_counter()
        cpu1 = tree_cpu_split(server.pids())
        dns1 = dns.counters() if dns is not None else None
        ru1 = resource.getrusage(resource.RUSAGE_SELF)
        sampler.finish()
        time.sleep(0.5)
        on_disk = count_maildir(md)  # nothing extra may appear either
        unique, foreign = verify_maildir(md, run_id)
        content, content_error = content_check(md) if content_check else (None, None)
        cpu0 = mark["cpu0"]
        span_a = max(t_accept_end - t_start, 1e-9)
        span_d = max(t_deliv - t_start, 1e-9)
        row.update({
            "accepted": stats.accepted,
            "on_disk": on_disk,
            "verified": unique == on_disk == c * m and not foreign,
            "accept_rate": stats.accepted / span_a,
            "deliv_rate": min(on_disk, stats.accepted) / span_d,
            "p50": pct(stats.latencies, 0.50),
            "p99": pct(stats.latencies, 0.99),
            "hwm_kib": sampler.peak_hwm,
            "rss_kib": sampler.peak_rss,
            "pss_kib": sampler.peak_pss,
            "procs": sampler.max_procs,
            "cpu": (cpu1[0] - cpu0[0]) + (cpu1[1] - cpu0[1]),
            "cpu_user": cpu1[0] - cpu0[0],
            "cpu_sys": cpu1[1] - cpu0[1],
            "content": content,
            "content_error": content_error,
            "client_cpu": (ru1.ru_utime + ru1.ru_stime) - (ru0.ru_utime + ru0.ru_stime),
            "wall": span_d,
            "errors": stats.errors,
        })
        if dns1 is not None and "dns0" in mark:
            row["dns_queries"] = dns1[0] - mark["dns0"][0]
            row["dns_cpu"] = dns1[1] - mark["dns0"][1]
        if stats.errors:
            log("%s: %d errors, first: %s" % (server.name, len(stats.errors), stats.errors[0]))
        if content_error:
            log("%s: ERROR: %s" % (server.name, content_error))
        if on_disk != c * m or unique != on_disk or foreign:
            log("%s: %d messages on disk (%d distinct Message-IDs of this run, %d other files), %d sent, %d accepted"
                % (server.name, on_disk, unique, foreign, c * m, stats.accepted))
    finally:
        server.stop()
    return row


def pick_median(runs):
    """The run with the median accept rate, with the range over all runs and
    the number of runs whose on-disk check failed."""
    good = [r for r in runs if not r.get("error")]
    if not good:
        return runs[0]
    good.sort(key=lambda r: r["accept_rate"])
    row = dict(good[(len(good) - 1) // 2])
    row["range"] = (good[0]["accept_rate"], good[-1]["accept_rate"])
    row["runs"] = len(runs)
    row["bad_runs"] = sum(1 for r in runs if r.get("error") or not r.get("verified")
                          or r.get("accepted") != r.get("sent") or r.get("content_error"))
    row["content_errors"] = [r["content_error"] for r in runs if r.get("content_error")]
    # CPU per message over all runs (total CPU / total messages stored) and
    # the lowest and highest single run: for the signing table, where CPU
    # and not the rate is the measure
    per = sorted(r["cpu"] * 1000 / max(r["on_disk"], 1) for r in good)
    row["cpu_ms_range"] = (per[0], per[-1])
    n = max(sum(r["on_disk"] for r in good), 1)
    row["cpu_pooled"] = tuple(sum(r[k] for r in good) * 1000 / n for k in ("cpu", "cpu_user", "cpu_sys"))
    return row


def journal_note(path):
    """'journal' or 'NO journal' for an ext4 mount (jbd2 lists journaled
    devices), '' for other filesystems. ext4 without a journal makes
    creating files slow for minutes after many were deleted (the inode
    allocator steps over each recently deleted inode)."""
    if fs_type(path) != "ext4":
        return ""
    path = os.path.realpath(path)
    best, dev = "", ""
    with open("/proc/mounts") as f:
        for line in f:
            parts = line.split()
            if (path == parts[1] or path.startswith(parts[1].rstrip("/") + "/")) and len(parts[1]) >= len(best):
                best, dev = parts[1], parts[0]
    name = os.path.basename(os.path.realpath(dev)) if dev.startswith("/dev/") else ""
    try:
        journaled = any(e.startswith(name + "-") for e in os.listdir("/proc/fs/jbd2")) if name else False
    except OSError:
        journaled = False
    return "journal" if journaled else "NO journal"


def run_rounds(server, rounds, c, m, size, timeout, deliver_timeout):
    """One konvert, several rounds on the same data_dir; between rounds the
    delivered mail is deleted, as users delete their mail. Returns one row
    per round: msg/s, server CPU ms per message, p99 ms."""
    rows = []
    server.start()
    try:
        md = server.maildir()
        for rnd in range(1, rounds + 1):
            cpu0 = tree_cpu_split(server.pids())
            run_id = "%x" % int(time.time() * 1000)
            stats, t_start, _ = asyncio.run(workload(server.port, c, m, size, timeout, run_id, PLAIN,
                                                     lambda: None))
            t_end = stats.t_last or time.perf_counter()
            deadline = time.monotonic() + deliver_timeout
            while count_maildir(md) < stats.accepted and time.monotonic() < deadline:
                time.sleep(0.02)
            cpu1 = tree_cpu_split(server.pids())
            cpu = (cpu1[0] - cpu0[0]) + (cpu1[1] - cpu0[1])
            rows.append({"round": rnd, "accepted": stats.accepted,
                         "rate": stats.accepted / max(t_end - t_start, 1e-9),
                         "cpu_ms": 1000.0 * cpu / max(stats.accepted, 1),
                         "sys_ms": 1000.0 * (cpu1[1] - cpu0[1]) / max(stats.accepted, 1),
                         "p99": pct(stats.latencies, 0.99), "errors": len(stats.errors)})
            log("round %d: %.0f msg/s, %.3f CPU ms/msg" % (rnd, rows[-1]["rate"], rows[-1]["cpu_ms"]))
            for sub in ("new", "cur"):
                d = md / sub
                if d.is_dir():
                    for f in d.iterdir():
                        f.unlink()
    finally:
        server.stop()
    return rows


def run_scale(server, n, timeout):
    row = {"server": server.name, "want": n}
    try:
        server.start()
    except Exception as e:  # noqa: BLE001
        row["error"] = str(e).splitlines()[0][:100]
        log("%s: %s" % (server.name, e))
        return row
    try:
        time.sleep(0.5)
        pids = server.pids()
        row["rss0"] = mem_sum(pids, "VmRSS")
        row["pss0"] = mem_sum(pids, "Pss", "smaps_rollup")

        def hold():
            p = server.pids()
            return mem_sum(p, "VmRSS"), mem_sum(p, "Pss", "smaps_rollup"), len(p)

        try:
            opened, t_open, errors, (rss1, pss1, nprocs), slowest = asyncio.run(
                idle_sessions(server.port, n, timeout, hold))
        except (OSError, SMTPError, asyncio.TimeoutError) as e:
            row["error"] = "client: %r" % (e,)
            log("%s: %s" % (server.name, row["error"]))
            return row
        row.update({"opened": opened, "t_open": t_open, "rss1": rss1, "pss1": pss1, "procs": nprocs,
                    "errors": errors, "slowest": slowest})
        if errors:
            log("%s: %d of %d sessions failed, first: %s" % (server.name, n - opened, n, errors[0]))
    finally:
        server.stop()
    return row


# --------------------------------------------------------------------------
# output


def table(headers, rows, right_from=1):
    cells = [headers] + [[("" if v is None else str(v)) for v in r] for r in rows]
    widths = [max(len(r[i]) for r in cells if i < len(r)) for i in range(len(headers))]
    out = []
    for k, r in enumerate(cells):
        parts = []
        for i, v in enumerate(r):
            parts.append(v.ljust(widths[i]) if i < right_from else v.rjust(widths[i]))
        out.append("  ".join(parts).rstrip())
        if k == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def fmt_size(n):
    return "%d MiB" % (n // MIB) if n >= MIB and n % MIB == 0 else "%d KiB" % (n // KIB) if n % KIB == 0 else "%d B" % n


def fmt(v, spec):
    return "-" if v is None else spec % v


def machine_line():
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = proc_kib_file("/proc/meminfo", "MemTotal")
    return "%d cores (%s), %.0f GiB RAM, Linux %s" % (os.cpu_count() or 0, model, (mem or 0) / MIB,
                                                      os.uname().release)


def proc_kib_file(path, key):
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def loadavg():
    try:
        return " ".join(open("/proc/loadavg").read().split()[:3])
    except OSError:
        return "?"


# --------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description="SMTP intake benchmark: konvert vs Postfix (or aiosmtpd).")
    ap.add_argument("--quick", action="store_true", help="about 20 seconds instead of about 3 minutes")
    ap.add_argument("--install-peer", action="store_true", help="apt-get install postfix when it is missing")
    ap.add_argument("--peer", choices=("auto", "postfix", "aiosmtpd"), default="auto",
                    help="auto: Postfix when installed and working, else aiosmtpd")
    ap.add_argument("-C", "--clients", type=int, help="concurrent sessions (default 50, quick 20)")
    ap.add_argument("-M", "--messages", type=int, help="messages per session (default 20, quick 10)")
    ap.add_argument("-S", "--size", type=int, help="message size in bytes (default 4096)")
    ap.add_argument("--sessions", type=int, help="idle sessions in the connection-scale run (default 1000, quick 200)")
    ap.add_argument("--repeat", type=int, help="runs of each workload per server (default 3, quick 1)")
    ap.add_argument("--no-large", action="store_true", help="skip the 1 MiB run")
    ap.add_argument("--no-scale", action="store_true", help="skip the connection-scale run")
    ap.add_argument("--rounds", type=int, default=None,
                    help="rounds of 16 sessions x 1 KB on ONE konvert data_dir, its mail deleted between"
                         " rounds (default 4, quick 2; 0 skips): a slowdown of a used data_dir shows here")
    ap.add_argument("--no-checks", action="store_true",
                    help="skip konvert+checks (auth_checks = yes against a local DNS server)")
    ap.add_argument("--no-signing", action="store_true", help="skip the submission runs with dkim_sign = yes / no")
    ap.add_argument("--sign-clients", type=int, help="sessions of the signing runs (default 50, quick 20)")
    ap.add_argument("--sign-messages", type=int, help="messages per session of the signing runs (default 40, quick 50)")
    ap.add_argument("--tmpdir", help="where the servers' temp dirs go (default: $TMPDIR or /tmp)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dirs (configs, logs, Maildirs)")
    ap.add_argument("--dns-in-process", action="store_true",
                    help="run the DNS server for konvert+checks on threads of this process, not in a child")
    ap.add_argument("--serve-aiosmtpd", nargs=2, metavar=("PORT", "MAILDIR"), help=argparse.SUPPRESS)
    ap.add_argument("--serve-dns", metavar="DIR", help=argparse.SUPPRESS)
    a = ap.parse_args()

    if a.serve_dns:
        serve_dns(a.serve_dns)
        return 0

    if a.serve_aiosmtpd:
        serve_aiosmtpd(int(a.serve_aiosmtpd[0]), a.serve_aiosmtpd[1])
        return 0

    t_begin = time.monotonic()
    quick = a.quick
    c = a.clients or (20 if quick else 50)
    m = a.messages or (10 if quick else 20)
    s = a.size or 4 * KIB
    workloads = [(c, m, s)]
    if not a.no_large:
        workloads.append((4, 3, MIB) if quick else (10, 5, MIB))
    repeat = max(1, a.repeat or (1 if quick else 3))
    n_idle = a.sessions or (200 if quick else 1000)
    n_rounds = a.rounds if a.rounds is not None else (2 if quick else 4)
    sign_c = a.sign_clients or (20 if quick else 50)
    sign_m = a.sign_messages or (50 if quick else 40)
    sign_repeat = max(2, repeat)  # at least no, yes, yes, no: neither setting always runs second
    timeout = 30.0 if quick else 90.0
    deliver_timeout = 15.0 if quick else 60.0

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = n_idle + 200
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(want, soft)), hard))
        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        if soft < want:
            n_idle = max(10, soft - 200)
            log("file descriptor limit %d: connection-scale run reduced to %d sessions" % (soft, n_idle))

    if not BIN.exists():
        log("%s does not exist: run `make` first" % BIN)
        return 2
    base = Path(tempfile.mkdtemp(prefix="konvert-bench-", dir=a.tmpdir))
    os.chmod(base, 0o755)  # Postfix's virtual(8) runs as nobody below it
    # a private copy of the binary: a concurrent `make` cannot swap it mid-run
    bin_copy = base / "konvert"
    shutil.copy2(BIN, bin_copy)
    kver = subprocess.run([str(bin_copy), "version"], capture_output=True, text=True, timeout=10).stdout.strip()

    # ---- choose the peer
    servers = []  # every server started, stopped and cleaned up at the end
    sys_state, _ = system_postfix_state() if postfix_installed() else ("Postfix not installed", [])
    peer = "aiosmtpd"
    peer_note = ""
    if a.peer in ("auto", "postfix"):
        if not postfix_installed() and a.install_peer:
            try:
                install_postfix()
            except (OSError, subprocess.SubprocessError) as e:
                log("installing Postfix failed: %s" % e)
            sys_state, _ = system_postfix_state() if postfix_installed() else ("Postfix not installed", [])
        if postfix_installed():
            try:
                servers.append(PostfixServer.prepare(base))
                peer = "postfix"
            except Exception as e:  # noqa: BLE001 - fall back, say why
                peer_note = "Postfix instance did not work here (%s)" % str(e).splitlines()[0][:80]
                log(peer_note)
        else:
            print("Postfix is not installed, so the peer is aiosmtpd. To compare against Postfix, install it:")
            print(POSTFIX_INSTALL)
            print()
            peer_note = "Postfix not installed"
    if peer == "aiosmtpd":
        try:
            import aiosmtpd  # noqa: F401
        except ImportError:
            log("aiosmtpd is missing too (apt-get install python3-aiosmtpd); running konvert alone")
            peer = None

    # ---- the local DNS server for konvert+checks
    dns = None
    checks_note = ""
    if not a.no_checks:
        try:
            dns = BenchDns(base) if a.dns_in_process else DnsProcess(base)
        except Exception as e:  # noqa: BLE001 - say why, run the rest
            checks_note = "konvert+checks skipped: %s (needs python3-dnslib, python3-dkim, openssl)" % (
                str(e).splitlines()[0][:100] if str(e) else repr(e))
            log(checks_note)
    signed = SignedTraffic(dns.key) if dns else None
    login = Traffic(sender=RCPT, auth=(RCPT, PASSWORD))

    def make_server(kind, scale_n=0):
        if kind == "konvert":
            return KonvertServer(base, bin_copy, sessions_per_ip=max(100, scale_n + 100))
        if kind == CHECKS:
            return KonvertServer(base, bin_copy, sessions_per_ip=100, name=CHECKS,
                                 extra={"auth_checks": "yes", "dns_servers": dns.dns_servers})
        if kind.startswith("dkim_sign="):
            return KonvertServer(base, bin_copy, sessions_per_ip=max(100, sign_c + 100), name=kind,
                                 extra={"dkim_sign": kind.split("=", 1)[1]}, submission=True)
        if kind == "postfix":
            return PostfixServer(base, maxproc=max(100, scale_n + 50))
        return AiosmtpdServer(base)

    kinds = ["konvert"] + ([CHECKS] if dns else []) + ([peer] if peer else [])
    if peer == "postfix":
        peer_desc = "Postfix %s (private instance, virtual(8) Maildir delivery)" % postfix_version()
    elif peer == "aiosmtpd":
        import aiosmtpd
        peer_desc = "aiosmtpd %s + fsync Maildir writer (FALLBACK peer: %s)" % (
            aiosmtpd.__version__, peer_note or "chosen with --peer")
    else:
        peer_desc = "none"

    date = time.strftime("%Y-%m-%d %H:%M %Z")
    header = [
        "konvert SMTP intake benchmark, %s%s" % (date, " (--quick)" if quick else ""),
        "machine: %s" % machine_line(),
        "konvert: %s;  peer: %s" % (kver, peer_desc),
        "storage: %s (%s%s); load average at start: %s" % (
            base, fs_type(base) + (" " + journal_note(base) if journal_note(base) else ""),
            ": fsync costs nothing there, use --tmpdir on a disk" if fs_type(base) == "tmpfs"
            else "", loadavg()),
        "system Postfix (left alone): %s" % sys_state,
    ]
    if dns:
        header.append("konvert+checks: auth_checks = yes, dns_servers = %s (tests/dns_server.py, %s);"
                      " mail from %s, DKIM-signed (rsa-sha256, 1024 bits)" % (
                          dns.dns_servers, "in this process" if dns.in_process else "its own process", SENDER))
    elif checks_note:
        header.append(checks_note)

    rows = []
    scale_rows = []
    sign_rows = []
    round_rows = []
    ok = True
    try:
        for (wc, wm, ws) in workloads:
            label = "C=%d M=%d S=%s" % (wc, wm, fmt_size(ws))
            runs = {kind: [] for kind in kinds}
            for rep in range(repeat):
                # alternate the order so that neither server always goes first
                for kind in (kinds if rep % 2 == 0 else kinds[::-1]):
                    log("workload %s on %s (run %d of %d)" % (label, kind, rep + 1, repeat))
                    srv = make_server(kind)
                    servers.append(srv)
                    if kind == CHECKS:
                        runs[kind].append(run_workload(srv, wc, wm, ws, timeout, deliver_timeout, traffic=signed,
                                                       content_check=check_auth_results, dns=dns))
                    else:
                        runs[kind].append(run_workload(srv, wc, wm, ws, timeout, deliver_timeout))
            for kind in kinds:
                r = pick_median(runs[kind])
                r["workload"] = label
                rows.append(r)
                if r.get("error") or r.get("bad_runs"):
                    ok = False
        if not a.no_signing:
            label = "C=%d M=%d S=%s" % (sign_c, sign_m, fmt_size(s))
            sign_kinds = ["dkim_sign=no", "dkim_sign=yes"]
            runs = {kind: [] for kind in sign_kinds}
            for rep in range(sign_repeat):
                for kind in (sign_kinds if rep % 2 == 0 else sign_kinds[::-1]):
                    log("submission %s with %s (run %d of %d)" % (label, kind, rep + 1, repeat))
                    srv = make_server(kind)
                    servers.append(srv)
                    check = signature_check(["ed25519-sha256", "rsa-sha256"] if kind.endswith("yes") else [])
                    runs[kind].append(run_workload(srv, sign_c, sign_m, s, timeout, deliver_timeout, traffic=login,
                                                   cpu_from_open=True, content_check=check))
            for kind in sign_kinds:
                r = pick_median(runs[kind])
                r["workload"] = label
                sign_rows.append(r)
                if r.get("error") or r.get("bad_runs"):
                    ok = False
        if n_rounds > 0:
            log("rounds on one data_dir: %d x (16 sessions x %d x 1 KB)" % (n_rounds, 250 if quick else 1250))
            srv = make_server("konvert")
            servers.append(srv)
            round_rows = run_rounds(srv, n_rounds, 16, 250 if quick else 1250, 1024, timeout * 4,
                                    deliver_timeout)
        if not a.no_scale:
            for kind in [k for k in kinds if k != CHECKS]:
                n = n_idle
                if kind == "postfix":
                    # one smtpd process per session, about 1.3 MiB PSS each:
                    # keep well inside the memory that is available
                    avail = proc_kib_file("/proc/meminfo", "MemAvailable") or 0
                    n = min(n_idle, max(10, avail // (4 * KIB)))
                    if n < n_idle:
                        log("only %d MiB available: Postfix gets %d sessions" % (avail // KIB, n))
                log("connection scale: %d idle sessions on %s" % (n, kind))
                srv = make_server(kind, n)
                servers.append(srv)
                r = run_scale(srv, n, 30.0 if quick else 60.0)
                scale_rows.append(r)
                if kind == "konvert" and (r.get("error") or r.get("opened") != n_idle):
                    ok = False
    finally:
        log("stopping and cleaning up")
        if dns:
            dns.stop()
        for srv in servers:
            srv.stop()
        for srv in servers:
            srv.cleanup(a.keep)
        if a.keep:
            log("kept %s" % base)
        else:
            shutil.rmtree(base, ignore_errors=True)

    # ---- report
    out = []
    heads = ["workload", "server", "sent", "on disk", "msg/s", "msg/s range", "deliv msg/s", "p50 ms", "p99 ms",
             "VmHWM MiB", "RSS MiB", "PSS MiB", "procs", "CPU s", "CPU ms/msg", "client CPU s"]
    trows = []
    for r in rows:
        if r.get("error"):
            trows.append([r["workload"], r["server"], r["sent"], "failed: " + r["error"]])
            continue
        trows.append([
            r["workload"], r["server"], r["sent"],
            "%d%s" % (r["on_disk"], " !" if r.get("bad_runs") else ""),
            fmt(r["accept_rate"], "%.0f"), "%.0f-%.0f" % r["range"], fmt(r["deliv_rate"], "%.0f"),
            fmt(r["p50"] and r["p50"] * 1000, "%.1f"), fmt(r["p99"] and r["p99"] * 1000, "%.1f"),
            fmt(r["hwm_kib"] / KIB, "%.1f"), fmt(r["rss_kib"] / KIB, "%.1f"), fmt(r["pss_kib"] / KIB, "%.1f"),
            r["procs"],
            fmt(r["cpu"], "%.2f"), fmt(r["cpu"] * 1000 / max(r["on_disk"], 1), "%.2f"),
            fmt(r["client_cpu"], "%.2f"),
        ])
    out.append(table(heads, trows, right_from=2))
    if sign_rows:
        heads = ["submission", "server", "sent", "on disk", "DKIM-Signature", "msg/s", "msg/s range", "p50 ms",
                 "p99 ms", "CPU ms/msg", "CPU ms/msg range", "user ms/msg", "sys ms/msg", "client CPU s"]
        trows = []
        for r in sign_rows:
            if r.get("error"):
                trows.append([r["workload"], r["server"], r["sent"], "failed: " + r["error"]])
                continue
            sigs = "CHECK FAILED" if r.get("content_errors") else (
                "2 per msg" if r["server"].endswith("yes") else "none")
            trows.append([
                r["workload"], r["server"], r["sent"],
                "%d%s" % (r["on_disk"], " !" if r.get("bad_runs") else ""), sigs,
                fmt(r["accept_rate"], "%.0f"), "%.0f-%.0f" % r["range"],
                fmt(r["p50"] and r["p50"] * 1000, "%.1f"), fmt(r["p99"] and r["p99"] * 1000, "%.1f"),
                "%.3f" % r["cpu_pooled"][0], "%.3f-%.3f" % r["cpu_ms_range"], "%.3f" % r["cpu_pooled"][1],
                "%.3f" % r["cpu_pooled"][2], fmt(r["client_cpu"], "%.2f"),
            ])
        out.append(table(heads, trows, right_from=2))
    if round_rows:
        heads = ["round (same data_dir)", "accepted", "msg/s", "CPU ms/msg", "of it kernel ms", "p99 ms", "errors"]
        out.append(table(heads, [[str(r["round"]), r["accepted"], "%.0f" % r["rate"], "%.3f" % r["cpu_ms"],
                                  "%.3f" % r["sys_ms"], fmt(r["p99"] and r["p99"] * 1000, "%.1f"), r["errors"]]
                                 for r in round_rows], right_from=1))
    if not a.no_scale:
        heads = ["idle sessions", "server", "open", "open s", "slowest greeting ms", "RSS before MiB",
                 "RSS after MiB", "RSS/session KiB", "PSS/session KiB", "procs"]
        trows = []
        for r in scale_rows:
            if r.get("error"):
                trows.append([str(r["want"]), r["server"], "failed: " + r["error"]])
                continue
            k = max(r["opened"], 1)
            trows.append([
                str(r["want"]), r["server"], r["opened"], "%.1f" % r["t_open"],
                "%.0f" % (r["slowest"] * 1000), "%.1f" % (r["rss0"] / KIB), "%.1f" % (r["rss1"] / KIB),
                "%.1f" % ((r["rss1"] - r["rss0"]) / k), "%.1f" % ((r["pss1"] - r["pss0"]) / k), r["procs"],
            ])
        out.append(table(heads, trows, right_from=2))
    print("\n".join(header))
    print()
    print("\n\n".join(out))
    print()
    print("Each workload ran %d time(s) per server, alternating; the row is the run with the median msg/s,"
          " 'msg/s range' the lowest and highest." % repeat)
    print("msg/s: accepted messages / time from the first MAIL to the last 250;"
          " deliv msg/s: until the last one is in the Maildir.")
    print("p50/p99: end of DATA (final dot written) to the 250. VmHWM / RSS / PSS: largest sum over the"
          " server's processes at one sample (every 0.1 s)")
    print("  of VmHWM (each process's peak since it started), VmRSS (resident during the run), Pss (shared"
          " pages split between processes); procs: most processes at once.")
    print("CPU s: server user+sys incl. reaped children, from before the sessions open to all delivered"
          " (ms/msg: per stored message). '!' = on-disk count"
          " or Message-IDs differ from sent in some run. load average at end: %s; total %.0f s." % (loadavg(), time.monotonic() - t_begin))
    if sign_rows:
        print("submission: konvert's submission listener, each session logged in with AUTH PLAIN as %s before the"
              " clock starts, mail from and to %s" % (RCPT, RCPT))
        print("  (local delivery); dkim_sign = yes signs each message twice (ed25519-sha256 and rsa-sha256, 2048"
              " bits). %d run(s) of each, alternating (no, yes, yes, no, ...)." % sign_repeat)
        print("  CPU ms/msg: server user+sys from the moment every session is logged in to all stored, summed over"
              " the runs / messages stored in them")
        print("  (user, sys: the same split); the range is the lowest and highest single run. msg/s: the run with"
              " the median rate.")
    def by(rs, workload, server):
        return next((r for r in rs if r["workload"] == workload and r["server"] == server and not r.get("error")),
                    None)

    summary = []
    for r in rows:
        if r["server"] != CHECKS or r.get("error"):
            continue
        w = r["workload"]
        plain, pf = by(rows, w, "konvert"), by(rows, w, peer or "")
        errs = r.get("content_errors")
        summary.append("konvert+checks %s: stored Authentication-Results %s in every run%s; DNS: %s queries/msg,"
                       " DNS server CPU %s ms/msg (%s)" % (
                           w, "CHECK FAILED: " + errs[0] if errs else "(%s)" % r["content"],
                           "" if not errs else " (%d of %d runs failed)" % (len(errs), r["runs"]),
                           fmt(r.get("dns_queries") and r["dns_queries"] / max(r["on_disk"], 1), "%.1f"),
                           fmt(r.get("dns_cpu") and r["dns_cpu"] * 1000 / max(r["on_disk"], 1), "%.2f"),
                           "its threads, in this process: part of client CPU s" if dns.in_process
                           else "its own process, not in client CPU s"))
        if pf:
            summary.append("  konvert+checks / %s msg/s: %.0f / %.0f = %.2fx (issue 11: at least 3x); against %s deliv"
                           " msg/s: %.0f / %.0f = %.2fx" % (
                               pf["server"], r["accept_rate"], pf["accept_rate"],
                               r["accept_rate"] / max(pf["accept_rate"], 1e-9), pf["server"], r["deliv_rate"],
                               pf["deliv_rate"], r["deliv_rate"] / max(pf["deliv_rate"], 1e-9)))
        if plain:
            c0 = plain["cpu"] * 1000 / max(plain["on_disk"], 1)
            c1 = r["cpu"] * 1000 / max(r["on_disk"], 1)
            summary.append("  checks cost against konvert without them: msg/s %.0f -> %.0f (%+.0f%%), CPU ms/msg"
                           " %.2f -> %.2f (%+.0f%%)" % (plain["accept_rate"], r["accept_rate"],
                                                      100 * (r["accept_rate"] / max(plain["accept_rate"], 1e-9) - 1),
                                                      c0, c1, 100 * (c1 / max(c0, 1e-9) - 1)))
    no, yes = (by(sign_rows, sign_rows[0]["workload"], k) if sign_rows else None
               for k in ("dkim_sign=no", "dkim_sign=yes"))
    if no and yes:
        c0, c1 = no["cpu_pooled"], yes["cpu_pooled"]
        summary.append("signing (submission %s): CPU ms/msg %.3f -> %.3f: %+.1f%% per message (%+.3f ms, of which"
                       " user %+.3f, sys %+.3f; issue 11: under 10%%); msg/s %.0f -> %.0f (%+.0f%%)" % (
                           no["workload"], c0[0], c1[0], 100 * (c1[0] / max(c0[0], 1e-9) - 1), c1[0] - c0[0],
                           c1[1] - c0[1], c1[2] - c0[2], no["accept_rate"], yes["accept_rate"],
                           100 * (yes["accept_rate"] / max(no["accept_rate"], 1e-9) - 1)))
    if summary:
        print()
        print("\n".join(summary))
    for r in rows + sign_rows:
        if r.get("client_cpu") and r.get("wall") and r["client_cpu"] / r["wall"] > 0.85:
            print("note: client CPU near one core during %s on %s: the client may have limited the rate"
                  % (r["workload"], r["server"]))
    sys.stdout.flush()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
