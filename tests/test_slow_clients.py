"""Slow and half-open clients: the TLS handshake deadline
(tls_handshake_timeout), the per-line command deadline (smtp_timeout,
pop3_timeout: counted from the start of a line, not from its last byte),
the whole-transfer deadline for DATA/BDAT (data_timeout), and messages
with NUL bytes (554 5.6.0, nothing stored).

Every wait is bounded; only 127.0.0.1 traffic."""

import select
import socket
import ssl
import time

import pytest

from pop_util import LineConn, make_pop_server, pop_server  # noqa: F401 (fixtures)
from tls_util import HOSTNAME, client_context, make_tls_server, tls_server  # noqa: F401
from util import make_msg, wait_for

ALICE = "alice@example.test"
DRIP = 0.3  # seconds between two bytes of a drip-fed client


# --- helpers ------------------------------------------------------------------------

def client_hello():
    """The bytes of one real TLS ClientHello."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = client_context().wrap_bio(incoming, outgoing, server_hostname=HOSTNAME)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    data = outgoing.read()
    assert data[:1] == b"\x16", data[:10]
    return data


def read_until_closed(sock, timeout):
    """Reads until the peer closes; returns (closed, bytes read)."""
    got = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r, _, _ = select.select([sock], [], [], max(0.0, min(0.2, deadline - time.monotonic())))
        if not r:
            continue
        try:
            chunk = sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            return True, got
        if not chunk:
            return True, got
        got += chunk
    return False, got


def drip(sock, data, timeout=15.0):
    """Sends data one byte every DRIP seconds until the peer closes.
    Returns (closed, seconds from the first byte to the close, bytes the
    server sent meanwhile, bytes sent)."""
    got = b""
    sent = 0
    start = time.monotonic()
    deadline = start + timeout
    for b in data:
        if time.monotonic() >= deadline:
            break
        try:
            sock.sendall(bytes([b]))
            sent += 1
        except (BrokenPipeError, ConnectionResetError):
            break
        r, _, _ = select.select([sock], [], [], DRIP)
        if r:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, BrokenPipeError):
                return True, time.monotonic() - start, got, sent
            if not chunk:
                return True, time.monotonic() - start, got, sent
            got += chunk
        else:
            time.sleep(0)
    closed, more = read_until_closed(sock, max(0.0, deadline - time.monotonic()))
    return closed, time.monotonic() - start, got + more, sent


def smtp_raw(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def no_trace_of_message(srv, addr=ALICE):
    assert wait_for(lambda: not srv.tmp_leftovers() and not srv.stray_files(), timeout=5), \
        (srv.tmp_leftovers(), srv.stray_files())
    assert srv.delivered(addr) == []


# --- TLS handshake deadline -----------------------------------------------------------

TLS_CFG = {"tls_handshake_timeout": "1s", "smtp_timeout": "30s"}


@pytest.mark.konvert(config=TLS_CFG)
@pytest.mark.parametrize("sent", ["nothing", "half-hello"])
def test_stalled_client_hello_smtps(tls_server, sent):
    with smtp_raw(tls_server.smtps_port) as s:
        start = time.monotonic()
        if sent == "half-hello":
            hello = client_hello()
            s.sendall(hello[:len(hello) // 2])
        closed, got = read_until_closed(s, 8)
        took = time.monotonic() - start
    assert closed, "stalled handshake still open after 8 s (tls_handshake_timeout=1s)"
    assert 0.7 <= took <= 4.0, took
    assert got == b"", "bytes sent to a stalled handshake: %r" % got[:100]
    assert "event=tls-timeout" in tls_server.log()
    assert tls_server.alive()


@pytest.mark.konvert(config=TLS_CFG)
def test_stalled_handshake_after_starttls(tls_server):
    with tls_server.connect(tls_server.submission_port) as c:
        c.ehlo()
        c.expect("STARTTLS", "220 2.0.0")
        hello = client_hello()
        start = time.monotonic()
        c.send(hello[:40])
        closed, got = read_until_closed(c.sock, 8)
        took = time.monotonic() - start
    assert closed, "stalled STARTTLS handshake still open after 8 s"
    assert 0.7 <= took <= 4.0, took
    assert b"421" not in got and b"250" not in got, got[:100]
    assert tls_server.alive()


POP_TLS_CFG = {"tls_handshake_timeout": "1s"}


@pytest.mark.konvert(config=POP_TLS_CFG)
@pytest.mark.parametrize("sent", ["nothing", "half-hello"])
def test_stalled_client_hello_pop3s(pop_server, sent):
    with socket.create_connection(("127.0.0.1", pop_server.pop3s_port), timeout=10) as s:
        start = time.monotonic()
        if sent == "half-hello":
            hello = client_hello()
            s.sendall(hello[:len(hello) // 2])
        closed, got = read_until_closed(s, 8)
        took = time.monotonic() - start
    assert closed, "stalled pop3s handshake still open after 8 s"
    assert 0.7 <= took <= 4.0, took
    assert got == b"", got[:100]
    # a complete handshake is served as before
    with LineConn(pop_server.pop3s_port, tls=True) as c:
        assert c.greeting.startswith(b"+OK")


@pytest.mark.konvert(config=POP_TLS_CFG)
def test_stalled_handshake_after_stls(pop_server):
    with LineConn(pop_server.pop3_port) as c:
        assert c.cmd("STLS").startswith(b"+OK")
        start = time.monotonic()
        closed, got = read_until_closed(c.sock, 8)
        took = time.monotonic() - start
    assert closed, "stalled STLS handshake still open after 8 s"
    assert 0.7 <= took <= 4.0, took
    assert got == b"", got[:100]


# --- command deadline: counted from the start of the line --------------------------------

@pytest.mark.konvert(config={"smtp_timeout": "2s"})
def test_drip_fed_smtp_command_is_cut_off(server):
    with smtp_raw(server.smtp_port) as s:
        s.recv(4096)  # greeting
        s.sendall(b"EHLO client.test\r\n")
        time.sleep(0.2)
        s.recv(4096)
        line = b"MAIL FROM:<" + b"d" * 60 + b"@example.test>\r\n"
        closed, took, got, sent = drip(s, line)
    assert closed, "drip-fed client still connected; server sent %r" % got
    assert sent < len(line), "the whole line went through"
    assert 1.5 <= took <= 3.5, "cut off after %.1f s, expected near smtp_timeout=2s" % took
    assert got.startswith(b"421 4.4.2 mx.test Error: timeout exceeded\r\n"), got
    assert b"250" not in got, got


@pytest.mark.konvert(config={"pop3_timeout": "2s"})
def test_drip_fed_pop3_command_is_cut_off(pop_server):
    with LineConn(pop_server.pop3_port) as c:
        line = b"USER " + b"u" * 60 + b"\r\n"
        closed, took, got, sent = drip(c.sock, line)
    assert closed, "drip-fed POP3 client still connected; server sent %r" % got
    assert sent < len(line)
    assert 1.5 <= took <= 3.5, "cut off after %.1f s, expected near pop3_timeout=2s" % took
    assert got == b"-ERR disconnected for inactivity\r\n", got


@pytest.mark.konvert(config={"smtp_timeout": "5s", "data_timeout": "2s"})
def test_drip_fed_data_hits_data_timeout(server):
    with server.connect() as c:
        c.ehlo()
        c.expect("MAIL FROM:<x@y.test>", "250 2.1.0")
        c.expect("RCPT TO:<%s>" % ALICE, "250 2.1.5")
        assert c.cmd("DATA").startswith("354")
        body = b"Subject: slow\r\n\r\n" + b"a line\r\n" * 20
        closed, took, got, sent = drip(c.sock, body)
    assert closed, "drip-fed DATA still open; server sent %r" % got
    assert sent < len(body)
    # each byte arrives well within smtp_timeout; data_timeout ends it
    assert 1.5 <= took <= 4.0, "cut off after %.1f s, expected near data_timeout=2s" % took
    assert got.startswith(b"421 4.4.2 mx.test Error: timeout exceeded\r\n"), got
    no_trace_of_message(server)
    assert "deadline=transfer" in server.log()


@pytest.mark.konvert(config={"smtp_timeout": "5s", "data_timeout": "2s"})
def test_drip_fed_bdat_hits_data_timeout(server):
    with server.connect() as c:
        c.ehlo()
        c.expect("MAIL FROM:<x@y.test>", "250 2.1.0")
        c.expect("RCPT TO:<%s>" % ALICE, "250 2.1.5")
        body = make_msg(subject="slow bdat", body="x\r\n" * 30)
        c.send(b"BDAT %d LAST\r\n" % len(body))
        closed, took, got, sent = drip(c.sock, body)
    assert closed, "drip-fed BDAT still open; server sent %r" % got
    assert sent < len(body)
    assert 1.5 <= took <= 4.0, took
    assert got.startswith(b"421 4.4.2 mx.test Error: timeout exceeded\r\n"), got
    no_trace_of_message(server)


IDLE_CFG = {"smtp_timeout": "2s", "tls_handshake_timeout": "1s"}


@pytest.mark.konvert(config=IDLE_CFG)
@pytest.mark.parametrize("where", ["after-ehlo", "mid-line", "smtps"])
def test_idle_client_times_out_at_smtp_timeout(tls_server, where):
    """Idle still ends at smtp_timeout; after a finished handshake the
    (shorter) handshake deadline no longer applies."""
    implicit = where == "smtps"
    port = tls_server.smtps_port if implicit else tls_server.smtp_port
    with tls_server.connect(port, implicit=implicit) as c:
        c.ehlo()
        if where == "mid-line":
            c.send(b"MAIL FROM:<x@y")
        start = time.monotonic()
        c.sock.settimeout(10)
        r = c.read_reply()
        took = time.monotonic() - start
        assert r.line == "421 4.4.2 mx.test Error: timeout exceeded", r.lines
        assert 1.5 <= took <= 3.5, took
        assert c.wait_closed(5)


@pytest.mark.konvert(config={"smtp_timeout": "2s", "data_timeout": "2s"})
def test_pipelined_session_unaffected(server):
    """A session that keeps working outlives smtp_timeout and data_timeout
    many times: both deadlines start again for each line and message."""
    start = time.monotonic()
    with server.connect() as c:
        c.ehlo()
        for i in range(3):
            msg = make_msg(subject="pipelined %d" % i)
            c.send(b"MAIL FROM:<x@y.test>\r\nRCPT TO:<%s>\r\nDATA\r\n" % ALICE.encode())
            assert c.read_reply().startswith("250 2.1.0")
            assert c.read_reply().startswith("250 2.1.5")
            assert c.read_reply().startswith("354")
            c.send(msg + b".\r\nNOOP\r\n")
            assert c.read_reply().startswith("250 2.0.0 Ok: queued as")
            assert c.read_reply().startswith("250")
            time.sleep(0.6)
            # BDAT in two pipelined chunks
            msg = make_msg(subject="bdat %d" % i)
            half = len(msg) // 2
            c.send(b"MAIL FROM:<x@y.test>\r\nRCPT TO:<%s>\r\nBDAT %d\r\n%sBDAT %d LAST\r\n%s"
                   % (ALICE.encode(), half, msg[:half], len(msg) - half, msg[half:]))
            for want in ("250 2.1.0", "250 2.1.5", "250 2.0.0", "250 2.0.0 Ok: queued as"):
                r = c.read_reply()
                assert r.startswith(want), (want, r.lines)
            time.sleep(0.6)
        c.expect("QUIT", "221")
    assert time.monotonic() - start > 3.0
    assert len(server.delivered(ALICE)) == 6


# --- NUL bytes in a message ----------------------------------------------------------------

@pytest.mark.konvert(config={"data_timeout": "10m"})
def test_nul_in_data_rejected(server):
    with server.connect() as c:
        c.ehlo()
        c.expect("MAIL FROM:<x@y.test>", "250 2.1.0")
        c.expect("RCPT TO:<%s>" % ALICE, "250 2.1.5")
        r = c.data(b"Subject: nul\r\n\r\nbefore\x00after\r\n")
        assert r.line == "554 5.6.0 Error: message contains NUL characters", r.lines
        no_trace_of_message(server)
        # the transaction is over; the session goes on
        c.expect("RCPT TO:<%s>" % ALICE, "503")
        r = c.send_mail("x@y.test", [ALICE], make_msg(subject="clean"))
        assert r.startswith("250 2.0.0"), r.lines
    assert len(server.delivered(ALICE)) == 1
    assert b"\x00" not in server.delivered(ALICE)[0].read_bytes()


@pytest.mark.konvert(config={"data_timeout": "10m"})
def test_nul_in_bdat_rejected(server):
    with server.connect() as c:
        c.ehlo()
        c.expect("MAIL FROM:<x@y.test>", "250 2.1.0")
        c.expect("RCPT TO:<%s>" % ALICE, "250 2.1.5")
        first = b"Subject: nul\r\n\r\n"
        c.send(b"BDAT %d\r\n%s" % (len(first), first))
        assert c.read_reply().startswith("250 2.0.0")
        last = b"a\x00b\r\n"
        c.send(b"BDAT %d LAST\r\n%s" % (len(last), last))
        r = c.read_reply()
        assert r.line == "554 5.6.0 Error: message contains NUL characters", r.lines
        no_trace_of_message(server)
        c.expect("NOOP", "250")
