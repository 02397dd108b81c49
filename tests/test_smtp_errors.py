"""SMTP error replies (exact codes, RFC 5321 4.2/4.3.2, RFC 3463), command
sequencing, relay refusal and open-relay address tricks, limits (size,
recipients, line length, sessions per IP, idle timeout, bad-command strikes),
hostile input (NUL, over-long lines, no newline at all) and the submission
listener without AUTH."""

import socket
import time

import pytest

from util import QUEUED_RE, ConnectionClosed, dot_stuff, make_msg, wait_for

NOT_RELAY = {"relay_networks": "10.255.255.0/24"}


# --- command syntax and sequence ------------------------------------------------

@pytest.mark.parametrize("line,expect", [
    ("XYZZY", "500 5.5.2"),
    ("MAIL FROM:alice@example.test", "501 5.5.4"),
    ("MAIL alice@example.test", "501 5.5.4"),
    ("MAIL FROM:<x@@y.test>", "501 5.1.7"),
    ("MAIL FROM:<x@y.test> FOO=BAR", "555 5.5.4"),
    ("MAIL FROM:<x@y.test> BODY=9BIT", "501 5.5.4"),
    ("MAIL FROM:<x@y.test> SIZE=12 SIZE=12", "501 5.5.4"),
    ("MAIL FROM:<%s@y.test>" % ("a" * 65), "501 5.1.7"),
    ("MAIL FROM:<j\u00f6ran@y.test>", "553 5.6.7"),
    ("RCPT TO:<alice@example.test>", "503 5.5.1"),
    ("DATA", "503 5.5.1"),
    ("EXPN staff", "502 5.5.1"),
    ("VRFY alice", "252 2.5.0"),
    ("TURN", "502 5.5.1"),
    ("SEND FROM:<x@y.test>", "502 5.5.1"),
    ("SOML FROM:<x@y.test>", "502 5.5.1"),
    ("SAML FROM:<x@y.test>", "502 5.5.1"),
    ("EHLO", "501 5.5.4"),
    ("HELO", "501 5.5.4"),
    ("EHLO a..b", "501 5.5.4"),
    ("EHLO [300.1.1.1]", "501 5.5.4"),
    ("EHLO [127.0.0.1]", "250 "),
    ("EHLO [IPv6:::1]", "250 "),
    ("mail from:<x@y.test>", "250 2.1.0"),  # RFC 5321 2.4: verbs are case-insensitive
    ("MAIL FROM:<x@y.test> size=10 body=8bitmime", "250 2.1.0"),
    ('MAIL FROM:<"a\rX-Evil: 1"@y.test>', "501 5.1.7"),  # no control characters (4.1.2)
    ('MAIL FROM:<"a\tb"@y.test>', "501 5.1.7"),
    ("MAIL FROM:<x@%s.test>" % ("d" * 260), "501 5.1.7"),
    ("MAIL FROM:<x>", "501 5.1.7"),  # RFC 5321 4.1.2: Mailbox = Local-part "@" domain
    ("MAIL FROM:<.x@y.test>", "501 5.1.7"),
    ("MAIL FROM:<x..y@y.test>", "501 5.1.7"),
    ("HELO client.test trailing", "501 5.5.4"),
])
def test_reply_code_after_ehlo(shared_smtp, line, expect):
    shared_smtp.expect(line, expect)
    shared_smtp.expect("RSET", "250 2.0.0")  # the session goes on


@pytest.mark.parametrize("line,expect", [
    ("RCPT TO:<>", "501 5.1.3"),
    ("RCPT TO:<bad@@example.test>", "501 5.1.3"),
    ("RCPT TO:alice@example.test", "501 5.5.4"),
    ("RCPT TO:<alice@example.test> FOO=BAR", "555 5.5.4"),
    ("RCPT TO:<nobody@example.test>", "550 5.1.1"),
    ("RCPT TO:<j\u00f6ran@example.test>", "553 5.6.7"),
    ("RCPT TO:<someone@remote.test>", "250 2.1.5"),  # relay client: queued for relaying
    ("MAIL FROM:<x@y.test>", "503 5.5.1"),  # second MAIL
    ("DATA", "503 5.5.1"),  # DATA before RCPT
    ("RCPT TO:<%s@example.test>" % ("a" * 65), "501 5.1.3"),  # RFC 5321 4.5.3.1.1
    ("RCPT TO:<alice@%s.test>" % ("d" * 260), "501 5.1.3"),
    ("RCPT TO:<%s@example.test>" % ("a" * 64), "550 5.1.1"),
    ("rcpt to:<ALICE@EXAMPLE.TEST>", "250 2.1.5"),
    ("RCPT TO:<postmaster@other.test>", "250 2.1.5"),  # RFC 5321 4.5.1: every domain
    ("BDAT", "501 5.5.4"),
    ("BDAT x LAST", "501 5.5.4"),
])
def test_reply_code_in_transaction(shared_smtp, line, expect):
    shared_smtp.expect("MAIL FROM:<x@y.test>", "250 2.1.0")
    shared_smtp.expect(line, expect)
    shared_smtp.expect("RCPT TO:<alice@example.test>", "250 2.1.5")  # the transaction goes on


def test_mail_before_helo(shared_server):
    with shared_server.connect() as c:
        c.expect("MAIL FROM:<x@y.test>", "503 5.5.1")
        c.expect("RCPT TO:<alice@example.test>", "503 5.5.1")
        c.expect("DATA", "503 5.5.1")
        c.ehlo()
        c.expect("MAIL FROM:<x@y.test>", "250 2.1.0")


def test_bdat_out_of_sequence_consumes_chunk(shared_smtp):
    """RFC 3030 2 (and RFC 1830): the chunk follows the BDAT command
    unasked, so a rejected BDAT's data is read and discarded, never taken
    as commands. Here the chunk is "QUIT\r\n"."""
    shared_smtp.send(b"BDAT 6 LAST\r\nQUIT\r\n")
    r = shared_smtp.read_reply()
    assert r.startswith("503 5.5.1"), r.lines
    shared_smtp.expect("NOOP", "250 2.0.0")
    shared_smtp.expect("MAIL FROM:<x@y.test>", "250 2.1.0")


def test_pipelined_bdat_without_valid_recipient(shared_smtp):
    """The chunk of a BDAT refused for lack of recipients is discarded, not
    run as commands (here it is "QUIT\r\n")."""
    shared_smtp.send(b"MAIL FROM:<x@y.test>\r\nRCPT TO:<nobody@example.test>\r\nBDAT 6 LAST\r\nQUIT\r\n"
                     b"NOOP\r\n")
    assert shared_smtp.read_reply().startswith("250 2.1.0")
    assert shared_smtp.read_reply().startswith("550 5.1.1")
    r = shared_smtp.read_reply()
    # SPEC: wrong order is 503 5.5.1 (RFC 5321 3.3 would allow 554 too)
    assert r.startswith("503 5.5.1"), r.lines
    assert shared_smtp.read_reply().startswith("250 2.0.0")
    shared_smtp.expect("RSET", "250 2.0.0")


def test_data_without_valid_recipient(smtp, server):
    smtp.expect("MAIL FROM:<x@y.test>", "250 2.1.0")
    smtp.expect("RCPT TO:<nobody@example.test>", "550 5.1.1")
    r = smtp.cmd("DATA")
    # RFC 5321 3.3 allows 503 or 554; konvert answers 503 5.5.1 (SPEC:
    # wrong order), never 354.
    assert r.startswith("503 5.5.1"), r.lines
    smtp.expect("RSET", "250 2.0.0")


def test_smtputf8_address_accepted(shared_smtp):
    shared_smtp.expect("MAIL FROM:<j\u00f6ran@y.test> SMTPUTF8", "250 2.1.0")
    shared_smtp.expect("RCPT TO:<alice@example.test>", "250 2.1.5")


def test_smtputf8_invalid_utf8_rejected(shared_smtp):
    shared_smtp.send(b"MAIL FROM:<j\xf6ran@y.test> SMTPUTF8\r\n")
    r = shared_smtp.read_reply()
    assert r.code // 100 == 5, r.lines
    shared_smtp.expect("NOOP", "250 2.0.0")


# --- relay refusal and open-relay tricks ------------------------------------

@pytest.mark.konvert(config=NOT_RELAY)
@pytest.mark.parametrize("rcpt", [
    "someone@remote.test",
    "alice@example.test.remote.test",
])
def test_relay_denied_outside_relay_networks(smtp, rcpt):
    smtp.expect("MAIL FROM:<x@y.test>", "250 2.1.0")
    r = smtp.cmd("RCPT TO:<%s>" % rcpt)
    # SPEC allows 554 5.7.1 or 550 5.7.1; konvert sends 554 (README)
    assert r.startswith("554 5.7.1"), r.lines
    smtp.expect("RCPT TO:<alice@example.test>", "250 2.1.5")  # local mail still accepted


RELAY_TRICKS = [
    "user%remote.test@example.test",
    "remote.test!user@example.test",
    '"user@remote.test"@example.test',
    "alice%remote.test@example.test",
    '"alice@remote.test"@example.test',
    "remote.test!alice@example.test",
    "alice%remote.test%example.test@example.test",
]


@pytest.mark.parametrize("relay", [False, True], ids=["outside-relay-networks", "in-relay-networks"])
def test_open_relay_tricks(make_server, relay):
    """'%', '!' and a quoted '@' in the local part have no routing meaning:
    such a recipient is an unknown local user, never relayed."""
    srv = make_server(config=None if relay else NOT_RELAY)
    srv.start()
    with srv.connect() as c:
        c.ehlo()
        c.expect("MAIL FROM:<x@y.test>", "250 2.1.0")
        for rcpt in RELAY_TRICKS:
            c.expect("RCPT TO:<%s>" % rcpt, "550 5.1.1")
        # a source route is dropped (RFC 5321 appendix C): this is remote mail
        r = c.cmd("RCPT TO:<@example.test:someone@remote.test>")
        if relay:
            assert r.startswith("250 2.1.5"), r.lines
        else:
            assert r.startswith("554 5.7.1"), r.lines
        if not relay:
            c.expect("DATA", "503 5.5.1")


# --- limits --------------------------------------------------------------------

@pytest.mark.konvert(config={"max_recipients": "3"})
def test_too_many_recipients(smtp, server):
    smtp.expect("MAIL FROM:<x@y.test>", "250 2.1.0")
    for who in ("alice", "bob", "carol"):
        smtp.expect("RCPT TO:<%s@example.test>" % who, "250 2.1.5")
    smtp.expect("RCPT TO:<dave@example.test>", "452 4.5.3")
    r = smtp.data(dot_stuff(make_msg("three")))
    assert QUEUED_RE.match(r.line), r.lines
    for who in ("alice", "bob", "carol"):
        assert len(server.delivered(who + "@example.test")) == 1
    assert server.delivered("dave@example.test") == []


@pytest.mark.konvert(config={"max_message_size": "100000"})
def test_size_parameter(smtp):
    smtp.expect("MAIL FROM:<x@y.test> SIZE=100001", "552 5.3.4")
    smtp.expect("MAIL FROM:<x@y.test> SIZE=100000", "250 2.1.0")


def test_size_parameter_20_digits(shared_smtp):
    """RFC 1870 5: size-value ::= 1*20DIGIT. A legal value above the
    limit (even above 2^64) is 552 5.3.4, not a syntax error."""
    shared_smtp.expect("MAIL FROM:<x@y.test> SIZE=99999999999999999999", "552 5.3.4")
    shared_smtp.expect("MAIL FROM:<x@y.test> SIZE=00000000000000000001", "250 2.1.0")
    shared_smtp.expect("RSET", "250 2.0.0")
    shared_smtp.expect("MAIL FROM:<x@y.test> SIZE=123456789012345678901", "501 5.5.4")


@pytest.mark.konvert(config={"max_message_size": "100000"})
def test_message_too_big_data(smtp, server):
    smtp.expect("MAIL FROM:<x@y.test>", "250 2.1.0")
    smtp.expect("RCPT TO:<alice@example.test>", "250 2.1.5")
    assert smtp.cmd("DATA").startswith("354")
    big = make_msg("big", ("y" * 70 + "\r\n") * 3000)  # ~216 KB
    smtp.send(dot_stuff(big) + b".\r\n")
    r = smtp.read_reply()
    assert r.startswith("552 5.3.4"), r.lines
    smtp.expect("NOOP", "250 2.0.0")
    assert server.delivered("alice@example.test") == []
    assert server.stray_files() == []
    # a message under the limit still goes through in the same session
    r = smtp.send_mail("x@y.test", ["alice@example.test"], make_msg("small", "ok\r\n"))
    assert QUEUED_RE.match(r.line), r.lines
    assert len(server.delivered("alice@example.test")) == 1


@pytest.mark.konvert(config={"max_message_size": "100000"})
def test_message_too_big_bdat(smtp, server):
    smtp.expect("MAIL FROM:<x@y.test>", "250 2.1.0")
    smtp.expect("RCPT TO:<alice@example.test>", "250 2.1.5")
    chunk = b"z" * 78 + b"\r\n"
    chunk = chunk * 800  # 64 KB
    replies = []
    for last in ("", "", " LAST"):
        smtp.send(b"BDAT %d%s\r\n" % (len(chunk), last.encode()) + chunk)
        replies.append(smtp.read_reply())
    assert any(r.startswith("552 5.3.4") for r in replies), [r.lines for r in replies]
    assert not any(QUEUED_RE.match(r.line) for r in replies)
    smtp.expect("RSET", "250 2.0.0")
    assert server.delivered("alice@example.test") == []


def test_long_command_line(shared_smtp):
    shared_smtp.expect("NOOP " + "x" * 2041, "250 2.0.0")  # 2048 bytes with CRLF: fine
    shared_smtp.expect("NOOP " + "x" * 2044, "500 5.5.0")  # 2049 bytes without CRLF: too long
    shared_smtp.expect("NOOP " + "x" * 3000, "500 5.5.0")
    shared_smtp.expect("NOOP", "250 2.0.0")
    shared_smtp.expect("MAIL FROM:<%s@y.test>" % ("a" * 5000), "500 5.5.0")
    shared_smtp.expect("RCPT TO:<alice@example.test>", "503 5.5.1")  # no transaction was started
    shared_smtp.expect("MAIL FROM:<x@y.test>", "250 2.1.0")


def test_long_line_rest_is_discarded(shared_smtp):
    """The tail of an over-long line must not be read as a command."""
    shared_smtp.send(b"NOOP " + b"x" * 4000 + b" RSET\r\nQUIT\r\n" + b"y" * 3000 + b"\r\nNOOP\r\n")
    assert shared_smtp.read_reply().startswith("500 5.5.0")
    # QUIT answered, connection closed, nothing after it processed
    r = shared_smtp.read_reply()
    assert r.startswith("221 2.0.0"), r.lines
    assert shared_smtp.wait_closed(5)


def test_long_line_split_across_writes(shared_smtp):
    for _ in range(5):
        shared_smtp.send(b"z" * 1000)
        time.sleep(0.02)
    shared_smtp.send(b"\r\n")
    assert shared_smtp.read_reply().startswith("500 5.5.0")
    shared_smtp.expect("NOOP", "250 2.0.0")


@pytest.mark.parametrize("line", [
    b"NOOP\x00\r\n",
    b"NO\x00OP\r\n",
    b"MAIL FROM:<a\x00b@y.test>\r\n",
    b"\x00\r\n",
])
def test_nul_in_command(shared_smtp, line):
    shared_smtp.send(line)
    assert shared_smtp.read_reply().startswith("500 5.5.2")
    shared_smtp.expect("RCPT TO:<alice@example.test>", "503 5.5.1")
    shared_smtp.expect("NOOP", "250 2.0.0")


def test_too_many_bad_commands(shared_smtp):
    for i in range(1, 10):
        shared_smtp.expect("BOGUS%d" % i, "500 5.5.2")
    r = shared_smtp.cmd("BOGUS10")
    if r.startswith("500"):  # the error reply, then the 421
        r = shared_smtp.read_reply()
    assert r.startswith("421 4.7.0"), r.lines
    assert shared_smtp.wait_closed(5)


def test_good_commands_reset_bad_count(shared_smtp):
    for _ in range(3):
        for i in range(8):
            shared_smtp.expect("BOGUS", "500 5.5.2")
        shared_smtp.expect("NOOP", "250 2.0.0")
    shared_smtp.expect("MAIL FROM:<x@y.test>", "250 2.1.0")


def drain(conn, timeout):
    """Reads replies until a quiet period of timeout; (replies, closed)."""
    replies = []
    conn.sock.settimeout(timeout)
    try:
        while True:
            replies.append(conn.read_reply())
    except socket.timeout:
        return replies, False
    except (ConnectionClosed, ConnectionResetError, BrokenPipeError):
        return replies, True


def test_no_newline_flood(server):
    """100 KB without LF: replied to with 500 5.5.0, and other clients are
    served meanwhile."""
    bad = server.connect()
    try:
        bad.sock.settimeout(5)
        try:
            bad.send(b"EHLO " + b"A" * 100000)
        except (socket.timeout, BrokenPipeError, ConnectionResetError):
            pass
        with server.connect() as good:
            good.ehlo()
            r = good.send_mail("x@y.test", ["alice@example.test"], make_msg("still served"))
            assert QUEUED_RE.match(r.line), r.lines
        replies, closed = drain(bad, 1.0)
        # README: an over-long line is answered 500 5.5.0, not dropped
        assert replies and replies[0].startswith("500 5.5.0"), replies
        for r in replies:
            assert r.startswith("500 5.5.0") or r.startswith("421"), r.lines
        if not closed:
            # still in sync: ending the line gives at most a 500, then NOOP works
            try:
                bad.send(b"\r\nNOOP\r\n")
                bad.sock.settimeout(10)
                r = bad.read_reply()
                while r.startswith("500 5.5.0"):
                    r = bad.read_reply()
                assert r.startswith("250 2.0.0"), r.lines
            except (ConnectionClosed, ConnectionResetError, BrokenPipeError):
                pass
    finally:
        bad.close()
    assert len(server.delivered("alice@example.test")) == 1


# --- sessions -------------------------------------------------------------------

@pytest.mark.konvert(config={"max_sessions_per_ip": "3"})
def test_max_sessions_per_ip(server):
    conns = []
    try:
        for _ in range(3):
            c = None
            for _attempt in range(50):  # the readiness probe may not be reaped yet
                c = server.connect()
                if c.greeting.startswith("220"):
                    break
                c.close()
                time.sleep(0.1)
            assert c.greeting.startswith("220"), c.greeting
            conns.append(c)
        extra = server.connect()
        assert extra.greeting.startswith("421 4.7.0"), extra.greeting
        assert extra.wait_closed(5)
        extra.close()
        conns.pop().close()

        def one_more():
            c = server.connect()
            ok = c.greeting.startswith("220")
            c.close()
            return ok
        assert wait_for(one_more, timeout=10, interval=0.1)
        for c in conns:
            c.expect("NOOP", "250 2.0.0")
    finally:
        for c in conns:
            c.close()


@pytest.mark.konvert(config={"smtp_timeout": "2s"})
def test_idle_timeout(server):
    with server.connect() as c:
        c.ehlo()
        c.expect("MAIL FROM:<x@y.test>", "250 2.1.0")
        c.sock.settimeout(15)
        r = c.read_reply()
        assert r.startswith("421 4.4.2"), r.lines
        assert c.wait_closed(5)
    # the server is fine afterwards
    with server.connect() as c:
        c.ehlo()


@pytest.mark.konvert(config={"smtp_timeout": "2s"})
def test_idle_timeout_in_data(server):
    with server.connect() as c:
        c.ehlo()
        c.expect("MAIL FROM:<x@y.test>", "250 2.1.0")
        c.expect("RCPT TO:<alice@example.test>", "250 2.1.5")
        assert c.cmd("DATA").startswith("354")
        c.send(b"Subject: half\r\n\r\npartial")
        c.sock.settimeout(15)
        r = c.read_reply()
        assert r.startswith("421 4.4.2"), r.lines
        assert c.wait_closed(5)
    assert wait_for(lambda: not server.tmp_leftovers() and not server.stray_files(), timeout=5), \
        (server.tmp_leftovers(), server.stray_files())
    assert server.delivered("alice@example.test") == []


def test_submission_requires_auth(server):
    with server.connect(server.submission_port) as c:
        assert c.greeting.startswith("220 mx.test"), c.greeting
        c.ehlo()
        c.expect("MAIL FROM:<alice@example.test>", "530 5.7.0")
        c.expect("RCPT TO:<bob@example.test>", "503 5.5.1")
        c.expect("QUIT", "221 2.0.0")
    assert server.delivered("bob@example.test") == []
