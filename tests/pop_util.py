"""Helpers for the POP3 and POP2 suites: a Server subclass that also opens
the pop3, pop3s and pop2 listeners on free loopback ports, fixtures built on
conftest's users template, a raw line client that shows replies exactly as
sent, Maildir writers for big mailboxes, and a SCRAM-SHA-256 client.
Only 127.0.0.1 traffic; every wait is bounded."""

import base64
import hashlib
import hmac
import os
import socket
import ssl
import time
from pathlib import Path

import pytest

import conftest
from conftest import DEFAULT_USERS, Server, finish_servers, free_port  # noqa: F401
from util import SMTPConn, make_msg, wait_for_close  # noqa: F401

CRLF = b"\r\n"


class PopServer(Server):
    """conftest.Server with the POP listeners on as well."""

    def pick_ports(self):
        taken = set()

        def fresh():
            while True:
                p = free_port()
                if p not in taken:
                    taken.add(p)
                    return p

        self.pop3_port = fresh()
        self.pop3s_port = fresh()
        self.pop2_port = fresh()
        # The SMTP ports must differ from the POP ones too (the OS may hand
        # out a just-closed port again).
        while True:
            super().pick_ports()
            if self.smtp_port not in taken and self.submission_port not in taken:
                break

    def config_values(self):
        cfg = super().config_values()
        base = {
            "pop3_listen": "127.0.0.1:%d" % self.pop3_port,
            "pop3s_listen": "127.0.0.1:%d" % self.pop3s_port,
            "pop2_listen": "127.0.0.1:%d" % self.pop2_port,
        }
        for k, v in base.items():
            if k not in self.overrides:
                cfg[k] = v
        return cfg

    def _wait_ready(self):
        if not super()._wait_ready():
            return False
        if self.overrides.get("pop3_listen") is not None:
            return True
        deadline = time.monotonic() + conftest.START_TIMEOUT
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.pop3_port), timeout=2.0) as s:
                    s.settimeout(2.0)
                    if s.recv(100).startswith(b"+OK"):
                        # Wait for the close, so that the probe no longer
                        # counts against session limits.
                        s.sendall(b"QUIT\r\n")
                        while s.recv(100):
                            pass
                        return True
            except OSError:
                pass
            if self.proc.poll() is not None:
                return False
            time.sleep(0.05)
        return False

    # -- mailboxes ---------------------------------------------------------
    def deliver(self, rcpt, msg, sender="sender@remote.test"):
        """Sends msg (CRLF text, not stuffed) over SMTP to rcpt."""
        with SMTPConn(self.smtp_port) as c:
            c.ehlo()
            r = c.send_mail(sender, [rcpt], msg)
            assert r.startswith("250"), r.lines
            c.cmd("QUIT")

    def files(self, addr):
        """Names of the message files in new/ and cur/."""
        return sorted(p.name for p in self.delivered(addr))


def new_pop_server(base, users_template, config=None, users=True):
    base.mkdir(parents=True)
    if users:
        import shutil

        shutil.copytree(users_template, base / "var")
    return PopServer(base, config=config)


@pytest.fixture
def make_pop_server(tmp_path, users_template):
    """Factory: make_pop_server(config=..., name=...) -> PopServer (not
    started); stopped and checked at teardown like conftest's servers."""
    made = []

    def factory(config=None, users=True, name=None):
        srv = new_pop_server(tmp_path / (name or "pop%d" % len(made)), users_template, config, users)
        made.append(srv)
        return srv

    yield factory
    problems = finish_servers(made)
    if problems:
        pytest.fail("; ".join(problems))


@pytest.fixture
def pop_server(make_pop_server, request):
    """A started PopServer; settings from @pytest.mark.konvert(config=...)."""
    m = request.node.get_closest_marker("konvert")
    kw = dict(m.kwargs) if m else {}
    srv = make_pop_server(config=kw.get("config"))
    srv.start()
    return srv


def tls_context():
    """The server uses a self-signed certificate: no verification."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class Closed(Exception):
    pass


class LineConn:
    """Raw line client for POP3 and POP2: bytes go out as given, replies
    come back as the exact bytes of each line (without CRLF)."""

    def __init__(self, port, timeout=10.0, greet=True, tls=False):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls:
            self.sock = tls_context().wrap_socket(self.sock)
        self.buf = b""
        self.greeting = self.line() if greet else None

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise Closed("connection closed; pending %r" % self.buf[:200])
        self.buf += chunk

    def line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def read_exact(self, n):
        while len(self.buf) < n:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def cmd(self, line):
        """Sends one command (CRLF added) and returns the status line."""
        if isinstance(line, str):
            line = line.encode()
        self.send(line + CRLF)
        return self.line()

    def multi(self):
        """The lines of a multi-line body up to the '.' line, exactly as
        sent (still byte-stuffed)."""
        lines = []
        while True:
            ln = self.line()
            if ln == b".":
                return lines
            lines.append(ln)

    def cmd_multi(self, line):
        status = self.cmd(line)
        assert status.startswith(b"+OK"), (line, status)
        return status, self.multi()

    def login(self, user="alice", password=None):
        password = password or "pw-" + user.split("@")[0]
        assert self.cmd("USER " + user).startswith(b"+OK")
        r = self.cmd("PASS " + password)
        assert r.startswith(b"+OK"), r
        return r

    def closed(self, timeout=10.0):
        """True when the server closes within timeout; lines that arrive
        meanwhile are kept in self.trailing."""
        return wait_for_close(self, self.line, Closed, timeout,
                              retry=(socket.timeout, ssl.SSLError))

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# -- Maildir writers ---------------------------------------------------------

def crlf_size(data):
    """Octets of data with every LF sent as CRLF, plus the CRLF that RETR
    adds after an unterminated last line: what LIST reports."""
    size = len(data) + data.count(b"\n") - data.count(b"\r\n")
    if data and not data.endswith(b"\n"):
        size += 1 if data.endswith(b"\r") else 2
    return size


def put_message(maildir, data, seq, secs=None):
    """Writes data (LF text) into maildir/new/ under a Maildir name with
    ,S= and ,W= the way konvert names its deliveries. Returns the name."""
    maildir = Path(maildir)
    for sub in ("tmp", "new", "cur"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
    secs = secs if secs is not None else 1700000000 + seq
    name = "%d.M%dP%dQ%d.test.host,S=%d,W=%d" % (secs, seq, os.getpid(), seq, len(data), crlf_size(data))
    (maildir / "new" / name).write_bytes(data)
    return name


# -- SCRAM-SHA-256 client (RFC 5802, RFC 7677) ---------------------------------

def _b64(b):
    return base64.b64encode(b).decode()


class ScramClient:
    def __init__(self, user, password):
        self.user = user
        self.password = password.encode()
        self.nonce = _b64(os.urandom(18))
        self.bare = "n=%s,r=%s" % (user.replace("=", "=3D").replace(",", "=2C"), self.nonce)

    def first(self):
        return _b64(("n,," + self.bare).encode())

    def final(self, server_first_b64):
        sf = base64.b64decode(server_first_b64).decode()
        attrs = dict(kv.split("=", 1) for kv in sf.split(","))
        assert attrs["r"].startswith(self.nonce)
        salt = base64.b64decode(attrs["s"])
        it = int(attrs["i"])
        salted = hashlib.pbkdf2_hmac("sha256", self.password, salt, it)
        ckey = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
        stored = hashlib.sha256(ckey).digest()
        without_proof = "c=%s,r=%s" % (_b64(b"n,,"), attrs["r"])
        auth_msg = ",".join([self.bare, sf, without_proof]).encode()
        sig = hmac.new(stored, auth_msg, hashlib.sha256).digest()
        proof = bytes(a ^ b for a, b in zip(ckey, sig))
        skey = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
        self.server_sig = _b64(hmac.new(skey, auth_msg, hashlib.sha256).digest())
        return _b64(("%s,p=%s" % (without_proof, _b64(proof))).encode())

    def verify(self, server_final_b64):
        sf = base64.b64decode(server_final_b64).decode()
        return sf == "v=" + self.server_sig
