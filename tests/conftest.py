"""Fixtures for the konvert end-to-end suites: a Server object that writes a
config into a temporary directory, starts build/konvert on free loopback
ports, and offers the operations the tests need (users, aliases, signals,
mailbox paths).

Use the `server` fixture for a started server. Per-test configuration:

    @pytest.mark.konvert(config={"max_recipients": "3"}, aliases="team: a, b")

Default accounts (created with `konvert user add` once per session and
copied into each server's data_dir): alice, bob, carol, dave @example.test
and erin@other.test, all with password "pw-<localpart>".
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from util import SMTPConn  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
# KONVERT_BIN overrides the binary (e.g. a snapshot while make is rewriting build/).
BIN = Path(os.environ.get("KONVERT_BIN") or ROOT / "build" / "konvert")
DEFAULT_USERS = [
    "alice@example.test",
    "bob@example.test",
    "carol@example.test",
    "dave@example.test",
    "erin@other.test",
]
START_TIMEOUT = 10.0
STOP_TIMEOUT = 15.0


def pytest_configure(config):
    config.addinivalue_line("markers", "konvert(config=None, aliases=None, users=None): server settings")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def require_binary():
    if not BIN.exists():
        pytest.fail("%s does not exist: run `make` first" % BIN)


def run_cli(conf_path, *args, stdin=None, conf_first=True, timeout=30):
    """Runs `konvert -c CONF args...`; returns CompletedProcess (text)."""
    require_binary()
    if conf_first:
        argv = [str(BIN), "-c", str(conf_path)] + list(args)
    else:
        argv = [str(BIN)] + list(args) + ["-c", str(conf_path)]
    return subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=timeout)


class Server:
    def __init__(self, base, config=None, aliases=None):
        self.base = Path(base)
        self.base.mkdir(parents=True, exist_ok=True)
        self.data_dir = self.base / "var"
        self.data_dir.mkdir(exist_ok=True)
        self.conf_path = self.base / "konvert.conf"
        self.log_path = self.base / "konvert.log"
        self.overrides = dict(config or {})
        self.proc = None
        self._log = None
        self.started_once = False
        self.pick_ports()
        if aliases is not None:
            self.write_aliases(aliases)

    # -- configuration -------------------------------------------------
    def pick_ports(self):
        self.smtp_port = free_port()
        self.submission_port = free_port()
        while self.submission_port == self.smtp_port:
            self.submission_port = free_port()
        self.write_config()

    def config_values(self):
        cfg = {
            "hostname": "mx.test",
            "domains": "example.test other.test",
            "data_dir": str(self.data_dir),
            "smtp_listen": "127.0.0.1:%d" % self.smtp_port,
            "submission_listen": "127.0.0.1:%d" % self.submission_port,
            "smtps_listen": "",
            "pop3_listen": "",
            "pop3s_listen": "",
            "pop2_listen": "",
            "relay_networks": "127.0.0.0/8",
            # Relayed test mail must never query a real resolver: a
            # loopback port where nothing answers defers it instead.
            "dns_servers": "127.0.0.1:9",
            # Inbound SPF/DKIM/DMARC need a DNS server: the suites that
            # test them run their own and turn this on.
            "auth_checks": "no",
        }
        if os.getuid() == 0:
            cfg["run_as"] = "root"
        cfg.update(self.overrides)
        return cfg

    def write_config(self):
        lines = ["# written by tests/conftest.py"]
        for k, v in self.config_values().items():
            lines.append(("%s = %s" % (k, v)).rstrip())
        self.conf_path.write_text("\n".join(lines) + "\n")

    def write_aliases(self, text):
        (self.data_dir / "aliases").write_text(text if text.endswith("\n") else text + "\n")

    # -- accounts --------------------------------------------------------
    def cli(self, *args, stdin=None, conf_first=True):
        return run_cli(self.conf_path, *args, stdin=stdin, conf_first=conf_first)

    def add_user(self, addr, pw="secret"):
        r = self.cli("user", "add", addr, "--password-stdin", stdin=pw + "\n")
        assert r.returncode == 0, "user add %s failed (%d): %s" % (addr, r.returncode, r.stderr)
        return r

    def maildir(self, addr):
        local, _, domain = addr.rpartition("@")
        return self.data_dir / "mail" / domain.lower() / local.lower()

    def delivered(self, addr):
        """Paths of the messages in the mailbox (new/ and cur/), sorted."""
        md = self.maildir(addr)
        out = []
        for sub in ("new", "cur"):
            d = md / sub
            if d.is_dir():
                out.extend(p for p in d.iterdir() if p.is_file())
        return sorted(out)

    def tmp_leftovers(self):
        """Files left in any Maildir tmp/ (must be none when idle)."""
        left = []
        mail = self.data_dir / "mail"
        if mail.is_dir():
            for tmp in mail.glob("*/*/tmp"):
                left.extend(p for p in tmp.iterdir())
        return left

    def stray_files(self):
        """Files in data_dir's own working directories (e.g. an intake
        spool), i.e. anywhere but mail/, tls/, queue/ and top-level files
        such as users and aliases. Must be empty when no transaction is
        open: an aborted message may not linger."""
        stray = []
        for top in self.data_dir.iterdir():
            if top.is_dir() and top.name not in ("mail", "tls", "queue", "public", "dkim"):
                stray.extend(p for p in top.rglob("*") if not p.is_dir())
        return stray

    # -- process -----------------------------------------------------------
    @property
    def pid(self):
        return self.proc.pid

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def start(self, retries=3):
        require_binary()
        for attempt in range(retries):
            self._log = open(self.log_path, "ab")
            self._log.write(b"==== start attempt %d\n" % attempt)
            self._log.flush()
            self.proc = subprocess.Popen(
                [str(BIN), "serve", "-c", str(self.conf_path)],
                stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log, cwd=str(self.base))
            if self._wait_ready():
                self.started_once = True
                return self
            rc = self.proc.poll()
            self._reap()
            text = self.log()
            # Lost a race for a free port: pick others, but only on the first
            # start; a restart must get its ports back (SO_REUSEADDR).
            if rc is not None and "in use" in text and not self.started_once and attempt + 1 < retries:
                self.pick_ports()
                continue
            raise AssertionError("server did not become ready (exit %r); log:\n%s" % (rc, text))
        raise AssertionError("server did not start")

    def _wait_ready(self):
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            for port in (self.smtp_port, self.submission_port):
                if not self._probe(port):
                    break
            else:
                return True
            time.sleep(0.05)
        return False

    def _probe(self, port):
        try:
            with SMTPConn(port, timeout=2.0) as c:
                if c.greeting.code != 220:
                    return False
                c.send(b"QUIT\r\n")
                c.wait_closed(2.0)
                return True
        except Exception:
            return False

    def _reap(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(STOP_TIMEOUT)
        if self._log:
            self._log.close()
            self._log = None

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        """SIGTERM and wait; returns the exit status (0 expected)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self._reap()
                raise AssertionError("server did not exit within %ss of SIGTERM" % STOP_TIMEOUT)
        rc = self.proc.returncode
        self._reap()
        return rc

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(STOP_TIMEOUT)
        self._reap()

    def hup(self):
        self.proc.send_signal(signal.SIGHUP)

    def connect(self, port=None, **kw):
        return SMTPConn(port or self.smtp_port, **kw)


@pytest.fixture(scope="session")
def users_template(tmp_path_factory):
    """A data_dir holding the default accounts, made with the real CLI."""
    base = tmp_path_factory.mktemp("users-template")
    srv = Server(base)
    for addr in DEFAULT_USERS:
        srv.add_user(addr, "pw-" + addr.split("@")[0])
    return srv.data_dir


def finish_servers(made):
    """Stops every server made by a test: exit status 0 after SIGTERM, no
    crash during the test, every Maildir tmp/ empty; prints each log
    (pytest shows it for failed tests). Returns the problems found."""
    problems = []
    for srv in made:
        was_running = srv.running()
        try:
            rc = srv.stop()
        except AssertionError as e:
            problems.append(str(e))
            rc = None
        if was_running and rc != 0:
            problems.append("server exited with %r after SIGTERM (expected 0)" % rc)
        if srv.proc is not None and not was_running and rc not in (0, -signal.SIGKILL):
            problems.append("server died during the test with status %r" % rc)
        left = srv.tmp_leftovers()
        if left:
            problems.append("files left in Maildir tmp/: %s" % [str(p) for p in left])
        print("---- konvert log (%s) ----\n%s" % (srv.base, srv.log()))
    return problems


def new_server(base, users_template, config=None, aliases=None, users=True):
    base.mkdir(parents=True)
    if users:
        shutil.copytree(users_template, base / "var")
    return Server(base, config=config, aliases=aliases)


@pytest.fixture
def make_server(tmp_path, users_template):
    """Factory: make_server(config=..., aliases=..., users=True) -> Server
    (not started); checked and stopped at teardown (finish_servers)."""
    made = []

    def factory(config=None, aliases=None, users=True, name=None):
        srv = new_server(tmp_path / (name or "srv%d" % len(made)), users_template, config, aliases, users)
        made.append(srv)
        return srv

    yield factory
    problems = finish_servers(made)
    if problems:
        pytest.fail("; ".join(problems))


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory, users_template):
    """One started server for a whole module, for tests that deliver
    nothing (reply codes). It must still be alive after each test."""
    srv = new_server(tmp_path_factory.mktemp("shared") / "srv", users_template)
    srv.start()
    yield srv
    problems = finish_servers([srv])
    if problems:
        pytest.fail("; ".join(problems))


@pytest.fixture
def shared_smtp(shared_server):
    """A connection to shared_server after EHLO; the server is checked to
    be alive afterwards."""
    assert shared_server.running(), "shared server is not running"
    c = shared_server.connect()
    assert c.greeting.startswith("220"), c.greeting
    c.ehlo()
    yield c
    c.close()
    assert shared_server.running(), "shared server died:\n" + shared_server.log()[-3000:]


@pytest.fixture
def server(make_server, request):
    """A started server; settings from @pytest.mark.konvert(...)."""
    m = request.node.get_closest_marker("konvert")
    kw = dict(m.kwargs) if m else {}
    srv = make_server(**kw)
    srv.start()
    return srv


@pytest.fixture
def smtp(server):
    """A raw connection to the server's SMTP port, after EHLO."""
    c = server.connect()
    assert c.greeting.startswith("220"), c.greeting
    c.ehlo()
    yield c
    c.close()
