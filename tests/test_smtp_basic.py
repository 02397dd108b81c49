"""SMTP foundation: greeting, EHLO, a plain delivery with smtplib, swaks and
curl, PIPELINING, CHUNKING (BDAT), local recipients (postmaster, case,
aliases, deduplication), the Maildir format, SIGHUP reload and durability
across kill -9."""

import mailbox
import re
import smtplib
import socket
import subprocess
import time

import pytest

from util import (QUEUED_RE, SMTPConn, Stored, dot_stuff, header_value, make_msg, unique_token,
                  wait_for, wire_to_stored)


def only_message(server, addr):
    files = server.delivered(addr)
    assert len(files) == 1, "%s: expected 1 message, found %d: %s" % (addr, len(files), files)
    return Stored(files[0])


# --- greeting and capabilities -------------------------------------------------

def test_greeting(server):
    with server.connect() as c:
        assert c.greeting.startswith("220 mx.test ESMTP konvert"), c.greeting


def test_ehlo_capabilities(server):
    with server.connect() as c:
        r = c.cmd("EHLO client.test")
        assert r.lines[0].startswith("250-mx.test"), r.lines
        assert all(l.startswith("250-") for l in r.lines[:-1]) and r.line.startswith("250 "), r.lines
        kw = {l[4:].split(" ")[0].upper(): l[4:] for l in r.lines[1:]}
        for need in ("PIPELINING", "SIZE", "8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8", "CHUNKING", "HELP"):
            assert need in kw, "EHLO lacks %s: %r" % (need, r.lines)
        assert kw["SIZE"].split() == ["SIZE", "26214400"], kw["SIZE"]
        # What is not announced here is refused: 502 5.5.1 (RFC 5321 4.2.4,
        # not implemented) or, like Postfix for AUTH, 503 5.5.1 (not enabled).
        for verb, line in (("STARTTLS", "STARTTLS"), ("AUTH", "AUTH PLAIN AGFsaWNlAHB3LWFsaWNl"),
                           ("ETRN", "ETRN example.test")):
            if verb not in kw:
                r2 = c.cmd(line)
                assert r2.startswith("502 5.5.1") or r2.startswith("503 5.5.1"), (line, r2.lines)


@pytest.mark.konvert(config={"max_message_size": "123456"})
def test_ehlo_size_follows_config(server):
    with server.connect() as c:
        r = c.cmd("EHLO client.test")
        assert "250-SIZE 123456" in r.lines or "250 SIZE 123456" in r.lines, r.lines


def test_helo(server):
    with server.connect() as c:
        r = c.cmd("HELO client.test")
        assert r.lines == [r.line] and r.line.startswith("250 mx.test"), r.lines
        c.expect("MAIL FROM:<x@y.test>", "250 2.1.0")


def test_simple_commands(smtp):
    smtp.expect("NOOP", "250 2.0.0")
    smtp.expect("RSET", "250 2.0.0")
    smtp.expect("HELP", "214 2.0.0")
    smtp.expect("VRFY alice@example.test", "252 2.5.0")
    smtp.expect("VRFY nobody", "252 2.5.0")
    smtp.expect("QUIT", "221 2.0.0")
    assert smtp.wait_closed(5)


def test_rset_clears_transaction(smtp):
    smtp.expect("MAIL FROM:<x@y.test>", "250 2.1.0")
    smtp.expect("RCPT TO:<alice@example.test>", "250 2.1.5")
    smtp.expect("RSET", "250 2.0.0")
    smtp.expect("DATA", "503 5.5.1")
    smtp.expect("RCPT TO:<alice@example.test>", "503 5.5.1")
    smtp.expect("MAIL FROM:<x@y.test>", "250 2.1.0")


def test_ehlo_resets_transaction(smtp, server):
    smtp.expect("MAIL FROM:<x@y.test>", "250 2.1.0")
    smtp.expect("RCPT TO:<alice@example.test>", "250 2.1.5")
    smtp.ehlo()  # RFC 5321 4.1.4: EHLO implies RSET
    smtp.expect("DATA", "503 5.5.1")
    assert server.delivered("alice@example.test") == []


# --- plain delivery ---------------------------------------------------------------

def test_smtplib_send_and_stored_format(server):
    tok = unique_token()
    msg = make_msg("plain " + tok, "Hello Alice.\r\nSecond line.\r\n", msgid=tok + "@y.test")
    with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=30) as s:
        code, _ = s.ehlo("client.test")
        assert code == 250
        s.mail("x@y.test")
        code, text = s.rcpt("alice@example.test")
        assert code == 250
        code, text = s.data(msg)
        assert code == 250 and QUEUED_RE.match("250 " + text.decode()), text
    st = only_message(server, "alice@example.test")
    assert st.return_path == "x@y.test"
    assert b"mx.test" in st.received, st.received
    assert st.content == wire_to_stored(msg)
    assert b"\r" not in st.raw
    assert server.delivered("bob@example.test") == []


def test_queue_ids_unique(smtp, server):
    ids = set()
    for i in range(3):
        r = smtp.send_mail("x@y.test", ["alice@example.test"], make_msg("n%d" % i))
        assert QUEUED_RE.match(r.line), r.lines
        ids.add(r.line.split()[-1])
    assert len(ids) == 3
    assert len(server.delivered("alice@example.test")) == 3


def test_null_sender(smtp, server):
    r = smtp.send_mail("", ["alice@example.test"], make_msg("bounce"))
    assert QUEUED_RE.match(r.line), r.lines
    assert only_message(server, "alice@example.test").return_path == ""


def test_received_header_is_first_trace(smtp, server):
    smtp.send_mail("x@y.test", ["bob@example.test"], make_msg("trace"))
    st = only_message(server, "bob@example.test")
    assert st.raw.startswith(b"Return-Path: <x@y.test>\nDelivered-To: bob@example.test\n"
                             b"Received: from ")
    # RFC 5321 4.4: the FROM clause has the EHLO name and the client's
    # address literal; BY names this host.
    assert b"client.test" in st.received and b"127.0.0.1" in st.received, st.received
    assert b"by mx.test" in st.received, st.received
    # The Received header ends with a date (RFC 5321 4.4: "; date-time").
    assert b";" in st.received, st.received


def test_other_domain_and_case_insensitive(smtp, server):
    smtp.expect("MAIL FROM:<x@y.test>", "250 2.1.0")
    smtp.expect("RCPT TO:<Erin@OTHER.Test>", "250 2.1.5")
    smtp.expect("RCPT TO:<CAROL@example.TEST>", "250 2.1.5")
    smtp.expect("RCPT TO:<alice@other.test>", "550 5.1.1")  # accounts are per address
    r = smtp.data(dot_stuff(make_msg("case")))
    assert QUEUED_RE.match(r.line), r.lines
    assert only_message(server, "erin@other.test").content.endswith(b"hello\n")
    assert only_message(server, "carol@example.test")
    assert server.delivered("alice@other.test") == []


def test_postmaster_always_accepted(smtp, server):
    smtp.expect("MAIL FROM:<x@y.test>", "250 2.1.0")
    smtp.expect("RCPT TO:<postmaster>", "250 2.1.5")
    r = smtp.data(dot_stuff(make_msg("pm1", to="postmaster")))
    assert QUEUED_RE.match(r.line), r.lines
    smtp.expect("MAIL FROM:<x@y.test>", "250 2.1.0")
    smtp.expect("RCPT TO:<PostMaster@Example.Test>", "250 2.1.5")
    r = smtp.data(dot_stuff(make_msg("pm2")))
    assert QUEUED_RE.match(r.line), r.lines
    smtp.expect("MAIL FROM:<x@y.test>", "250 2.1.0")
    smtp.expect("RCPT TO:<POSTMASTER>", "250 2.1.5")
    r = smtp.data(dot_stuff(make_msg("pm3")))
    assert QUEUED_RE.match(r.line), r.lines
    subjects = sorted(header_value(Stored(p).content, "Subject")
                      for p in server.delivered("postmaster@example.test"))
    assert subjects == ["pm1", "pm2", "pm3"]


def test_quoted_local_part_is_the_same_mailbox(smtp, server):
    """RFC 5321 2.4 / RFC 5322 3.4.1: "alice" quoted is the local part alice.
    A sender that needs quoting keeps it in Return-Path (RFC 5321 4.1.2)."""
    smtp.expect('MAIL FROM: <"x y"@y.test>', "250 2.1.0")  # one space after the colon is tolerated
    smtp.expect('RCPT TO:<"alice"@example.test>', "250 2.1.5")
    r = smtp.data(dot_stuff(make_msg("quoted")))
    assert QUEUED_RE.match(r.line), r.lines
    st = only_message(server, "alice@example.test")
    assert header_value(st.content, "Subject") == "quoted"
    assert st.return_path == '"x y"@y.test'


def test_empty_message(smtp, server):
    smtp.expect("MAIL FROM:<x@y.test>", "250 2.1.0")
    smtp.expect("RCPT TO:<alice@example.test>", "250 2.1.5")
    r = smtp.data(b"")
    assert QUEUED_RE.match(r.line), r.lines
    assert only_message(server, "alice@example.test").content == b""


def test_bcc_not_disclosed(smtp, server):
    """RFC 5321 7.2: a blind-copy recipient must not show up in the other
    recipients' copies (e.g. in a Received "for" clause)."""
    msg = make_msg("bcc", to="alice@example.test")
    smtp.send_mail("x@y.test", ["alice@example.test", "bob@example.test", "carol@example.test"], msg)
    a = only_message(server, "alice@example.test").raw
    assert b"bob@" not in a and b"carol@" not in a, a[:400]
    b = only_message(server, "bob@example.test").raw
    assert b"carol@" not in b, b[:400]


def test_ipv6_listener(make_server):
    """A [::1]:PORT listen value; ::1 is outside relay_networks 127.0.0.0/8."""
    s6 = socket.socket(socket.AF_INET6)
    s6.bind(("::1", 0))
    port6 = s6.getsockname()[1]
    s6.close()
    srv = make_server()
    srv.overrides["smtp_listen"] = "127.0.0.1:%d [::1]:%d" % (srv.smtp_port, port6)
    srv.write_config()
    srv.start()
    with SMTPConn(port6, host="::1") as c:
        assert c.greeting.startswith("220 mx.test"), c.greeting
        c.ehlo()
        c.expect("MAIL FROM:<x@y.test>", "250 2.1.0")
        r = c.cmd("RCPT TO:<someone@remote.test>")
        assert r.startswith("554 5.7.1"), r.lines
        c.expect("RCPT TO:<bob@example.test>", "250 2.1.5")
        r = c.data(dot_stuff(make_msg("over v6")))
        assert QUEUED_RE.match(r.line), r.lines
    st = only_message(srv, "bob@example.test")
    assert b"::1" in st.received, st.received


@pytest.mark.konvert(aliases="postmaster: carol\n")
def test_postmaster_alias(smtp, server):
    smtp.send_mail("x@y.test", ["postmaster@example.test"], make_msg("to pm"))
    assert header_value(only_message(server, "carol@example.test").content, "Subject") == "to pm"
    assert server.delivered("postmaster@example.test") == []


@pytest.mark.konvert(aliases="# team list\nteam: alice, bob@example.test,\n  dave\n")
def test_alias_and_recipient_dedup(smtp, server):
    tok = unique_token()
    msg = make_msg("dedup " + tok, msgid=tok + "@y.test")
    smtp.expect("MAIL FROM:<x@y.test>", "250 2.1.0")
    for rcpt in ("alice@example.test", "bob@example.test", "carol@example.test", "team@example.test",
                 "ALICE@example.test"):
        smtp.expect("RCPT TO:<%s>" % rcpt, "250 2.1.5")
    r = smtp.data(dot_stuff(msg))
    assert QUEUED_RE.match(r.line), r.lines
    for who in ("alice", "bob", "carol", "dave"):
        st = only_message(server, who + "@example.test")
        assert st.content == wire_to_stored(msg), who
    assert server.delivered("team@example.test") == []


@pytest.mark.konvert(aliases="sales@other.test: erin, alice@example.test\n")
def test_alias_full_address(smtp, server):
    smtp.send_mail("x@y.test", ["sales@other.test"], make_msg("sales"))
    assert only_message(server, "erin@other.test")
    assert only_message(server, "alice@example.test")
    smtp.expect("MAIL FROM:<x@y.test>", "250 2.1.0")
    smtp.expect("RCPT TO:<sales@example.test>", "550 5.1.1")  # the alias is for other.test only


def test_maildir_readable_by_python_mailbox(smtp, server):
    body = "Line one\r\nLine two with unicode escape =E2=82=AC\r\n"
    msg = make_msg("mailbox check", body, msgid="mbx@y.test")
    smtp.send_mail("x@y.test", ["dave@example.test"], msg)
    md = mailbox.Maildir(str(server.maildir("dave@example.test")), factory=None, create=False)
    msgs = list(md)
    assert len(msgs) == 1
    m = msgs[0]
    assert m["Subject"] == "mailbox check"
    assert m["Message-ID"] == "<mbx@y.test>"
    assert m["Return-Path"] == "<x@y.test>"
    assert m.get_payload() == body.replace("\r\n", "\n")
    assert m.get_subdir() == "new"
    for sub in ("tmp", "new", "cur"):  # a complete Maildir for mutt/Dovecot
        assert (server.maildir("dave@example.test") / sub).is_dir(), sub
    for key in md.keys():
        assert "/" not in key and not key.startswith(".")
    # Dovecot trusts ,S= (file size) and ,W= (size with CRLF) in the name.
    for p in server.delivered("dave@example.test"):
        data = p.read_bytes()
        m = re.search(r",S=(\d+)", p.name)
        if m:
            assert int(m.group(1)) == len(data), p.name
        m = re.search(r",W=(\d+)", p.name)
        if m:
            assert int(m.group(1)) == len(data) + data.count(b"\n"), p.name


# --- PIPELINING (RFC 2920) -------------------------------------------------------

def test_pipelining(server):
    msg = make_msg("pipelined")
    with server.connect() as c:
        c.send(b"EHLO client.test\r\n")
        assert c.read_reply().code == 250
        c.send(b"MAIL FROM:<x@y.test>\r\nRCPT TO:<alice@example.test>\r\n"
               b"RCPT TO:<nobody@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n")
        expect = ["250 2.1.0", "250 2.1.5", "550 5.1.1", "250 2.1.5", "354"]
        got = [c.read_reply() for _ in expect]
        for e, r in zip(expect, got):
            assert r.startswith(e), (expect, [g.lines for g in got])
        c.send(dot_stuff(msg) + b".\r\nRSET\r\nMAIL FROM:<z@y.test>\r\nRCPT TO:<carol@example.test>\r\n"
               b"DATA\r\n")
        r = c.read_reply()
        assert QUEUED_RE.match(r.line), r.lines
        for e in ("250 2.0.0", "250 2.1.0", "250 2.1.5", "354"):
            r = c.read_reply()
            assert r.startswith(e), (e, r.lines)
        c.send(dot_stuff(msg) + b".\r\nQUIT\r\n")
        assert QUEUED_RE.match(c.read_reply().line)
        assert c.read_reply().startswith("221 2.0.0")
        assert c.wait_closed(5)
    for who in ("alice", "bob", "carol"):
        st = only_message(server, who + "@example.test")
        assert st.content == wire_to_stored(msg)
    assert only_message(server, "carol@example.test").return_path == "z@y.test"


def test_pipelining_whole_session_one_write(server):
    """A client that sends everything at once (after the greeting) gets
    every reply in order and one delivery."""
    msg = make_msg("one write")
    with server.connect() as c:
        c.send(b"EHLO client.test\r\nMAIL FROM:<x@y.test>\r\nRCPT TO:<bob@example.test>\r\n")
        assert c.read_reply().code == 250
        assert c.read_reply().startswith("250 2.1.0")
        assert c.read_reply().startswith("250 2.1.5")
        c.send(b"DATA\r\n")
        assert c.read_reply().startswith("354")
        c.send(dot_stuff(msg) + b".\r\nNOOP\r\nQUIT\r\n")
        assert QUEUED_RE.match(c.read_reply().line)
        assert c.read_reply().startswith("250 2.0.0")
        assert c.read_reply().startswith("221 2.0.0")
    assert only_message(server, "bob@example.test").content == wire_to_stored(msg)


# --- CHUNKING / BDAT (RFC 3030) -----------------------------------------------

def bdat_session(c, chunks, rcpt="alice@example.test", last_empty=False):
    """Sends MAIL/RCPT and the chunks (the last one with LAST unless
    last_empty, then a BDAT 0 LAST); returns the replies to the BDATs."""
    c.expect("MAIL FROM:<x@y.test>", "250 2.1.0")
    c.expect("RCPT TO:<%s>" % rcpt, "250 2.1.5")
    replies = []
    for i, ch in enumerate(chunks):
        last = " LAST" if (i == len(chunks) - 1 and not last_empty) else ""
        c.send(b"BDAT %d%s\r\n" % (len(ch), last.encode()) + ch)
        replies.append(c.read_reply())
    if last_empty:
        c.send(b"BDAT 0 LAST\r\n")
        replies.append(c.read_reply())
    return replies


def test_bdat_chunks(smtp, server):
    msg = make_msg("bdat", "first part\r\nsecond part\r\nthird\r\n")
    chunks = [msg[:10], msg[10:31], msg[31:]]
    replies = bdat_session(smtp, chunks)
    for r in replies[:-1]:
        assert r.startswith("250 2.0.0") and "queued" not in r.line, r.lines
    assert QUEUED_RE.match(replies[-1].line), replies[-1].lines
    assert only_message(server, "alice@example.test").content == wire_to_stored(msg)
    smtp.expect("NOOP", "250 2.0.0")


def test_bdat_zero_last(smtp, server):
    msg = make_msg("bdat0", "body\r\n")
    replies = bdat_session(smtp, [msg[:20], msg[20:]], last_empty=True)
    assert [r.line.startswith("250 2.0.0") for r in replies] == [True, True, True]
    assert QUEUED_RE.match(replies[-1].line), replies[-1].lines
    assert only_message(server, "alice@example.test").content == wire_to_stored(msg)


def test_bdat_single_chunk_last(smtp, server):
    msg = make_msg("bdat1", "one\r\n")
    replies = bdat_session(smtp, [msg])
    assert QUEUED_RE.match(replies[0].line)
    assert only_message(server, "alice@example.test").content == wire_to_stored(msg)


def test_bdat_no_dot_transparency(smtp, server):
    """BDAT content is not dot-stuffed: CRLF.CRLF and leading dots are
    message text (RFC 3030 2)."""
    body = b"before\r\n.\r\nafter the dot\r\n..two dots\r\n.\r\nQUIT\r\n"
    msg = make_msg("bdat dots", body)
    replies = bdat_session(smtp, [msg[:len(msg) // 2], msg[len(msg) // 2:]])
    assert QUEUED_RE.match(replies[-1].line), replies[-1].lines
    st = only_message(server, "alice@example.test")
    assert st.content == wire_to_stored(msg)
    assert st.content.endswith(b"before\n.\nafter the dot\n..two dots\n.\nQUIT\n")
    smtp.expect("NOOP", "250 2.0.0")


def test_bdat_crlf_split_across_chunks(smtp, server):
    msg = make_msg("split", "aaa\r\nbbb\r\nccc\r\n")
    i = msg.index(b"bbb\r\n") + 4  # chunk ends with CR, next starts with LF
    replies = bdat_session(smtp, [msg[:i], msg[i:]])
    assert QUEUED_RE.match(replies[-1].line), replies[-1].lines
    assert only_message(server, "alice@example.test").content == wire_to_stored(msg)


def test_bdat_pipelined(server):
    msg = make_msg("bdat pipelined", "x" * 3000 + "\r\n")
    with server.connect() as c:
        c.ehlo()
        c.send(b"MAIL FROM:<x@y.test>\r\nRCPT TO:<bob@example.test>\r\n"
               + b"BDAT 1000\r\n" + msg[:1000]
               + b"BDAT %d LAST\r\n" % (len(msg) - 1000) + msg[1000:] + b"MAIL FROM:<x@y.test>\r\n")
        for e in ("250 2.1.0", "250 2.1.5", "250 2.0.0"):
            r = c.read_reply()
            assert r.startswith(e), (e, r.lines)
        assert QUEUED_RE.match(c.read_reply().line)
        assert c.read_reply().startswith("250 2.1.0")
    assert only_message(server, "bob@example.test").content == wire_to_stored(msg)


def test_data_after_bdat_same_transaction(smtp, server):
    """RFC 3030 2: DATA after BDAT in one transaction is 503."""
    smtp.expect("MAIL FROM:<x@y.test>", "250 2.1.0")
    smtp.expect("RCPT TO:<alice@example.test>", "250 2.1.5")
    smtp.send(b"BDAT 9\r\nSubject: ")
    assert smtp.read_reply().startswith("250 2.0.0")
    smtp.expect("DATA", "503 5.5.1")
    smtp.expect("RSET", "250 2.0.0")
    assert server.delivered("alice@example.test") == []


def test_bdat_then_data_transaction(smtp, server):
    m1 = make_msg("first", "one\r\n")
    m2 = make_msg("second", "two\r\n")
    bdat_session(smtp, [m1])
    r = smtp.send_mail("x@y.test", ["alice@example.test"], m2)
    assert QUEUED_RE.match(r.line)
    contents = sorted(Stored(p).content for p in server.delivered("alice@example.test"))
    assert contents == sorted([wire_to_stored(m1), wire_to_stored(m2)])


# --- other clients ----------------------------------------------------------------

def test_swaks(server):
    tok = unique_token("swaks")
    r = subprocess.run(
        ["/usr/bin/swaks", "--server", "127.0.0.1:%d" % server.smtp_port, "--to", "alice@example.test",
         "--from", "x@y.test", "--helo", "client.test", "--header", "Subject: swaks " + tok,
         "--body", "swaks body " + tok, "--timeout", "20"],
        capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    st = only_message(server, "alice@example.test")
    assert st.return_path == "x@y.test"
    assert header_value(st.content, "Subject") == "swaks " + tok
    assert ("swaks body " + tok).encode() in st.content
    assert b"\r" not in st.raw


def test_swaks_pipelining(server):
    r = subprocess.run(
        ["/usr/bin/swaks", "--server", "127.0.0.1:%d" % server.smtp_port, "--to",
         "bob@example.test,carol@example.test", "--from", "x@y.test", "--pipeline",
         "--body", "pipelined body", "--timeout", "20"],
        capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert b"pipelined body" in only_message(server, "bob@example.test").content
    assert b"pipelined body" in only_message(server, "carol@example.test").content


def test_curl(server, tmp_path):
    tok = unique_token("curl")
    msg = make_msg("curl " + tok, "curl body\r\n.leading dot\r\n", msgid=tok + "@y.test")
    f = tmp_path / "msg.eml"
    f.write_bytes(msg)
    r = subprocess.run(
        ["/usr/bin/curl", "-sS", "--max-time", "30", "smtp://127.0.0.1:%d/client.test" % server.smtp_port,
         "--mail-from", "x@y.test", "--mail-rcpt", "alice@example.test", "--mail-rcpt", "dave@example.test",
         "--upload-file", str(f)],
        capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    for who in ("alice", "dave"):
        st = only_message(server, who + "@example.test")
        assert st.content == wire_to_stored(msg), who


# --- reload and durability -------------------------------------------------------

def rcpt_reply(server, rcpt):
    with server.connect() as c:
        c.ehlo()
        c.expect("MAIL FROM:<x@y.test>", "250 2.1.0")
        return c.cmd("RCPT TO:<%s>" % rcpt)


def test_sighup_reloads_users(server):
    assert rcpt_reply(server, "frank@example.test").startswith("550 5.1.1")
    server.add_user("frank@example.test", "pw-frank")
    server.hup()
    r = wait_for(lambda: rcpt_reply(server, "frank@example.test").startswith("250 2.1.5"), timeout=10)
    assert r, "frank not accepted within 10 s of SIGHUP"
    with server.connect() as c:
        c.ehlo()
        c.send_mail("x@y.test", ["frank@example.test"], make_msg("after hup"))
    assert len(server.delivered("frank@example.test")) == 1
    # and away again
    r = server.cli("user", "del", "frank@example.test")
    assert r.returncode == 0, r.stderr
    server.hup()
    assert wait_for(lambda: rcpt_reply(server, "frank@example.test").startswith("550 5.1.1"), timeout=10)


def test_sighup_reloads_aliases_keeps_sessions(server):
    with server.connect() as old:
        old.ehlo()
        old.expect("MAIL FROM:<x@y.test>", "250 2.1.0")
        assert rcpt_reply(server, "list@example.test").startswith("550 5.1.1")
        server.write_aliases("list: bob, carol\n")
        server.hup()
        assert wait_for(lambda: rcpt_reply(server, "list@example.test").startswith("250 2.1.5"), timeout=10)
        # the session opened before the reload goes on
        old.expect("RCPT TO:<alice@example.test>", "250 2.1.5")
        r = old.data(dot_stuff(make_msg("old session")))
        assert QUEUED_RE.match(r.line), r.lines
    assert len(server.delivered("alice@example.test")) == 1
    with server.connect() as c:
        c.ehlo()
        c.send_mail("x@y.test", ["list@example.test"], make_msg("to list"))
    assert len(server.delivered("bob@example.test")) == 1
    assert len(server.delivered("carol@example.test")) == 1


@pytest.mark.konvert(aliases="team: bob\n")
def test_sighup_with_broken_aliases_keeps_serving(server):
    """A bad aliases file on reload ("|command" targets are errors, see
    src/auth/aliases.h) must not take the server down; it keeps serving
    with the table it had."""
    server.write_aliases("team: |/bin/sh -c 'touch /tmp/pwned'\nbroken line without colon\n")
    server.hup()
    time.sleep(0.5)
    assert server.running(), server.log()[-2000:]
    with server.connect() as c:
        c.ehlo()
        r = c.send_mail("x@y.test", ["alice@example.test"], make_msg("after bad reload"))
        assert QUEUED_RE.match(r.line), r.lines
        c.expect("MAIL FROM:<x@y.test>", "250 2.1.0")
        c.expect("RCPT TO:<team@example.test>", "250 2.1.5")  # old table still in force
    assert len(server.delivered("alice@example.test")) == 1


def test_sighup_storm(server):
    """Many reloads while a session runs: the server survives, the session
    goes on, mail is delivered once."""
    with server.connect() as c:
        c.ehlo()
        c.expect("MAIL FROM:<x@y.test>", "250 2.1.0")
        for i in range(30):
            server.hup()
            time.sleep(0.01)
            c.expect("NOOP", "250 2.0.0")
        c.expect("RCPT TO:<alice@example.test>", "250 2.1.5")
        r = c.data(dot_stuff(make_msg("storm")))
        assert QUEUED_RE.match(r.line), r.lines
    assert server.running()
    assert len(server.delivered("alice@example.test")) == 1


def test_sigterm_mid_data(server):
    """SPEC: SIGTERM finishes or cleanly aborts sessions and exits 0. A
    message without its end marker is not delivered, nothing is left over."""
    c = server.connect()
    try:
        c.ehlo()
        c.expect("MAIL FROM:<x@y.test>", "250 2.1.0")
        c.expect("RCPT TO:<alice@example.test>", "250 2.1.5")
        assert c.cmd("DATA").startswith("354")
        c.send(make_msg("unfinished", "x" * 60 + "\r\n") * 500)
        time.sleep(0.2)
        assert server.stop() == 0
        assert c.wait_closed(5)
    finally:
        c.close()
    assert server.delivered("alice@example.test") == []
    assert server.tmp_leftovers() == []
    assert server.stray_files() == [], "the aborted message is left in data_dir after exit"


def test_kill9_after_250_loses_nothing(server):
    """SPEC: the 250 is sent only once the message is on disk for good."""
    sent = []
    for round_ in range(3):
        body = ("round %d\r\n" % round_) + "".join("line %05d of the durable message\r\n" % i for i in range(3000))
        msg = make_msg("durable %d" % round_, body, msgid="durable-%d@y.test" % round_)
        with server.connect() as c:
            c.ehlo()
            c.expect("MAIL FROM:<x@y.test>", "250 2.1.0")
            c.expect("RCPT TO:<alice@example.test>", "250 2.1.5")
            c.expect("RCPT TO:<bob@example.test>", "250 2.1.5")
            assert c.cmd("DATA").startswith("354")
            c.send(dot_stuff(msg) + b".\r\n")
            line = c.readline()
            server.proc.kill()  # SIGKILL right after the 250 arrived
            assert QUEUED_RE.match(line), line
        server.kill()
        sent.append(wire_to_stored(msg))
        for who in ("alice", "bob"):
            got = sorted(Stored(p).content for p in server.delivered(who + "@example.test"))
            assert got == sorted(sent), "%s after kill -9 round %d" % (who, round_)
        server.start()
    # it serves again on the same data_dir
    with server.connect() as c:
        c.ehlo()
        r = c.send_mail("x@y.test", ["alice@example.test"], make_msg("after restart"))
        assert QUEUED_RE.match(r.line)
    assert len(server.delivered("alice@example.test")) == 4


def test_sigterm_exits_zero_and_restarts(server):
    with server.connect() as c:
        c.ehlo()
        c.send_mail("x@y.test", ["alice@example.test"], make_msg("before stop"))
    assert server.stop() == 0
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.smtp_port), timeout=2).close()
    server.start()
    with server.connect() as c:
        c.ehlo()
        c.send_mail("x@y.test", ["alice@example.test"], make_msg("after start"))
    assert len(server.delivered("alice@example.test")) == 2


def test_sigterm_with_idle_session_open(server):
    c = server.connect()
    c.ehlo()
    c.expect("MAIL FROM:<x@y.test>", "250 2.1.0")
    try:
        assert server.stop() == 0
        assert c.wait_closed(5)
    finally:
        c.close()
    assert server.delivered("alice@example.test") == []


def test_help_lists_what_works(server):
    """HELP names the commands that work here: no EXPN (disabled),
    STARTTLS and AUTH where EHLO offers them, ETRN for relay clients."""
    with server.connect() as c:
        c.ehlo()
        r = c.cmd("HELP")
        assert r.line.startswith("214 2.0.0 Commands: HELO EHLO MAIL RCPT DATA BDAT RSET VRFY HELP NOOP QUIT")
        words = r.line.split()
        assert "EXPN" not in words
        assert "STARTTLS" in words and "ETRN" in words
    with server.connect(server.submission_port) as c:
        c.ehlo()
        words = c.cmd("HELP").line.split()
        assert "AUTH" in words and "STARTTLS" in words


def test_konvert_help_lists_every_subcommand():
    import subprocess
    from conftest import BIN
    out = subprocess.run([str(BIN), "help"], capture_output=True, text=True, timeout=10).stdout
    for sub in ("serve", "user add", "user passwd", "user del", "user list", "check-config",
                "queue list", "queue show", "queue flush", "queue delete", "queue tls-report",
                "sendmail", "dns-records", "dkim rotate", "version", "help"):
        assert "  " + sub in out, (sub, out)
