"""TLS and SASL helpers for the konvert suites (test_smtp_tls.py,
test_smtp_auth.py), built on conftest.Server and util.SMTPConn without
changing them:

- TLSServer: a Server that also listens on smtps, may bind every listener to
  another loopback address (127.0.0.2), and waits for all three ports.
- make_tls_server / tls_server fixtures (import them into a test module).
- TLSConn: SMTPConn that can bind its source address, start with implicit
  TLS or switch with STARTTLS on the raw socket.
- SASL client pieces: PLAIN/LOGIN encoders and a SCRAM-SHA-256 client
  (RFC 5802 / 7677) that checks the server signature.
- openssl/cert helpers: a fresh self-signed pair, fingerprints.

Only 127.0.0.x traffic; every wait is bounded."""

import base64
import hashlib
import hmac
import os
import re
import shutil
import socket
import ssl
import subprocess
import time
from pathlib import Path

import pytest

from conftest import START_TIMEOUT, Server, finish_servers, free_port  # noqa: F401
from util import CRLF, ConnectionClosed, SMTPConn, Stored

HOSTNAME = "mx.test"  # conftest's default hostname
PASSWORDS = {
    "alice@example.test": "pw-alice",
    "bob@example.test": "pw-bob",
    "carol@example.test": "pw-carol",
    "dave@example.test": "pw-dave",
    "erin@other.test": "pw-erin",
}
IO_TIMEOUT = 10.0


# --- the server -------------------------------------------------------------

class TLSServer(Server):
    """Server with the smtps listener on, all listeners on `host`."""

    def __init__(self, base, config=None, aliases=None, host="127.0.0.1"):
        self.host = host
        self.smtps_port = None
        super().__init__(base, config=config, aliases=aliases)

    def pick_ports(self):
        super().pick_ports()
        port = free_port()
        while port in (self.smtp_port, self.submission_port):
            port = free_port()
        self.smtps_port = port
        self.write_config()

    def config_values(self):
        cfg = super().config_values()
        mine = {
            "smtp_listen": "%s:%d" % (self.host, self.smtp_port),
            "submission_listen": "%s:%d" % (self.host, self.submission_port),
            "smtps_listen": "%s:%d" % (self.host, self.smtps_port) if self.smtps_port else "",
        }
        for k, v in mine.items():
            if k not in self.overrides:
                cfg[k] = v
        return cfg

    # conftest probes 127.0.0.1 with plain SMTP only: probe our host, and
    # smtps with a TLS handshake.
    def _wait_ready(self):
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            if (self._probe_port(self.smtp_port) and self._probe_port(self.submission_port)
                    and self._probe_port(self.smtps_port, implicit=True)):
                return True
            time.sleep(0.05)
        return False

    def _probe_port(self, port, implicit=False):
        try:
            with TLSConn(port, host=self.host, source=self.host, implicit=implicit, timeout=2.0) as c:
                if c.greeting.code != 220:
                    return False
                c.send(b"QUIT\r\n")
                c.wait_closed(2.0)
                return True
        except Exception:
            return False

    @property
    def cert_path(self):
        return self.data_dir / "tls" / "cert.pem"

    @property
    def key_path(self):
        return self.data_dir / "tls" / "key.pem"

    def connect(self, port=None, **kw):
        kw.setdefault("host", self.host)
        kw.setdefault("source", self.host)
        return TLSConn(port or self.smtp_port, **kw)

    def connect_smtps(self, **kw):
        kw.setdefault("implicit", True)
        return self.connect(self.smtps_port, **kw)

    def alive(self):
        """The process runs and answers a new smtps and a new plain session."""
        if not self.running():
            return False
        with self.connect_smtps() as c:
            if not c.greeting.startswith("220"):
                return False
            c.ehlo()
            c.expect("NOOP", "250")
        with self.connect(self.submission_port) as c:
            c.ehlo()
            c.expect("NOOP", "250")
        return True


def _new_tls_server(base, users_template, config=None, aliases=None, users=True, host="127.0.0.1"):
    base.mkdir(parents=True)
    if users:
        shutil.copytree(users_template, base / "var")
    return TLSServer(base, config=config, aliases=aliases, host=host)


@pytest.fixture
def make_tls_server(tmp_path, users_template):
    """Factory: make_tls_server(config=..., aliases=..., host=...) ->
    TLSServer (not started); stopped and checked at teardown like
    conftest's make_server."""
    made = []

    def factory(config=None, aliases=None, users=True, host="127.0.0.1", name=None):
        srv = _new_tls_server(tmp_path / (name or "tls%d" % len(made)), users_template, config,
                              aliases, users, host)
        made.append(srv)
        return srv

    yield factory
    problems = finish_servers(made)
    if problems:
        pytest.fail("; ".join(problems))


@pytest.fixture
def tls_server(make_tls_server, request):
    """A started TLSServer; settings from @pytest.mark.konvert(...)."""
    m = request.node.get_closest_marker("konvert")
    kw = dict(m.kwargs) if m else {}
    srv = make_tls_server(**kw)
    srv.start()
    return srv


# --- the client ---------------------------------------------------------------

def client_context(cafile=None, hostname_check=True, minimum=None, maximum=None):
    """Client context; with cafile, the server cert must chain to it (a
    self-signed cert is its own anchor) and name HOSTNAME."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if cafile:
        ctx.load_verify_locations(cafile=str(cafile))
        ctx.check_hostname = hostname_check
        ctx.verify_mode = ssl.CERT_REQUIRED
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if minimum:
        ctx.minimum_version = minimum
    if maximum:
        ctx.maximum_version = maximum
    return ctx


class TLSConn(SMTPConn):
    """SMTPConn with a chosen source address, implicit TLS (smtps) and
    STARTTLS. Replies are read through util.SMTPConn unchanged."""

    def __init__(self, port, host="127.0.0.1", timeout=IO_TIMEOUT, greet=True, source=None,
                 implicit=False, context=None, server_hostname=HOSTNAME):
        # Not SMTPConn.__init__: it cannot bind the source address.
        src = (source, 0) if source else None
        self.sock = socket.create_connection((host, port), timeout=timeout, source_address=src)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.raw = self.sock
        if implicit:
            self.sock = (context or client_context()).wrap_socket(self.sock,
                                                                  server_hostname=server_hostname)
        self.greeting = self.read_reply() if greet else None

    @property
    def tls(self):
        return isinstance(self.sock, ssl.SSLSocket)

    def wrap(self, context=None, server_hostname=HOSTNAME):
        """TLS handshake on the current (raw) socket."""
        self.sock = (context or client_context()).wrap_socket(self.sock, server_hostname=server_hostname)
        return self.sock

    def starttls(self, context=None, ehlo=True):
        r = self.cmd("STARTTLS")
        assert r.line.startswith("220 2.0.0"), "STARTTLS: %r" % r.lines
        assert self.buf == b"", "bytes after the 220 before the handshake: %r" % self.buf
        self.wrap(context)
        if ehlo:
            return self.ehlo()
        return r

    def auth_plain(self, user, password, initial=True, authzid=""):
        """AUTH PLAIN; returns the final reply."""
        token = b64(plain_token(user, password, authzid))
        if initial:
            return self.cmd("AUTH PLAIN " + token)
        r = self.cmd("AUTH PLAIN")
        assert r.line.rstrip() == "334" or r.line == "334 ", "AUTH PLAIN: %r" % r.lines
        return self.cmd(token)

    def auth_login(self, user, password):
        r = self.cmd("AUTH LOGIN")
        assert r.code == 334, r.lines
        assert b64d(r.line[4:]) == b"Username:", r.lines
        r = self.cmd(b64(user))
        assert r.code == 334, r.lines
        assert b64d(r.line[4:]) == b"Password:", r.lines
        return self.cmd(b64(password))

    def auth_scram(self, user, password):
        """A full SCRAM-SHA-256 exchange; returns (final reply, ScramClient).
        Asserts the server signature when the server sends one."""
        sc = ScramClient(user, password)
        r = self.cmd("AUTH SCRAM-SHA-256 " + b64(sc.client_first()))
        if r.code != 334:
            return r, sc
        r = self.cmd(b64(sc.client_final(b64d(r.line[4:]))))
        if r.code != 334:
            return r, sc
        sc.verify_server_final(b64d(r.line[4:]))
        return self.cmd(""), sc

    def login(self, user, password, mech="PLAIN"):
        if mech == "PLAIN":
            r = self.auth_plain(user, password)
        elif mech == "LOGIN":
            r = self.auth_login(user, password)
        else:
            r, _ = self.auth_scram(user, password)
        assert r.line.startswith("235 2.7.0"), "AUTH %s %s: %r" % (mech, user, r.lines)
        return r

    def nothing_pending(self, wait=0.3):
        """True when the server has sent nothing more within `wait`."""
        if self.buf:
            return False
        self.sock.settimeout(wait)
        try:
            data = self.sock.recv(4096)
        except (socket.timeout, ssl.SSLWantReadError):
            return True
        finally:
            self.sock.settimeout(IO_TIMEOUT)
        self.buf += data
        return False


def ehlo_keywords(reply):
    """EHLO reply -> {KEYWORD: 'whole line text'} (greeting line skipped)."""
    return {l[4:].split(" ")[0].upper(): l[4:] for l in reply.lines[1:]}


# --- SASL ------------------------------------------------------------------------

def b64(data):
    if isinstance(data, str):
        data = data.encode("utf-8")
    return base64.b64encode(data).decode("ascii")


def b64d(text):
    return base64.b64decode(text.strip(), validate=True)


def plain_token(user, password, authzid=""):
    return ("%s\0%s\0%s" % (authzid, user, password)).encode("utf-8")


def _saslname(name):
    return name.replace("=", "=3D").replace(",", "=2C")


class ScramClient:
    """RFC 5802 SCRAM-SHA-256 client, no channel binding ("n,,")."""

    def __init__(self, user, password, nonce=None):
        self.user = user
        self.password = password.encode("utf-8")
        self.cnonce = nonce or base64.b64encode(os.urandom(18)).decode("ascii")
        self.gs2 = "n,,"
        self.server_first = None
        self.attrs = None
        self.server_signature = None

    def client_first_bare(self):
        return "n=%s,r=%s" % (_saslname(self.user), self.cnonce)

    def client_first(self):
        return self.gs2 + self.client_first_bare()

    @staticmethod
    def parse(msg):
        out = {}
        for part in msg.split(","):
            k, sep, v = part.partition("=")
            assert sep and len(k) == 1, "bad SCRAM attribute %r in %r" % (part, msg)
            out[k] = v
        return out

    def client_final(self, server_first, proof_tamper=False, nonce_override=None):
        self.server_first = server_first.decode("utf-8")
        a = self.parse(self.server_first)
        self.attrs = a
        assert a["r"].startswith(self.cnonce) and len(a["r"]) > len(self.cnonce), \
            "server nonce does not extend ours: %r" % self.server_first
        salt = base64.b64decode(a["s"], validate=True)
        iters = int(a["i"])
        assert iters >= 4096, "iteration count %d < 4096 (RFC 7677)" % iters
        salted = hashlib.pbkdf2_hmac("sha256", self.password, salt, iters)
        client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
        stored_key = hashlib.sha256(client_key).digest()
        server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
        without_proof = "c=%s,r=%s" % (b64(self.gs2), nonce_override or a["r"])
        auth_message = ",".join([self.client_first_bare(), self.server_first, without_proof]).encode()
        client_sig = hmac.new(stored_key, auth_message, hashlib.sha256).digest()
        proof = bytes(x ^ y for x, y in zip(client_key, client_sig))
        if proof_tamper:
            proof = bytes([proof[0] ^ 1]) + proof[1:]
        self.server_signature = hmac.new(server_key, auth_message, hashlib.sha256).digest()
        return "%s,p=%s" % (without_proof, b64(proof))

    def verify_server_final(self, server_final):
        text = server_final.decode("utf-8")
        a = self.parse(text)
        assert "e" not in a, "server-final carries an error: %r" % text
        assert base64.b64decode(a["v"], validate=True) == self.server_signature, \
            "server signature mismatch: %r" % text


# --- certificates and tools ----------------------------------------------------------

def pem_to_der(pem_text):
    m = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", pem_text, re.S)
    assert m, "no certificate in %r" % pem_text[:300]
    return ssl.PEM_cert_to_DER_cert(m.group(0))


def cert_fingerprint(path_or_pem):
    text = path_or_pem.read_text() if isinstance(path_or_pem, Path) else path_or_pem
    return hashlib.sha256(pem_to_der(text)).hexdigest()


def make_self_signed(directory, cn=HOSTNAME):
    """A new P-256 self-signed pair made with openssl req; returns
    (cert_path, key_path)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / "cert.pem", directory / "key.pem"
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=%s" % cn, "-days", "2",
                        "-keyout", str(key), "-out", str(cert)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return cert, key


def subject_cn(pem_path):
    r = subprocess.run(["openssl", "x509", "-in", str(pem_path), "-noout", "-subject", "-nameopt",
                        "RFC2253"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    m = re.search(r"CN=([^,\n]+)", r.stdout)
    return m.group(1).strip() if m else None


def s_client(port, *extra, starttls=True, host="127.0.0.1", stdin="QUIT\r\n", timeout=20):
    """openssl s_client [-starttls smtp] -connect host:port extra...;
    returns CompletedProcess (text, stdout+stderr merged)."""
    argv = ["openssl", "s_client", "-connect", "%s:%d" % (host, port), "-servername", HOSTNAME,
            "-showcerts"]
    if starttls:
        argv[2:2] = ["-starttls", "smtp", "-name", "client.test"]
    argv += list(extra)
    return subprocess.run(argv, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=timeout)


def s_client_protocol(out):
    """The negotiated protocol from s_client output, or None."""
    m = re.search(r"^New, (TLSv[\d.]+), Cipher is (\S+)", out, re.M)
    if not m or m.group(2) == "(NONE)":
        return None
    return m.group(1)


def only_stored(server, addr):
    files = server.delivered(addr)
    assert len(files) == 1, "%s: expected 1 message, found %d: %s" % (addr, len(files), files)
    return Stored(files[0])


def received_text(stored):
    return stored.received.decode("utf-8", "replace")


__all__ = [
    "CRLF", "ConnectionClosed", "HOSTNAME", "PASSWORDS", "ScramClient", "TLSConn", "TLSServer",
    "b64", "b64d", "cert_fingerprint", "client_context", "ehlo_keywords", "make_self_signed",
    "make_tls_server", "only_stored", "pem_to_der", "plain_token", "received_text", "s_client",
    "s_client_protocol", "subject_cn", "tls_server",
]
