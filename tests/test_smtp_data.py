"""Message content through DATA: byte-exact storage of a 20 MB message,
dot-stuffing round trip, 8-bit and UTF-8 content, long text lines, SMTP
smuggling payloads (bare LF / bare CR never end DATA; CVE-2023-51764/5/6)
and clients that vanish mid-DATA or mid-BDAT."""

import os
import smtplib
import time

import pytest

from util import QUEUED_RE, Stored, dot_stuff, header_value, make_msg, wait_for, wire_to_stored


def only_message(server, addr):
    files = server.delivered(addr)
    assert len(files) == 1, "%s: expected 1 message, found %d" % (addr, len(files))
    return Stored(files[0])


def test_20mb_message_byte_exact(server):
    size = 20 * 1024 * 1024
    text = os.urandom(size // 2).hex().encode()  # 20 MiB of text, ~21.5 MB with CRLF
    lines = [text[i:i + 76] for i in range(0, len(text), 76)]
    for i in range(0, len(lines), 97):  # some lines need dot-stuffing
        lines[i] = b"." + lines[i]
    lines[5] = b"."
    lines[6] = b".."
    body = b"\r\n".join(lines) + b"\r\n"
    msg = make_msg("big", b"") + body
    assert len(msg) > 20 * 1000 * 1000
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=120) as s:
        s.ehlo("client.test")
        refused = s.sendmail("x@y.test", ["alice@example.test"], msg)  # sends SIZE= too
        assert refused == {}
    st = only_message(server, "alice@example.test")
    assert len(st.content) == len(wire_to_stored(msg))
    assert st.content == wire_to_stored(msg)


def test_dot_stuffing_round_trip(server):
    body = (b".\r\n..\r\n...\r\n.leading\r\n..double\r\n. space\r\nmid.dle\r\n"
            b"\r\n.\r\nend\r\n")
    msg = make_msg("dots", body)
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=30) as s:
        s.sendmail("x@y.test", ["bob@example.test"], msg)  # smtplib stuffs
    st = only_message(server, "bob@example.test")
    assert st.content == wire_to_stored(msg)
    assert st.content.endswith(b"\n.\n..\n...\n.leading\n..double\n. space\nmid.dle\n\n.\nend\n")


def test_end_marker_byte_by_byte(smtp, server):
    """The decoder must work on any split of the input."""
    smtp.expect("MAIL FROM:<x@y.test>", "250 2.1.0")
    smtp.expect("RCPT TO:<alice@example.test>", "250 2.1.5")
    assert smtp.cmd("DATA").startswith("354")
    wire = b"Subject: slow\r\n\r\nab\r\n..c\r\n.\r\n"
    for i in range(len(wire)):
        smtp.send(wire[i:i + 1])
        time.sleep(0.005)
    r = smtp.read_reply()
    assert QUEUED_RE.match(r.line), r.lines
    assert only_message(server, "alice@example.test").content == b"Subject: slow\n\nab\n.c\n"


def test_headers_only_message(smtp, server):
    smtp.expect("MAIL FROM:<x@y.test>", "250 2.1.0")
    smtp.expect("RCPT TO:<alice@example.test>", "250 2.1.5")
    r = smtp.data(b"Subject: only headers\r\n")
    assert QUEUED_RE.match(r.line), r.lines
    assert only_message(server, "alice@example.test").content == b"Subject: only headers\n"


def test_8bitmime(smtp, server):
    body = bytes(b for b in range(0x80, 0x100)) + b"\r\n" + "Gr\u00fc\u00dfe, \u65e5\u672c\r\n".encode()
    msg = make_msg("8bit", body, extra=["MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8",
                                          "Content-Transfer-Encoding: 8bit"])
    r = smtp.send_mail("x@y.test", ["carol@example.test"], msg, " BODY=8BITMIME")
    assert QUEUED_RE.match(r.line), r.lines
    assert only_message(server, "carol@example.test").content == wire_to_stored(msg)


def test_smtputf8(smtp, server):
    sender = "j\u00f6ran@b\u00fccher.test"
    subject = "\u00dcbung \u2013 \u65e5\u672c\u8a9e"
    msg = ("From: <%s>\r\nTo: <alice@example.test>\r\nSubject: %s\r\n\r\n\u043f\u0440\u0438\u0432\u0435\u0442\r\n"
           % (sender, subject)).encode()
    r = smtp.send_mail(sender, ["alice@example.test"], msg, " SMTPUTF8 BODY=8BITMIME")
    assert QUEUED_RE.match(r.line), r.lines
    st = only_message(server, "alice@example.test")
    assert st.return_path == sender
    assert st.content == wire_to_stored(msg)
    assert header_value(st.content, "Subject") == subject


def test_smtputf8_with_smtplib(server):
    msg = "Subject: utf8\r\n\r\n\u00e9t\u00e9\r\n".encode()
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=30) as s:
        s.ehlo("client.test")
        assert s.has_extn("smtputf8")
        s.sendmail("\u00fcser@y.test", ["dave@example.test"], msg, mail_options=["SMTPUTF8", "BODY=8BITMIME"])
    st = only_message(server, "dave@example.test")
    assert st.return_path == "\u00fcser@y.test"
    assert st.content == wire_to_stored(msg)


def test_long_text_lines(smtp, server):
    """RFC 5321 4.5.3.1.6: text lines of 1000 octets with CRLF are legal."""
    body = b"a" * 998 + b"\r\n" + b"." + b"b" * 997 + b"\r\n"
    msg = make_msg("long", body)
    r = smtp.send_mail("x@y.test", ["alice@example.test"], msg)
    assert QUEUED_RE.match(r.line), r.lines
    assert only_message(server, "alice@example.test").content == wire_to_stored(msg)


@pytest.mark.parametrize("body", [
    b"x" * 100000 + b"\r\n",  # one 100 KB text line (RFC limit is 1000)
    b"nul \x00 byte\r\n",
], ids=["100k-line", "nul"])
def test_odd_body_keeps_session_in_sync(smtp, server, body):
    """Not fixed by the contract: accepted byte-exact, or refused with a 5xx
    after the end marker. Either way the session stays in sync and nothing
    half-stored remains."""
    msg = make_msg("odd", body)
    smtp.expect("MAIL FROM:<x@y.test>", "250 2.1.0")
    smtp.expect("RCPT TO:<alice@example.test>", "250 2.1.5")
    r = smtp.data(dot_stuff(msg))
    smtp.expect("NOOP", "250 2.0.0")
    if r.code == 250:
        assert QUEUED_RE.match(r.line), r.lines
        assert only_message(server, "alice@example.test").content == wire_to_stored(msg)
    else:
        assert r.code // 100 == 5, r.lines
        assert server.delivered("alice@example.test") == []
    assert server.stray_files() == []


# --- smuggling -----------------------------------------------------------------

SMUGGLE_ENDS = [b"\n.\n", b"\r\n.\n", b"\n.\r\n", b"\r.\r\n", b"\r\n.\r", b"\n.\r"]
SMUGGLED = (b"MAIL FROM:<evil@attacker.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n"
            b"Subject: smuggled\r\n\r\nevil\r\n")


def smuggle(smtp, fake_end):
    wire = b"Subject: carrier\r\n\r\nhello" + fake_end + SMUGGLED + b".\r\n"
    smtp.expect("MAIL FROM:<x@y.test>", "250 2.1.0")
    smtp.expect("RCPT TO:<alice@example.test>", "250 2.1.5")
    assert smtp.cmd("DATA").startswith("354")
    smtp.send(wire)
    r = smtp.read_reply()
    smtp.expect("NOOP", "250 2.0.0")  # next command answered normally, in sync
    smtp.send(b"QUIT\r\n")
    assert smtp.read_reply().startswith("221 2.0.0")
    assert smtp.wait_closed(5)
    assert smtp.trailing == [], [t.lines for t in smtp.trailing]
    return r


@pytest.mark.parametrize("fake_end", SMUGGLE_ENDS, ids=[repr(e) for e in SMUGGLE_ENDS])
def test_smuggling(smtp, server, fake_end):
    """bare_newline = normalize (the default): only CRLF . CRLF ends the
    message, so whatever a fake end hides stays inside the one message; a
    bare CR is still refused."""
    r = smuggle(smtp, fake_end)
    bare_cr = b"\r" in fake_end.replace(b"\r\n", b"")
    if bare_cr:
        assert r.startswith("550 5.5.2"), r.lines
        assert server.delivered("alice@example.test") == []
    else:
        assert QUEUED_RE.match(r.line), r.lines
        st = only_message(server, "alice@example.test")
        assert b"MAIL FROM:<evil@attacker.test>" in st.content
    assert server.delivered("bob@example.test") == []


@pytest.mark.konvert(config={"bare_newline": "reject"})
@pytest.mark.parametrize("fake_end", SMUGGLE_ENDS, ids=[repr(e) for e in SMUGGLE_ENDS])
def test_smuggling_reject(smtp, server, fake_end):
    """bare_newline = reject: a bare LF or bare CR refuses the message."""
    r = smuggle(smtp, fake_end)
    assert r.startswith("550 5.5.2"), r.lines
    assert server.delivered("alice@example.test") == []
    assert server.delivered("bob@example.test") == []


@pytest.mark.konvert(config={"bare_newline": "reject"})
def test_smuggling_pipelined_after_real_end(smtp, server):
    """After a rejected smuggling attempt the real next transaction works
    and only it is delivered."""
    smtp.expect("MAIL FROM:<x@y.test>", "250 2.1.0")
    smtp.expect("RCPT TO:<alice@example.test>", "250 2.1.5")
    assert smtp.cmd("DATA").startswith("354")
    smtp.send(b"Subject: a\r\n\r\nx\n.\nRSET\r\nMAIL FROM:<evil@attacker.test>\r\n"
              b"RCPT TO:<bob@example.test>\r\nDATA\r\nevil\r\n.\r\n"
              b"MAIL FROM:<good@y.test>\r\nRCPT TO:<carol@example.test>\r\nDATA\r\n")
    assert smtp.read_reply().startswith("550 5.5.2")
    assert smtp.read_reply().startswith("250 2.1.0")
    assert smtp.read_reply().startswith("250 2.1.5")
    assert smtp.read_reply().startswith("354")
    smtp.send(b"Subject: good\r\n\r\nfine\r\n.\r\n")
    assert QUEUED_RE.match(smtp.read_reply().line)
    smtp.expect("NOOP", "250 2.0.0")
    assert server.delivered("alice@example.test") == []
    assert server.delivered("bob@example.test") == []
    st = only_message(server, "carol@example.test")
    assert st.return_path == "good@y.test"
    assert st.content == b"Subject: good\n\nfine\n"


def test_smuggling_pipelined_normalized_is_one_message(smtp, server):
    """The same attempt with bare_newline = normalize: one message for
    alice that holds the fake commands as text, then the real next
    transaction; bob gets nothing."""
    smtp.expect("MAIL FROM:<x@y.test>", "250 2.1.0")
    smtp.expect("RCPT TO:<alice@example.test>", "250 2.1.5")
    assert smtp.cmd("DATA").startswith("354")
    smtp.send(b"Subject: a\r\n\r\nx\n.\nRSET\r\nMAIL FROM:<evil@attacker.test>\r\n"
              b"RCPT TO:<bob@example.test>\r\nDATA\r\nevil\r\n.\r\n"
              b"MAIL FROM:<good@y.test>\r\nRCPT TO:<carol@example.test>\r\nDATA\r\n")
    assert QUEUED_RE.match(smtp.read_reply().line)
    assert smtp.read_reply().startswith("250 2.1.0")
    assert smtp.read_reply().startswith("250 2.1.5")
    assert smtp.read_reply().startswith("354")
    smtp.send(b"Subject: good\r\n\r\nfine\r\n.\r\n")
    assert QUEUED_RE.match(smtp.read_reply().line)
    assert server.delivered("bob@example.test") == []
    st = only_message(server, "alice@example.test")
    assert st.content == (b"Subject: a\n\nx\n.\nRSET\nMAIL FROM:<evil@attacker.test>\n"
                          b"RCPT TO:<bob@example.test>\nDATA\nevil\n")
    assert only_message(server, "carol@example.test").content == b"Subject: good\n\nfine\n"


@pytest.mark.konvert(config={"bare_newline": "reject"})
def test_bare_lf_in_body_rejected(smtp, server):
    smtp.expect("MAIL FROM:<x@y.test>", "250 2.1.0")
    smtp.expect("RCPT TO:<alice@example.test>", "250 2.1.5")
    assert smtp.cmd("DATA").startswith("354")
    smtp.send(b"Subject: lf\r\n\r\nunix line\nend\r\n.\r\n")
    assert smtp.read_reply().startswith("550 5.5.2")
    # the session goes on and a clean message is accepted
    r = smtp.send_mail("x@y.test", ["alice@example.test"], make_msg("clean"))
    assert QUEUED_RE.match(r.line), r.lines
    assert header_value(only_message(server, "alice@example.test").content, "Subject") == "clean"


def test_bare_lf_lines_are_normalized(smtp, server):
    """A file written with an editor (LF lines) is taken and stored as
    ordinary lines: POP3 and the W= size see CRLF lines."""
    smtp.expect("MAIL FROM:<x@y.test>", "250 2.1.0")
    smtp.expect("RCPT TO:<alice@example.test>", "250 2.1.5")
    assert smtp.cmd("DATA").startswith("354")
    smtp.send(b"Subject: lf\n\nunix line\nend\r\n.\r\n")  # as curl ends it
    assert QUEUED_RE.match(smtp.read_reply().line)
    st = only_message(server, "alice@example.test")
    assert st.content == b"Subject: lf\n\nunix line\nend\n"
    path = server.delivered("alice@example.test")[0]
    size = path.stat().st_size
    lines = path.read_bytes().count(b"\n")
    assert ",W=%d" % (size + lines) in path.name, path.name
    assert "event=bare-newline" in server.log()


# --- vanishing clients ---------------------------------------------------------------

def test_disconnect_mid_data(server):
    c = server.connect()
    c.ehlo()
    c.expect("MAIL FROM:<x@y.test>", "250 2.1.0")
    c.expect("RCPT TO:<alice@example.test>", "250 2.1.5")
    c.expect("RCPT TO:<bob@example.test>", "250 2.1.5")
    assert c.cmd("DATA").startswith("354")
    c.send(make_msg("cut", "x" * 70 + "\r\n") * 2000)  # ~200 KB, no end marker
    c.send(b"\r\n.")  # almost the end
    c.close()
    assert wait_for(lambda: not server.tmp_leftovers() and not server.stray_files(), timeout=10), \
        (server.tmp_leftovers(), server.stray_files())
    # still serving, and the aborted message is nowhere
    with server.connect() as c2:
        c2.ehlo()
        c2.send_mail("x@y.test", ["carol@example.test"], make_msg("after"))
    assert server.delivered("alice@example.test") == []
    assert server.delivered("bob@example.test") == []
    assert not server.tmp_leftovers()


def test_disconnect_mid_bdat(server):
    c = server.connect()
    c.ehlo()
    c.expect("MAIL FROM:<x@y.test>", "250 2.1.0")
    c.expect("RCPT TO:<alice@example.test>", "250 2.1.5")
    c.send(b"BDAT 100\r\n" + b"y" * 100)
    assert c.read_reply().startswith("250 2.0.0")
    c.send(b"BDAT 100000 LAST\r\n" + b"z" * 5000)
    c.close()
    assert wait_for(lambda: not server.tmp_leftovers() and not server.stray_files(), timeout=10), \
        (server.tmp_leftovers(), server.stray_files())
    with server.connect() as c2:
        c2.ehlo()
        c2.send_mail("x@y.test", ["carol@example.test"], make_msg("after"))
    assert server.delivered("alice@example.test") == []


def test_rset_mid_bdat_discards(smtp, server):
    smtp.expect("MAIL FROM:<x@y.test>", "250 2.1.0")
    smtp.expect("RCPT TO:<alice@example.test>", "250 2.1.5")
    smtp.send(b"BDAT 5\r\nhello")
    assert smtp.read_reply().startswith("250 2.0.0")
    smtp.expect("RSET", "250 2.0.0")
    smtp.expect("MAIL FROM:<x@y.test>", "250 2.1.0")
    smtp.expect("RCPT TO:<bob@example.test>", "250 2.1.5")
    chunk = b"Subject: b\r\n\r\n"
    smtp.send(b"BDAT %d LAST\r\n" % len(chunk) + chunk)
    assert QUEUED_RE.match(smtp.read_reply().line)
    assert server.delivered("alice@example.test") == []
    assert only_message(server, "bob@example.test").content == b"Subject: b\n\n"
