"""Helpers shared by the konvert pytest suites: a raw SMTP client that shows
every reply as sent, message builders, and readers for delivered Maildir
files. Only 127.0.0.1 / ::1 traffic; every wait is bounded."""

import os
import re
import socket
import time
from pathlib import Path

CRLF = b"\r\n"
QUEUED_RE = re.compile(r"^250 2\.0\.0 Ok: queued as \S+")


class Reply:
    """One SMTP reply: code and every line as text (with code)."""

    def __init__(self, lines):
        self.lines = lines
        self.code = int(lines[-1][:3])

    @property
    def line(self):
        """The last line, e.g. '250 2.1.0 Ok'."""
        return self.lines[-1]

    @property
    def text(self):
        return "\n".join(self.lines)

    def startswith(self, prefix):
        return self.line.startswith(prefix)

    def __repr__(self):
        return "Reply(%r)" % (self.lines,)


class ConnectionClosed(Exception):
    pass


class SMTPConn:
    """Minimal SMTP client over a raw socket. Nothing is fixed up: commands
    and data go out as given so that tests can send broken input."""

    def __init__(self, port, host="127.0.0.1", timeout=10.0, greet=True):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.greeting = self.read_reply() if greet else None

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.sock.sendall(data)

    def readline(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionClosed("connection closed; pending %r" % self.buf[:200])
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        if line.endswith(b"\r"):
            line = line[:-1]
        return line.decode("utf-8", "replace")

    def read_reply(self):
        lines = []
        while True:
            line = self.readline()
            assert len(line) >= 3 and line[:3].isdigit(), "not a reply line: %r" % line
            lines.append(line)
            if len(line) == 3 or line[3] == " ":
                return Reply(lines)
            assert line[3] == "-", "bad reply line: %r" % line

    def cmd(self, line):
        """Sends one command line (CRLF added) and returns its reply."""
        if isinstance(line, str):
            line = line.encode("utf-8")
        self.send(line + CRLF)
        return self.read_reply()

    def expect(self, line, prefix):
        r = self.cmd(line)
        assert r.startswith(prefix), "%r: expected %r, got %r" % (line, prefix, r.lines)
        return r

    def ehlo(self, name="client.test"):
        r = self.cmd("EHLO " + name)
        assert r.code == 250, r.lines
        return r

    def data(self, wire_body):
        """DATA with an already dot-stuffed body ending in CRLF; sends the
        end marker and returns the final reply."""
        r = self.cmd("DATA")
        assert r.startswith("354"), r.lines
        self.send(wire_body + b".\r\n")
        return self.read_reply()

    def send_mail(self, sender, rcpts, msg, mail_params=""):
        """One whole transaction; msg is CRLF text, stuffed here.
        Returns the final reply (asserts the envelope was accepted)."""
        self.expect("MAIL FROM:<%s>%s" % (sender, mail_params), "250 2.1.0")
        for r in rcpts:
            self.expect("RCPT TO:<%s>" % r, "250 2.1.5")
        return self.data(dot_stuff(msg))

    def wait_closed(self, timeout=10.0):
        """True when the peer closes within timeout; replies read meanwhile
        are returned in self.trailing."""
        return wait_for_close(self, self.read_reply, ConnectionClosed, timeout)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def wait_for_close(conn, read_one, closed_exc, timeout=10.0, retry=(socket.timeout,)):
    """Shared by the SMTP and POP test clients: reads with read_one() until
    the peer closes (True) or timeout passes (False); what was read is kept
    in conn.trailing."""
    conn.trailing = []
    deadline = time.monotonic() + timeout
    conn.sock.settimeout(0.2)
    try:
        while time.monotonic() < deadline:
            try:
                conn.trailing.append(read_one())
            except (closed_exc, ConnectionResetError, BrokenPipeError):
                return True
            except retry:
                continue
        return False
    finally:
        conn.sock.settimeout(10.0)


def dot_stuff(msg):
    """RFC 5321 4.5.2: a line starting with '.' gets one more. msg must end
    in CRLF (added if missing)."""
    if not msg.endswith(CRLF):
        msg += CRLF
    if msg.startswith(b"."):
        msg = b"." + msg
    return msg.replace(b"\r\n.", b"\r\n..")


def make_msg(subject="test", body="hello\r\n", msgid=None, sender="x@y.test", to="alice@example.test",
             extra=()):
    hdrs = ["From: <%s>" % sender, "To: <%s>" % to, "Subject: %s" % subject]
    if msgid:
        hdrs.append("Message-ID: <%s>" % msgid)
    hdrs.extend(extra)
    if isinstance(body, str):
        body = body.encode("utf-8")
    return ("\r\n".join(hdrs) + "\r\n\r\n").encode("utf-8") + body


def unique_token(prefix="m"):
    return "%s-%d-%s" % (prefix, os.getpid(), os.urandom(6).hex())


class Stored:
    """A delivered file split into Return-Path, Delivered-To, Received and the rest."""

    def __init__(self, path):
        self.path = Path(path)
        self.raw = self.path.read_bytes()
        first, sep, rest = self.raw.partition(b"\n")
        assert sep, "stored file has no line end: %r" % self.raw[:200]
        m = re.match(rb"^Return-Path: <(.*)>$", first)
        assert m, "first line is not Return-Path: %r" % first
        self.return_path = m.group(1).decode("utf-8", "replace")
        # Delivered-To (as Postfix's local(8) writes it): the mailbox.
        self.delivered_to = None
        if rest.startswith(b"Delivered-To: "):
            line, _, rest = rest.partition(b"\n")
            self.delivered_to = line[len(b"Delivered-To: "):].decode("utf-8", "replace")
        assert rest.startswith(b"Received: from "), "header after the head is not Received: %r" % rest[:200]
        lines = rest.split(b"\n")
        n = 1
        while n < len(lines) and lines[n][:1] in (b" ", b"\t"):
            n += 1
        self.received = b"\n".join(lines[:n])
        self.content = b"\n".join(lines[n:])


def wire_to_stored(msg):
    """What the contract says is stored for a message sent as msg (CRLF
    text, not stuffed): CRLF becomes LF."""
    return msg.replace(b"\r\n", b"\n")


def header_value(content, name):
    """First header `name` of a stored message (LF text), unfolded."""
    head = content.split(b"\n\n", 1)[0]
    m = re.search(rb"(?im)^" + re.escape(name.encode()) + rb":[ \t]*(.*(?:\n[ \t].*)*)", head)
    return m.group(1).replace(b"\n", b"").decode("utf-8", "replace") if m else None


def wait_for(pred, timeout=10.0, interval=0.05):
    """Polls pred until true or timeout (bounded). Returns the last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)
