"""Relaying against bad input (issue 10, "Bad input"): remote SMTP servers
that misbehave on purpose (garbage, endless multi-line replies, one byte per
second, silence, connections cut in the middle of DATA or right after the
final dot, a permanent refusal in the middle of the transaction) and DNS that
times out, is truncated, answers garbage or absurd records.

Each case must leave the message deferred (still in queue/, with a clear
reason in `konvert queue list` and the log) or bounced with the remote
reply in the report, never lost, and the server must keep serving everyone
else meanwhile. The misbehaving peer is BadPeer below: a listening socket on
127.0.0.2:relay_port and one thread per connection running a script."""

import re
import socket
import subprocess
import threading
import time

import pytest

from conftest import BIN
from test_relay import Peer, bounces, dns, dsn_blocks, queue_files, relay_env, send  # noqa: F401
from util import dot_stuff, make_msg, wait_for

BAD_IP = "127.0.0.2"   # the misbehaving MX (bad.test)
GOOD_IP = "127.0.0.3"  # a well-behaved aiosmtpd MX (good.test)


class Chat:
    """One accepted connection, seen from the fake server."""

    def __init__(self, sock, peer):
        self.sock = sock
        self.peer = peer
        self.buf = b""
        self.got = b""  # everything received on this connection
        sock.settimeout(0.2)

    @property
    def stopping(self):
        return self.peer.stop_ev.is_set()

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def _fill(self):
        """Reads once; False at EOF (or reset), None on a 0.2 s lull."""
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            return None
        except OSError:
            return False
        if not chunk:
            return False
        self.buf += chunk
        self.got += chunk
        return True

    def readline(self, timeout=10.0):
        """The next CRLF line (without it), or None at EOF/timeout/stop."""
        deadline = time.monotonic() + timeout
        while b"\r\n" not in self.buf:
            if self.stopping or time.monotonic() > deadline:
                return None
            if self._fill() is False:
                return None
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode("latin-1")

    def read_bytes(self, n, timeout=10.0):
        deadline = time.monotonic() + timeout
        while len(self.buf) < n and not self.stopping and time.monotonic() < deadline:
            if self._fill() is False:
                break
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_until(self, marker, timeout=10.0):
        deadline = time.monotonic() + timeout
        while marker not in self.buf:
            if self.stopping or time.monotonic() > deadline:
                return None
            if self._fill() is False:
                return None
        data, self.buf = self.buf.split(marker, 1)
        return data + marker

    def wait_eof(self, timeout=10.0):
        """True once the client closed the connection."""
        deadline = time.monotonic() + timeout
        while not self.stopping and time.monotonic() < deadline:
            r = self._fill()
            if r is False:
                return True
            if r is True:
                self.buf = b""
        return False

    def hold(self):
        """Keeps the connection open, reading and discarding, until the
        client leaves or the test stops the peer."""
        while not self.stopping:
            if self._fill() is False:
                return
            self.buf = b""

    def dialog(self, until, data_reply="354 go ahead"):
        """Plays a plain SMTP server until the client sends the command
        named by until ("DATA" after its reply, or "DOT" once the message
        is complete). Returns True when the point was reached."""
        self.send("220 bad.test ESMTP fake\r\n")
        while True:
            line = self.readline()
            if line is None:
                return False
            self.peer.commands.append(line)
            verb = line.split(" ", 1)[0].split(":", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                self.send("250 bad.test\r\n")
            elif verb in ("MAIL", "RCPT", "RSET", "NOOP"):
                self.send("250 2.0.0 ok\r\n")
            elif verb == "QUIT":
                self.send("221 2.0.0 bye\r\n")
                return False
            elif verb == "DATA":
                self.send(data_reply + "\r\n")
                if until == "DATA" or not data_reply.startswith("354"):
                    return True
                body = self.read_until(b"\r\n.\r\n")
                if body is None:
                    return False
                self.peer.messages.append(body)
                if until == "DOT":
                    return True
                self.send("250 2.0.0 queued\r\n")
            else:
                self.send("502 5.5.1 unknown command\r\n")


class BadPeer:
    """A scripted SMTP "server" on host:port: script(chat) runs in its own
    thread for every connection. Records connections, commands, complete
    messages, and whether each connection was closed by the client."""

    def __init__(self, host, port, script, rcvbuf=None):
        self.script = script
        self.stop_ev = threading.Event()
        self.lock = threading.Lock()
        self.connections = 0
        self.chats = []
        self.commands = []
        self.messages = []
        self.partial = b""
        self.eof = None
        self.errors = []
        self.threads = []
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if rcvbuf:  # inherited by accepted sockets; no autotuning
            self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.lsock.bind((host, port))
        self.lsock.listen(16)
        self.lsock.settimeout(0.1)

    def _accept_loop(self):
        while not self.stop_ev.is_set():
            try:
                s, _ = self.lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            chat = Chat(s, self)
            with self.lock:
                self.connections += 1
                self.chats.append(chat)
            t = threading.Thread(target=self._run, args=(chat,), daemon=True)
            t.start()
            self.threads.append(t)

    def _run(self, chat):
        try:
            self.script(chat)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client hung up on us: the scripts expect it
        except Exception as e:  # a broken script must fail the test
            self.errors.append(repr(e))
        finally:
            try:
                chat.sock.close()
            except OSError:
                pass

    def __enter__(self):
        t = threading.Thread(target=self._accept_loop, daemon=True)
        t.start()
        self.threads.append(t)
        return self

    def __exit__(self, *exc):
        self.stop_ev.set()
        for t in self.threads:
            t.join(5)
        self.lsock.close()
        assert not self.errors, self.errors


# ---- helpers ---------------------------------------------------------------

@pytest.fixture(autouse=True)
def no_sanitizer_reports(tmp_path):
    """Runs around every test (and outlives its servers): a SAN build's
    report in any server log fails the test even if the exit status
    did not."""
    yield
    for log in tmp_path.glob("*/konvert.log"):
        text = log.read_text(errors="replace")
        for marker in ("runtime error:", "AddressSanitizer", "LeakSanitizer"):
            assert marker not in text, "%s in %s:\n%s" % (marker, log, text[-6000:])


def setup_dns(dns):
    dns.add_mx("bad.test", 10, "mx1.bad.test")
    dns.add_a("mx1.bad.test", BAD_IP)
    dns.add_mx("good.test", 10, "mx1.good.test")
    dns.add_a("mx1.good.test", GOOD_IP)


def queue_list(srv):
    r = subprocess.run([str(BIN), "-c", str(srv.conf_path), "queue", "list"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout


def queue_cli(srv, *args):
    return subprocess.run([str(BIN), "-c", str(srv.conf_path), "queue"] + list(args),
                          capture_output=True, text=True, timeout=30)


def relay_lines(srv, rcpt):
    return [l for l in srv.log().splitlines()
            if "event=relay" in l and "to=<%s>" % rcpt in l]


def wait_deferred(srv, rcpt, timeout=15):
    ok = wait_for(lambda: any("result=deferred" in l for l in relay_lines(srv, rcpt)), timeout)
    assert ok, srv.log()[-4000:]
    return [l for l in relay_lines(srv, rcpt) if "result=deferred" in l]


def assert_queued_with(srv, rcpt, fragment, n=1):
    """The message for rcpt is still queued (files on disk), shown deferred
    in `queue list` with fragment in its reason; no bounce was sent."""
    # The log line may come a moment before the envelope's rewrite (a
    # .tmp file renamed over it) is done.
    assert wait_for(lambda: fragment in queue_list(srv), 5), queue_list(srv)
    assert wait_for(lambda: len(queue_files(srv)) == n, 5), queue_files(srv)
    assert (srv.data_dir / "queue" / "msg" / queue_files(srv)[0]).is_file()
    out = queue_list(srv)
    assert "<%s>" % rcpt in out, out
    assert "deferred" in out, out
    assert fragment in out, "%r not in queue list:\n%s" % (fragment, out)
    assert not bounces(srv, "alice@example.test")
    return out


def assert_serves_others(srv, good_peer, tag):
    """Inbound SMTP still works (local delivery) and other relayed mail
    goes out at once."""
    before_local = len(srv.delivered("bob@example.test"))
    before_remote = len(good_peer.messages)
    t0 = time.monotonic()
    send(srv, "alice@example.test", ["bob@example.test"], "local " + tag)
    send(srv, "alice@example.test", ["carol@good.test"], "other " + tag)
    assert len(srv.delivered("bob@example.test")) == before_local + 1
    assert wait_for(lambda: len(good_peer.messages) == before_remote + 1, 10), srv.log()[-4000:]
    assert time.monotonic() - t0 < 8
    assert b"Subject: other " + tag.encode() in good_peer.messages[-1][2]


def send_big(srv, sender, rcpt, subject, size):
    """A message of about size bytes (ASCII lines)."""
    line = "x" * 76 + "\r\n"
    body = line * (size // len(line))
    msg = make_msg(subject, body=body, sender=sender, to=rcpt)
    with srv.connect(timeout=30) as c:
        c.ehlo()
        c.expect("MAIL FROM:<%s>" % sender, "250")
        c.expect("RCPT TO:<%s>" % rcpt, "250 2.1.5")
        r = c.data(dot_stuff(msg))
        assert r.code == 250, r.lines
    return msg


# ---- 1. garbage instead of a greeting --------------------------------------

def test_garbage_greeting_defers(relay_env, dns):
    make, port = relay_env
    setup_dns(dns)
    srv = make({"queue_retry": "1h"})
    eofs = []

    def script(chat):
        chat.send(b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/html\r\n"
                  b"Content-Length: 0\r\nConnection: close\r\n\r\n")
        eofs.append(chat.wait_eof(10))

    with BadPeer(BAD_IP, port, script) as bad:
        send(srv, "alice@example.test", ["bob@bad.test"], "garbage")
        lines = wait_deferred(srv, "bob@bad.test")
        assert wait_for(lambda: eofs, 10)
        assert eofs == [True], "konvert did not hang up on the garbage"
        assert bad.connections == 1
    why = "protocol error in state greeting: malformed reply line"
    assert why in lines[0] and "relay=mx1.bad.test" in lines[0], lines
    assert_queued_with(srv, "bob@bad.test", why)
    assert "result=bounced" not in srv.log()
    with Peer(GOOD_IP, port) as good:
        assert_serves_others(srv, good, "after garbage")
    assert srv.running()


# ---- 2. a multi-line reply that never ends ---------------------------------

def test_endless_multiline_greeting_defers(relay_env, dns):
    make, port = relay_env
    setup_dns(dns)
    srv = make({"queue_retry": "1h"})
    result = {}

    def script(chat):
        sent = 0
        try:
            for i in range(5000):
                chat.send("220-bad.test still greeting you, line %d of forever\r\n" % i)
                sent += 1
        except OSError:
            pass
        result["sent"] = sent
        result["eof"] = chat.wait_eof(10)  # then hold; never send "220 "

    with BadPeer(BAD_IP, port, script) as bad:
        send(srv, "alice@example.test", ["bob@bad.test"], "endless")
        lines = wait_deferred(srv, "bob@bad.test")
        assert wait_for(lambda: "eof" in result, 15)
        assert result["eof"], "konvert kept reading the endless reply"
        assert bad.connections == 1
    why = "protocol error in state greeting: reply has too many lines"
    assert why in lines[0], lines
    assert_queued_with(srv, "bob@bad.test", why)
    assert srv.running()


# ---- 3 and 5. one byte per second; never a word ----------------------------

def drip(chat):
    for b in b"220 drip.bad.test ESMTP at one byte per second\r\n":
        if chat.stopping:
            return
        chat.send(bytes([b]))
        chat.peer.stop_ev.wait(1.0)


def silent(chat):
    chat.hold()


def stops_reading_in_data(chat):
    """354, then never reads again: the client's writes back up."""
    if chat.dialog("DATA"):
        chat.peer.stop_ev.wait()


@pytest.mark.parametrize("script,size", [
    (drip, 0), (silent, 0), (stops_reading_in_data, 4 * 1024 * 1024),
], ids=["one-byte-per-second", "never-answers", "stops-reading-in-data"])
def test_stalled_peer_does_not_stall_the_server(relay_env, dns, script, size):
    make, port = relay_env
    setup_dns(dns)
    srv = make()
    with BadPeer(BAD_IP, port, script) as bad, Peer(GOOD_IP, port) as good:
        if size:
            send_big(srv, "alice@example.test", "bob@bad.test", "stalled", size)
            assert wait_for(lambda: any(c.upper() == "DATA" for c in bad.commands), 10), \
                srv.log()[-4000:]
        else:
            send(srv, "alice@example.test", ["bob@bad.test"], "stalled")
        assert wait_for(lambda: bad.connections >= 1, 10), srv.log()[-4000:]
        # While konvert waits (RFC 5321: minutes) on the stalled peer...
        for i in range(3):
            assert_serves_others(srv, good, "while stalled %d" % i)
        assert bad.connections == 1  # still the same, unfinished attempt
        assert not relay_lines(srv, "bob@bad.test")
        # ...and SIGTERM cuts the outgoing connection at once; the
        # message stays queued.
        t0 = time.monotonic()
        rc = srv.stop()
        took = time.monotonic() - t0
    assert rc == 0, srv.log()[-4000:]
    assert took < 5, took
    assert len(queue_files(srv)) == 1
    out = queue_list(srv)
    assert "<bob@bad.test>" in out and "<carol@good.test>" not in out, out
    assert not bounces(srv, "alice@example.test")
    assert "result=bounced" not in srv.log()
    # Not lost: the next start hands it to a server that works.
    with Peer(BAD_IP, port) as fixed:
        srv.start()
        r = queue_cli(srv, "flush", "bad.test")
        assert r.returncode == 0, r.stderr + r.stdout
        assert wait_for(lambda: fixed.messages, 15), srv.log()[-4000:]
        assert wait_for(lambda: not queue_files(srv), 10), queue_files(srv)
    assert [m[1] for m in fixed.messages] == [["bob@bad.test"]]
    assert b"Subject: stalled" in fixed.messages[0][2]
    assert len(fixed.messages[0][2]) >= size


# ---- malformed replies in the middle of the session -------------------------

def bad_mail_reply(reply):
    def script(chat):
        chat.send("220 bad.test ESMTP\r\n")
        while True:
            line = chat.readline()
            if line is None:
                return
            chat.peer.commands.append(line)
            if line.upper().startswith(("EHLO", "HELO")):
                chat.send("250 bad.test\r\n")
            elif line.upper().startswith("MAIL"):
                chat.send(reply)
                chat.peer.eof = chat.wait_eof(10)
                return
            else:
                chat.send("250 ok\r\n")
    return script


@pytest.mark.parametrize("reply,why", [
    (b"250-sender ok\r\n550 5.0.0 changed my mind\r\n",
     "protocol error in state mail: reply lines with different codes"),
    (b"600 6.0.0 a code SMTP does not have\r\n",
     "protocol error in state mail: reply code not 2xx-5xx"),
    (b"OK, sure\r\n", "protocol error in state mail: malformed reply line"),
    (b"250 " + b"x" * 100000 + b"\r\n",
     "protocol error in state mail: reply line longer than 2048 bytes"),
    (b"".join(b"250-%06d\r\n" % i for i in range(2000)) + b"250 ok\r\n",
     "protocol error in state mail: reply has too many lines"),
], ids=["mixed-codes", "code-600", "no-code", "100k-line", "2000-lines"])
def test_malformed_reply_mid_session_defers(relay_env, dns, reply, why):
    make, port = relay_env
    setup_dns(dns)
    srv = make({"queue_retry": "1h"})
    with BadPeer(BAD_IP, port, bad_mail_reply(reply)) as bad:
        bad.eof = None
        send(srv, "alice@example.test", ["bob@bad.test"], "malformed")
        lines = wait_deferred(srv, "bob@bad.test")
        assert wait_for(lambda: bad.eof is not None, 15)
        assert bad.eof, "konvert kept the broken connection open"
        assert bad.connections == 1
        assert [c.split(":")[0].split(" ")[0].upper() for c in bad.commands] == ["EHLO", "MAIL"]
    assert len(lines) == 1 and why in lines[0], lines
    assert_queued_with(srv, "bob@bad.test", why)


# ---- hostile bytes in a refusal ---------------------------------------------

def refuse_rcpt_hostile(chat):
    chat.send("220 bad.test ESMTP\r\n")
    while True:
        line = chat.readline()
        if line is None:
            return
        verb = line.upper()[:4]
        if verb in ("EHLO", "HELO"):
            chat.send("250 bad.test\r\n")
        elif verb == "RCPT":
            # A bare CR, an escape sequence, a NUL and a fake header line:
            # none may reach the report as anything but text.
            chat.send(b"550-5.1.1 <bob@bad.test>: no\rX-Injected: cr\r\n"
                      b"550 5.1.1 \x1b[31mred\x00 and\nX-Injected: lf\r\n")
        elif verb == "QUIT":
            chat.send("221 bye\r\n")
            return
        else:
            chat.send("250 ok\r\n")


def test_hostile_bytes_in_a_refusal_stay_text(relay_env, dns):
    make, port = relay_env
    setup_dns(dns)
    srv = make()
    with BadPeer(BAD_IP, port, refuse_rcpt_hostile):
        send(srv, "alice@example.test", ["bob@bad.test"], "hostile")
        assert wait_for(lambda: bounces(srv, "alice@example.test"), 15), srv.log()[-4000:]
    raw = srv.delivered("alice@example.test")[0].read_bytes()
    assert b"\x1b" not in raw and b"\x00" not in raw and b"\r" not in raw
    assert not re.search(rb"(?m)^X-Injected", raw), raw.decode("latin-1")
    b = dsn_blocks(bounces(srv, "alice@example.test")[0])
    assert len(b) == 1 and set(b[0]) >= {"final-recipient", "action", "status", "diagnostic-code"}
    assert not any(k.startswith("x-injected") for k in b[0]), b
    assert b[0]["action"] == "failed" and b[0]["status"] == "5.1.1", b
    diag = re.sub(r"\s+", " ", b[0]["diagnostic-code"])
    # The LF ended that reply line ("550 5.1.1 ... and"); what follows it is
    # another (malformed) reply, not part of the diagnostic.
    assert diag.startswith("smtp; 550 5.1.1 <bob@bad.test>: no\\x0dX-Injected: cr"), diag
    assert "\\x1b[31mred\\x00 and" in diag, diag
    assert wait_for(lambda: not queue_files(srv), 10)


# ---- 4 and 6. cut in the middle of DATA, or after the final dot ------------

def cut_in_body(chat):
    if chat.dialog("DATA"):
        chat.peer.partial = chat.read_bytes(64 * 1024)
        # close() with unread data in the buffer: the client gets a reset


def cut_after_dot(chat):
    if chat.dialog("DOT"):
        pass  # no reply to the dot: just hang up


@pytest.mark.parametrize("script,state,size", [
    # Larger than what the kernel can buffer (4 MB send buffer at most
    # here, and a small receive buffer at the peer), so konvert is still
    # writing the body when the peer hangs up.
    (cut_in_body, "body", 6 * 1024 * 1024),
    (cut_after_dot, "dot", 0),
], ids=["mid-data", "after-dot"])
def test_cut_connection_defers_then_delivers(relay_env, dns, script, state, size):
    make, port = relay_env
    setup_dns(dns)
    srv = make({"queue_retry": "1h"})
    subject = "cut in %s" % state
    with BadPeer(BAD_IP, port, script, rcvbuf=32 * 1024) as bad:
        if size:
            send_big(srv, "alice@example.test", "bob@bad.test", subject, size)
        else:
            send(srv, "alice@example.test", ["bob@bad.test"], subject)
        lines = wait_deferred(srv, "bob@bad.test")
        assert any(c.upper().startswith("DATA") for c in bad.commands), bad.commands
    assert len(lines) == 1, lines
    # EOF or a reset, depending on timing; the state is what matters.
    m = re.search(r'reply="(4\.4\.2 connection [^"]*)"', lines[0])
    assert m and ("in state %s" % state) in m.group(1), lines
    assert_queued_with(srv, "bob@bad.test", "in state %s" % state)
    if state == "body":
        assert bad.messages == [] and 0 < len(bad.partial) <= 64 * 1024
    else:
        # The bad peer got the whole message but never said 250: the
        # documented duplicate window (RFC 1047); konvert must send again.
        assert len(bad.messages) == 1 and b"Subject: " + subject.encode() in bad.messages[0]
    # The bad server is gone; a good one takes its place.
    with Peer(BAD_IP, port) as good:
        r = queue_cli(srv, "flush", "bad.test")
        assert r.returncode == 0, r.stderr + r.stdout
        assert wait_for(lambda: good.messages, 20), srv.log()[-4000:]
        assert wait_for(lambda: not queue_files(srv), 10), queue_files(srv)
    assert len(good.messages) == 1
    frm, rcpts, content = good.messages[0]
    assert frm == "alice@example.test" and rcpts == ["bob@bad.test"]
    assert b"Subject: " + subject.encode() in content
    if size:
        assert len(content) > size
    results = [re.search(r"result=(\w+)", l).group(1) for l in relay_lines(srv, "bob@bad.test")]
    assert results == ["deferred", "sent"], relay_lines(srv, "bob@bad.test")
    assert not bounces(srv, "alice@example.test")


# ---- 8. a permanent refusal in the middle of the transaction --------------

DATA_REFUSAL = "550 5.7.1 bad.test: we do not want your DATA today"
DOT_REFUSAL = "554 5.6.0 bad.test: message content rejected after the dot"


def refuse_data(chat):
    chat.dialog("DATA", data_reply=DATA_REFUSAL)
    chat.hold()  # answers nothing more: QUIT is up to the client


def refuse_dot(chat):
    if chat.dialog("DOT"):
        chat.send(DOT_REFUSAL + "\r\n")
        line = chat.readline()
        if line is not None and line.upper() == "QUIT":
            chat.send("221 2.0.0 bye\r\n")


@pytest.mark.parametrize("script,refusal,status", [
    (refuse_data, DATA_REFUSAL, "5.7.1"),
    (refuse_dot, DOT_REFUSAL, "5.6.0"),
], ids=["550-to-DATA", "554-after-dot"])
def test_permanent_refusal_mid_transaction_bounces(relay_env, dns, script, refusal, status):
    make, port = relay_env
    setup_dns(dns)
    srv = make()
    with BadPeer(BAD_IP, port, script) as bad:
        send(srv, "alice@example.test", ["bob@bad.test"], "refused")
        assert wait_for(lambda: bounces(srv, "alice@example.test"), 15), srv.log()[-4000:]
        assert bad.connections == 1
    rep = bounces(srv, "alice@example.test")[0]
    b = dsn_blocks(rep)
    assert len(b) == 1, b
    assert b[0]["final-recipient"] == "rfc822; bob@bad.test"
    assert b[0]["action"] == "failed" and b[0]["status"] == status, b
    assert b[0]["remote-mta"] == "dns; mx1.bad.test", b
    diag = re.sub(r"\s+", " ", b[0]["diagnostic-code"])
    assert diag.startswith("smtp;") and refusal in diag, diag
    # The original message comes back with the report.
    assert "Subject: refused" in rep.as_string()
    assert wait_for(lambda: not queue_files(srv), 10), queue_files(srv)
    lines = relay_lines(srv, "bob@bad.test")
    assert len(lines) == 1 and "result=bounced" in lines[0] and refusal in lines[0], lines


# ---- 7. DNS that misbehaves -----------------------------------------------

@pytest.mark.parametrize("mode,why", [
    ("servfail", "451 4.4.3 broken.test: MX lookup for broken.test failed: "
                 "no usable answer from the DNS servers (SERVFAIL, REFUSED or unreachable)"),
    # TC over UDP, then the TCP connection closes without an answer.
    ("truncate", "451 4.4.3 broken.test: MX lookup for broken.test failed: "
                 "no usable answer from the DNS servers (SERVFAIL, REFUSED or unreachable)"),
    ("garbage", "451 4.4.3 broken.test: MX lookup for broken.test failed: malformed or truncated DNS answer"),
], ids=["servfail", "truncate", "garbage"])
def test_dns_failure_defers_with_reason(relay_env, dns, mode, why):
    make, port = relay_env
    setup_dns(dns)
    dns.add_mx("broken.test", 10, "mx1.broken.test")
    dns.add_a("mx1.broken.test", BAD_IP)
    dns.set_behaviour("broken.test", mode)
    srv = make({"queue_retry": "1h"})
    send(srv, "alice@example.test", ["bob@broken.test"], "dns " + mode)
    lines = wait_deferred(srv, "bob@broken.test", 25)
    assert why in lines[0], lines
    assert ("broken.test", "MX") in dns.asked()
    if mode == "truncate":
        # The UDP answer said TC: the client must have retried over TCP.
        assert ("broken.test", "MX", "tcp") in dns.queries(), dns.queries()
    assert_queued_with(srv, "bob@broken.test", why)
    with Peer(GOOD_IP, port) as good:
        assert_serves_others(srv, good, "after dns " + mode)
    # Once DNS is healthy again, the message goes out (no loss).
    dns.set_behaviour("broken.test", None)
    with Peer(BAD_IP, port) as peer:
        r = queue_cli(srv, "flush", "broken.test")
        assert r.returncode == 0, r.stderr + r.stdout
        assert wait_for(lambda: peer.messages, 15), srv.log()[-4000:]
    assert wait_for(lambda: not queue_files(srv), 10)


def test_dns_timeout_defers_and_others_are_served(relay_env, dns):
    make, port = relay_env
    setup_dns(dns)
    dns.set_behaviour("slow.test", "timeout")
    srv = make({"queue_retry": "1h"})
    t0 = time.monotonic()
    send(srv, "alice@example.test", ["bob@slow.test"], "dns timeout")
    assert dns.wait_for_query("slow.test", "MX")
    with Peer(GOOD_IP, port) as good:
        # The lookup hangs for its full 20 s budget; meanwhile everything
        # else flows.
        assert_serves_others(srv, good, "during dns timeout")
        assert not relay_lines(srv, "bob@slow.test")
        lines = wait_deferred(srv, "bob@slow.test", 30)
    assert time.monotonic() - t0 < 28
    assert "451 4.4.3 slow.test: MX lookup for slow.test failed: DNS timeout" in lines[0], lines
    assert_queued_with(srv, "bob@slow.test", "DNS timeout")


def busy(chat):
    chat.send("421 4.3.2 mx.bad.test too busy, come back later\r\n")
    line = chat.readline(5)
    chat.peer.commands.append(line)
    if line == "QUIT":
        chat.send("221 2.0.0 bye\r\n")


def test_absurd_mx_count_is_bounded(relay_env, dns):
    """100 MX records, all at a peer that says 421: the client tries a few
    and defers with the peer's own words, it does not try all 100."""
    make, port = relay_env
    dns.absurd_mx("many.test", 100, base=BAD_IP)
    srv = make({"queue_retry": "1h"})
    with BadPeer(BAD_IP, port, busy) as bad:
        send(srv, "alice@example.test", ["bob@many.test"], "absurd mx")
        lines = wait_deferred(srv, "bob@many.test", 20)
        n = bad.connections
    assert 2 <= n <= 10, n
    assert "421 4.3.2 mx.bad.test too busy" in lines[0], lines
    # The MX list came over TCP (too big for UDP), and not all 100 hosts'
    # addresses were looked up.
    assert ("many.test", "MX", "tcp") in dns.queries()
    a_lookups = {q[0] for q in dns.queries() if q[1] == "A"}
    assert 1 <= len(a_lookups) <= 32, len(a_lookups)
    assert_queued_with(srv, "bob@many.test", "too busy")


def test_absurd_mx_count_still_delivers(relay_env, dns):
    make, port = relay_env
    dns.absurd_mx("many.test", 100, base=GOOD_IP)
    srv = make()
    with Peer(GOOD_IP, port) as good:
        send(srv, "alice@example.test", ["bob@many.test"], "absurd but valid")
        assert wait_for(lambda: good.messages, 15), srv.log()[-4000:]
        assert wait_for(lambda: not queue_files(srv), 10)
    assert len(good.messages) == 1 and good.messages[0][1] == ["bob@many.test"]
    sent = [l for l in relay_lines(srv, "bob@many.test") if "result=sent" in l]
    assert len(sent) == 1 and "relay=mx0.many.test" in sent[0], sent


def test_absurd_mx_without_addresses_bounces(relay_env, dns):
    """100 MX hosts, none of which exists: a bounce that says so (RFC 5321
    5.1: no MX host has an address), after a bounded number of lookups."""
    make, _ = relay_env
    dns.absurd_mx("ghost.test", 100, with_addresses=False)
    srv = make({"queue_retry": "1h"})
    send(srv, "alice@example.test", ["bob@ghost.test"], "ghost mx")
    assert wait_for(lambda: bounces(srv, "alice@example.test"), 15), srv.log()[-4000:]
    b = dsn_blocks(bounces(srv, "alice@example.test")[0])
    assert len(b) == 1 and b[0]["action"] == "failed" and b[0]["status"] == "5.4.4", b
    # No remote MTA spoke, so no Diagnostic-Code: the reason is in the
    # human-readable part.
    rep = bounces(srv, "alice@example.test")[0]
    text = [p for p in rep.walk() if p.get_content_type() == "text/plain"][0].get_content()
    text = re.sub(r"\s+", " ", text)
    assert "<bob@ghost.test>: could not be delivered." in text, text
    assert "550 5.4.4 ghost.test: no MX host of ghost.test has an address (32 tried; " \
        "host mx0.ghost.test does not exist (NXDOMAIN))" in text, text
    hosts = {q[0] for q in dns.queries() if q[1] in ("A", "AAAA")}
    assert 1 <= len(hosts) <= 32, len(hosts)
    assert wait_for(lambda: not queue_files(srv), 10), queue_files(srv)
