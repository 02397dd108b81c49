"""POP3 end to end (RFC 1939, 2449, 2595, 3206, 5034): the seed dialogues,
every command and its wrong-state and bad-argument answers, the maildrop
lock (two sessions, two processes), UPDATE only after QUIT, TLS (STLS and
pop3s), SASL, real clients (poplib, curl, fetchmail) and big mailboxes."""

import base64
import getpass
import hashlib
import os
import poplib
import shutil
import socket
import subprocess
import time

import pytest

from pop_util import (
    LineConn,
    PopServer,
    ScramClient,
    crlf_size,
    make_pop_server,  # noqa: F401 (fixture)
    pop_server,  # noqa: F401 (fixture)
    put_message,
    tls_context,
)
from util import SMTPConn, make_msg

ALICE = "alice@example.test"


def exact_message(size, subject):
    """LF text whose CRLF size is exactly size octets."""
    head = ("Subject: %s\n\n" % subject).encode()
    body_len = size - crlf_size(head) - 2
    assert body_len > 0
    return head + b"b" * body_len + b"\n"


def stored_as_sent(data):
    """What RETR delivers for a stored LF message, after unstuffing."""
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def pop(srv, user="alice"):
    p = poplib.POP3("127.0.0.1", srv.pop3_port, timeout=10)
    p.user(user)
    p.pass_("pw-" + user)
    return p


# -- the seed dialogues (RFC 1939 section 10 as the seeds show it) ----------

def seed_session(m1, m2):
    """The RFC 1939 / seed dialogue for messages of 120 and 200 octets."""
    l1 = m1.split(b"\n")[:-1]
    l2 = m2.split(b"\n")[:-1]
    return [
        ("USER alice", [b"+OK"]),
        ("PASS pw-alice", [b"+OK alice@example.test's maildrop has 2 messages (320 octets)"]),
        ("STAT", [b"+OK 2 320"]),
        ("LIST", [b"+OK 2 messages (320 octets)", b"1 120", b"2 200", b"."]),
        ("LIST 2", [b"+OK 2 200"]),
        ("LIST 3", [b"-ERR no such message, only 2 messages in maildrop"]),
        ("TOP 1 10", [b"+OK top of message follows"] + l1 + [b"."]),
        ("TOP 100 3", [b"-ERR no such message, only 2 messages in maildrop"]),
        ("NOOP", [b"+OK"]),
        ("RETR 1", [b"+OK 120 octets"] + l1 + [b"."]),
        ("DELE 1", [b"+OK message 1 deleted"]),
        ("DELE 1", [b"-ERR message 1 already deleted"]),
        ("RSET", [b"+OK maildrop has 2 messages (320 octets)"]),
        ("DELE 1", [b"+OK message 1 deleted"]),
        ("RETR 2", [b"+OK 200 octets"] + l2 + [b"."]),
        ("DELE 2", [b"+OK message 2 deleted"]),
        ("QUIT", [b"+OK mx.test POP3 server signing off (maildrop empty)"]),
    ]


def run_transcript(conn, transcript):
    for line, want in transcript:
        conn.send(line + "\r\n")
        got = [conn.line() for _ in want]
        assert got == want, "after %r" % line


def test_seed_dialogue(pop_server):
    md = pop_server.maildir(ALICE)
    m1, m2 = exact_message(120, "one"), exact_message(200, "two")
    put_message(md, m1, 1)
    put_message(md, m2, 2)
    with LineConn(pop_server.pop3_port) as c:
        assert c.greeting == b"+OK mx.test POP3 server ready (konvert)"
        run_transcript(c, seed_session(m1, m2))
        assert c.closed()
    assert pop_server.files(ALICE) == []


def test_seed_quit_forms(pop_server):
    md = pop_server.maildir(ALICE)
    put_message(md, exact_message(120, "one"), 1)
    put_message(md, exact_message(200, "two"), 2)
    # QUIT in AUTHORIZATION: plain sign-off, no UPDATE.
    with LineConn(pop_server.pop3_port) as c:
        assert c.cmd("QUIT") == b"+OK mx.test POP3 server signing off"
        assert c.closed()
    # Lower-case commands (the Exchange example in the seeds).
    with LineConn(pop_server.pop3_port) as c:
        assert c.cmd("user alice") == b"+OK"
        assert c.cmd("pass pw-alice").startswith(b"+OK")
        assert c.cmd("stat") == b"+OK 2 320"
        assert c.cmd("quit") == b"+OK mx.test POP3 server signing off (2 messages left)"
    assert len(pop_server.files(ALICE)) == 2


# -- greeting, CAPA ------------------------------------------------------------

def test_capa(pop_server):
    with LineConn(pop_server.pop3_port) as c:
        status, caps = c.cmd_multi("CAPA")
        assert status == b"+OK Capability list follows"
        for want in (b"TOP", b"USER", b"UIDL", b"RESP-CODES", b"AUTH-RESP-CODE", b"PIPELINING",
                     b"STLS", b"SASL PLAIN LOGIN SCRAM-SHA-256", b"IMPLEMENTATION konvert"):
            assert want in caps, caps
        assert not any(cap.startswith(b"APOP") for cap in caps)
        c.login()
        status, caps = c.cmd_multi("CAPA")
        assert b"TOP" in caps and b"UIDL" in caps and b"PIPELINING" in caps
        assert b"STLS" not in caps and b"USER" not in caps
    # poplib agrees.
    p = poplib.POP3("127.0.0.1", pop_server.pop3_port, timeout=10)
    caps = p.capa()
    assert "STLS" in caps and "SASL" in caps and "APOP" not in caps
    assert b"<" not in p.getwelcome()  # no APOP timestamp
    p.quit()


# -- wrong state, bad input ------------------------------------------------------

def test_wrong_state_and_unknown(pop_server):
    put_message(pop_server.maildir(ALICE), b"Subject: x\n\nhi\n", 1)
    with LineConn(pop_server.pop3_port) as c:
        for line in ("STAT", "LIST", "RETR 1", "DELE 1", "NOOP", "RSET", "TOP 1 1", "UIDL", "LAST"):
            assert c.cmd(line).startswith(b"-ERR"), line
        assert c.cmd("APOP alice c4c9334bac560ecc979e58001b3e22fb").startswith(b"-ERR")
        assert c.cmd("XYZZY").startswith(b"-ERR")
        assert c.cmd("").startswith(b"-ERR")
        assert c.cmd("PASS pw-alice") == b"-ERR no USER given"
        c.login()
        for line in ("USER alice", "PASS x", "AUTH PLAIN", "STLS"):
            assert c.cmd(line).startswith(b"-ERR"), line
        assert c.cmd("NOOP") == b"+OK"
        assert c.cmd("STAT") == b"+OK 1 %d" % crlf_size(b"Subject: x\n\nhi\n")
        assert c.cmd("QUIT").startswith(b"+OK")
    assert len(pop_server.files(ALICE)) == 1


def test_bad_message_numbers(pop_server):
    md = pop_server.maildir(ALICE)
    put_message(md, b"Subject: a\n\na\n", 1)
    put_message(md, b"Subject: b\n\nb\n", 2)
    before = pop_server.files(ALICE)
    with LineConn(pop_server.pop3_port) as c:
        c.login()
        bad = ["0", "-1", "+1", "abc", "1a", "3", "4294967295", "4294967296",
               "99999999999999999999999999999999", "0x1", "1.0"]
        for verb in ("RETR", "DELE", "LIST", "UIDL"):
            for n in bad:
                r = c.cmd("%s %s" % (verb, n))
                assert r.startswith(b"-ERR"), (verb, n, r)
            assert c.cmd("NOOP") == b"+OK"  # resets the error count
        for line in ("TOP 1", "TOP 1 -1", "TOP 1 x", "TOP 0 1", "TOP 3 0", "RETR", "DELE",
                     "RETR 1 2", "LIST 1 2", "STAT 1", "QUIT now"):
            assert c.cmd(line).startswith(b"-ERR"), line
        assert c.cmd("STAT").startswith(b"+OK 2 ")
        c.send("RSET\r\n")  # any DELE above must not have counted
        assert c.line().startswith(b"+OK maildrop has 2 messages")
        # The session is still usable, and nothing was marked.
        assert c.cmd("QUIT") == b"+OK mx.test POP3 server signing off (2 messages left)"
    assert pop_server.files(ALICE) != [] and len(pop_server.files(ALICE)) == len(before)


def test_long_lines_and_nul(pop_server):
    put_message(pop_server.maildir(ALICE), b"Subject: a\n\na\n", 1)
    with LineConn(pop_server.pop3_port) as c:
        assert c.cmd("NOOP" + "x" * 2000) == b"-ERR line too long"
        assert c.cmd("USER " + "a" * 100000) == b"-ERR line too long"
        assert c.cmd(b"US\0ER alice") == b"-ERR NUL character in command"
        assert c.cmd(b"USER al\0ice") == b"-ERR NUL character in command"
        c.login()
        assert c.cmd(b"RETR 1\0") == b"-ERR NUL character in command"
        assert c.cmd("STAT").startswith(b"+OK 1 ")
        assert c.cmd("QUIT").startswith(b"+OK")


def test_too_many_bad_commands_close(pop_server):
    with LineConn(pop_server.pop3_port) as c:
        for _ in range(19):
            assert c.cmd("BOGUS").startswith(b"-ERR")
        c.send("BOGUS\r\n")
        assert c.closed()
        # One reply per command: the 20th gets its -ERR, then the close.
        assert c.trailing == [b"-ERR unknown command"]
    # After login only errors in a row count; +OK resets.
    put_message(pop_server.maildir(ALICE), b"Subject: a\n\na\n", 1)
    with LineConn(pop_server.pop3_port) as c:
        c.login()
        for _ in range(3):
            for _ in range(19):
                assert c.cmd("RETR 9").startswith(b"-ERR no such message")
            assert c.cmd("NOOP") == b"+OK"
        c.send("BOGUS\r\n" * 20)
        for _ in range(19):
            assert c.line() == b'-ERR unknown command "BOGUS"'
        assert c.closed()
        assert c.trailing == [b'-ERR unknown command "BOGUS"']


@pytest.mark.konvert(config={"plaintext_auth": "tls"})
def test_refusals_before_login_are_capped(pop_server):
    # Refused USER, AUTH PLAIN/LOGIN and a cancelled AUTH are -ERRs that
    # no +OK (CAPA) resets before login: 20 of them end the session.
    with LineConn(pop_server.pop3_port) as c:
        refusals = ["USER x", "AUTH PLAIN", "AUTH LOGIN", "PASS y"]
        for i in range(16):
            assert c.cmd(refusals[i % 4]).startswith(b"-ERR"), i
            assert c.cmd_multi("CAPA")[0] == b"+OK Capability list follows"
        assert c.cmd("AUTH SCRAM-SHA-256") == b"+ "
        assert c.cmd("*") == b"-ERR authentication cancelled"
        assert c.cmd("XYZZY") == b"-ERR unknown command"
        assert c.cmd("USER x").startswith(b"-ERR [AUTH] Plaintext")
        c.send("USER x\r\n")
        assert c.closed()
        assert c.trailing == [b"-ERR [AUTH] Plaintext authentication disallowed on non-secure "
                              b"(SSL/TLS) connections"]
    # A flood is cut off after 20 replies and leaves a few log lines, not
    # one per refusal.
    with LineConn(pop_server.pop3_port) as c:
        c.send(b"USER x\r\n" * 5000)
        assert c.closed()
        # (Unread input makes the close a reset, which may cut the tail.)
        assert len(c.trailing) <= 20
    log = pop_server.log()
    assert log.count("event=reply result=err") == 0
    assert log.count("reason=too-many-errors") == 2


@pytest.mark.konvert(config={"plaintext_auth": "tls"})
def test_no_credentials_in_log(pop_server):
    # A client that pipelines its AUTH PLAIN response (or a password) after
    # a refusal: the secret arrives as an unknown command.
    secret = base64.b64encode(b"\0alice\0pw-alice-secret").decode()
    with LineConn(pop_server.pop3_port) as c:
        c.send("AUTH PLAIN\r\n" + secret + "\r\nPASSWORD-hunter2\r\n")
        assert c.line().startswith(b"-ERR [AUTH] Plaintext")
        assert c.line() == b"-ERR unknown command"
        assert c.line() == b"-ERR unknown command"
        assert c.cmd("QUIT").startswith(b"+OK")
    log = pop_server.log()
    for leak in (secret, secret[:20], "hunter2", "PASSWORD"):
        assert leak not in log


def test_bare_lf_line_ends(pop_server):
    with LineConn(pop_server.pop3_port) as c:
        c.send(b"USER alice\nPASS pw-alice\n")
        assert c.line() == b"+OK"
        assert c.line().startswith(b"+OK alice@example.test's maildrop")


# -- DELE / RSET / QUIT / UPDATE --------------------------------------------------

def test_dele_rset_quit(pop_server):
    for i in range(3):
        pop_server.deliver(ALICE, make_msg(subject="m%d" % i, body="body %d\r\n" % i))
    assert len(pop_server.files(ALICE)) == 3
    with LineConn(pop_server.pop3_port) as c:
        c.login()
        _, listing = c.cmd_multi("LIST")
        sizes = dict(line.split() for line in listing)
        total = sum(int(v) for v in sizes.values())
        assert c.cmd("STAT") == b"+OK 3 %d" % total
        assert c.cmd("DELE 2") == b"+OK message 2 deleted"
        assert c.cmd("RETR 2") == b"-ERR message 2 already deleted"
        assert c.cmd("TOP 2 0") == b"-ERR message 2 already deleted"
        assert c.cmd("LIST 2") == b"-ERR message 2 already deleted"
        assert c.cmd("UIDL 2") == b"-ERR message 2 already deleted"
        assert c.cmd("STAT") == b"+OK 2 %d" % (total - int(sizes[b"2"]))
        _, listing = c.cmd_multi("LIST")
        assert [ln.split()[0] for ln in listing] == [b"1", b"3"]
        _, uidl = c.cmd_multi("UIDL")
        assert [ln.split()[0] for ln in uidl] == [b"1", b"3"]
        assert c.cmd("RSET") == b"+OK maildrop has 3 messages (%d octets)" % total
        assert c.cmd("RETR 2").startswith(b"+OK")
        c.multi()
        assert c.cmd("DELE 1") == b"+OK message 1 deleted"
        assert c.cmd("DELE 3") == b"+OK message 3 deleted"
        # Nothing is removed before QUIT.
        assert len(pop_server.files(ALICE)) == 3
        assert c.cmd("QUIT") == b"+OK mx.test POP3 server signing off (1 message left)"
        assert c.closed()
    left = pop_server.delivered(ALICE)
    assert len(left) == 1 and b"Subject: m1" in left[0].read_bytes()


def test_dropped_connection_deletes_nothing(pop_server):
    for i in range(2):
        put_message(pop_server.maildir(ALICE), b"Subject: %d\n\nx\n" % i, i)
    c = LineConn(pop_server.pop3_port)
    c.login()
    assert c.cmd("DELE 1").startswith(b"+OK")
    assert c.cmd("DELE 2").startswith(b"+OK")
    c.close()  # no QUIT: no UPDATE
    # The lock is released once the server noticed; then all is still there.
    deadline = time.monotonic() + 10
    while True:
        with LineConn(pop_server.pop3_port) as c2:
            c2.cmd("USER alice")
            r = c2.cmd("PASS pw-alice")
            if r.startswith(b"+OK"):
                assert b"has 2 messages" in r
                assert c2.cmd("QUIT").endswith(b"(2 messages left)")
                break
            assert b"[IN-USE]" in r and time.monotonic() < deadline
        time.sleep(0.1)
    assert len(pop_server.files(ALICE)) == 2


@pytest.mark.konvert(config={"pop3_timeout": "2s"})
def test_idle_timeout_deletes_nothing(pop_server):
    put_message(pop_server.maildir(ALICE), b"Subject: a\n\na\n", 1)
    with LineConn(pop_server.pop3_port) as c:
        c.login()
        assert c.cmd("DELE 1").startswith(b"+OK")
        assert c.closed(timeout=15)
        assert c.trailing == [b"-ERR disconnected for inactivity"]
    assert len(pop_server.files(ALICE)) == 1
    p = pop(pop_server)
    assert p.stat()[0] == 1
    p.quit()


# -- the maildrop lock -------------------------------------------------------------

def test_in_use_two_sessions(pop_server):
    put_message(pop_server.maildir(ALICE), b"Subject: a\n\na\n", 1)
    a = LineConn(pop_server.pop3_port)
    a.login()
    with LineConn(pop_server.pop3_port) as b:
        assert b.cmd("USER alice") == b"+OK"
        assert b.cmd("PASS pw-alice") == b"-ERR [IN-USE] maildrop is locked by another session"
        # Back in AUTHORIZATION, USER forgotten; other users are not locked.
        assert b.cmd("PASS pw-alice") == b"-ERR no USER given"
        b.login("bob")
        assert b.cmd("QUIT").startswith(b"+OK")
    assert a.cmd("QUIT").startswith(b"+OK")
    a.close()
    with LineConn(pop_server.pop3_port) as b:
        b.login()
        assert b.cmd("QUIT").startswith(b"+OK")


def test_in_use_across_two_processes(make_pop_server):
    one = make_pop_server(name="one")
    one.start()
    two = make_pop_server(name="two", config={"data_dir": str(one.data_dir)}, users=False)
    two.start()
    put_message(one.maildir(ALICE), b"Subject: a\n\na\n", 1)
    with LineConn(one.pop3_port) as a:
        a.login()
        with LineConn(two.pop3_port) as b:
            assert b.cmd("USER alice") == b"+OK"
            assert b.cmd("PASS pw-alice").startswith(b"-ERR [IN-USE]")
        assert a.cmd("DELE 1").startswith(b"+OK")
        assert a.cmd("QUIT").endswith(b"(maildrop empty)")
        assert a.closed()
    with LineConn(two.pop3_port) as b:
        assert b.login().endswith(b"has 0 messages (0 octets)")
        assert b.cmd("QUIT").startswith(b"+OK")


def test_snapshot_hides_new_mail(pop_server):
    pop_server.deliver(ALICE, make_msg(subject="first"))
    with LineConn(pop_server.pop3_port) as c:
        c.login()
        assert c.cmd("STAT").startswith(b"+OK 1 ")
        pop_server.deliver(ALICE, make_msg(subject="second"))
        assert c.cmd("STAT").startswith(b"+OK 1 ")
        _, listing = c.cmd_multi("LIST")
        assert len(listing) == 1
        assert c.cmd("RETR 2").startswith(b"-ERR no such message")
        assert c.cmd("QUIT").startswith(b"+OK")
    p = pop(pop_server)
    assert p.stat()[0] == 2
    p.quit()


# -- UIDL, TOP, LAST, byte-stuffing, sizes ----------------------------------------------

def test_uidl_stable_across_restart(pop_server):
    for i in range(4):
        pop_server.deliver(ALICE, make_msg(subject="u%d" % i))
    p = pop(pop_server)
    uidls = p.uidl()[1]
    single = p.uidl(3)
    p.quit()
    ids = [u.split()[1] for u in uidls]
    assert len(set(ids)) == 4
    assert all(0 < len(i) <= 70 and all(0x21 <= ch <= 0x7E for ch in i) for i in ids)
    assert single == b"+OK 3 " + ids[2]
    assert pop_server.stop() == 0
    pop_server.start()
    p = pop(pop_server)
    assert [u.split()[1] for u in p.uidl()[1]] == ids
    p.dele(2)
    p.quit()
    p = pop(pop_server)
    assert [u.split()[1] for u in p.uidl()[1]] == [ids[0], ids[2], ids[3]]
    p.quit()


def test_top(pop_server):
    md = pop_server.maildir(ALICE)
    put_message(md, b"From: a@b\nSubject: t\n\nl1\nl2\nl3\n", 1)
    put_message(md, b"From: a@b\nSubject: no body\n", 2)
    put_message(md, b"Subject: no final newline\n\nl1\nl2", 3)
    with LineConn(pop_server.pop3_port) as c:
        c.login()
        head = [b"From: a@b", b"Subject: t", b""]
        assert c.cmd_multi("TOP 1 0")[1] == head
        assert c.cmd_multi("TOP 1 1")[1] == head + [b"l1"]
        assert c.cmd_multi("TOP 1 2")[1] == head + [b"l1", b"l2"]
        assert c.cmd_multi("TOP 1 3")[1] == head + [b"l1", b"l2", b"l3"]
        assert c.cmd_multi("TOP 1 1000")[1] == head + [b"l1", b"l2", b"l3"]
        assert c.cmd_multi("TOP 1 18446744073709551615")[1] == head + [b"l1", b"l2", b"l3"]
        assert c.cmd_multi("TOP 2 0")[1] == [b"From: a@b", b"Subject: no body"]
        assert c.cmd_multi("TOP 2 5")[1] == [b"From: a@b", b"Subject: no body"]
        assert c.cmd_multi("TOP 3 1")[1] == [b"Subject: no final newline", b"", b"l1"]
        assert c.cmd_multi("TOP 3 9")[1] == [b"Subject: no final newline", b"", b"l1", b"l2"]
        # RETR of a message without a final line end still ends in CRLF.CRLF.
        status, lines = c.cmd_multi("RETR 3")
        assert status == b"+OK %d octets" % crlf_size(b"Subject: no final newline\n\nl1\nl2")
        assert c.cmd("QUIT").startswith(b"+OK")


def test_byte_stuffing(pop_server):
    body = b".\r\n..two\r\n.hidden\r\nplain\r\n. \r\n"
    msg = make_msg(subject="dots", body=body)
    pop_server.deliver(ALICE, msg)
    with LineConn(pop_server.pop3_port) as c:
        c.login()
        c.send("RETR 1\r\n")
        assert c.line().startswith(b"+OK")
        raw = b""
        while not raw.endswith(b"\r\n.\r\n"):
            raw += c.read_exact(1)
        wire_body = raw.split(b"\r\n\r\n", 1)[1]
        assert wire_body == b"..\r\n...two\r\n..hidden\r\nplain\r\n.. \r\n.\r\n"
        status, lines = c.cmd_multi("TOP 1 2")
        assert lines[-2:] == [b"..", b"...two"]
    p = pop(pop_server)
    lines = p.retr(1)[1]
    assert lines[-5:] == [b".", b"..two", b".hidden", b"plain", b". "]
    p.quit()


def test_sizes_consistent(pop_server):
    md = pop_server.maildir(ALICE)
    # Stored with LF, with CRLF, mixed, binary-ish, empty body.
    bodies = [b"Subject: lf\n\na\nb\n", b"Subject: crlf\r\n\r\na\r\nb\r\n",
              b"Subject: mixed\n\na\r\nb\nc\n", b"Subject: 8bit\n\n\xc3\xa9\xff\x01\n", b"Subject: e\n\n"]
    for i, data in enumerate(bodies):
        put_message(md, data, i)
    # One without ,W= in its name: the size is counted from the file.
    (md / "new" / "1700000100.M1P1Q1.test.host").write_bytes(b"Subject: noW\n\nx\n")
    pop_server.deliver(ALICE, make_msg(subject="smtp", body="x" * 900 + "\r\n" + "y" * 100 + "\r\n"))
    p = pop(pop_server)
    count, total = p.stat()
    listing = p.list()[1]
    sizes = [int(ln.split()[1]) for ln in listing]
    assert count == len(bodies) + 2 == len(sizes) and total == sum(sizes)
    for n, size in enumerate(sizes, 1):
        resp, lines, octets = p.retr(n)
        assert resp == b"+OK %d octets" % size
        assert sum(len(ln) + 2 for ln in lines) == size, n
        assert int(p._shortcmd("LIST %d" % n).split()[2]) == size
    p.quit()


def retr_raw(c, n):
    """RETR n: the status line and the body octets before ".\r\n",
    unstuffed."""
    c.send("RETR %d\r\n" % n)
    status = c.line()
    assert status.startswith(b"+OK"), status
    raw = b""
    while not raw.endswith(b"\r\n.\r\n"):
        raw += c.read_exact(1)
    body = raw[:-3]
    if body.startswith(b".."):
        body = body[1:]
    return status, body.replace(b"\r\n..", b"\r\n.")


def test_size_of_message_without_final_newline(pop_server):
    # BDAT needs no final CRLF (RFC 3030); RETR adds one, and LIST, STAT
    # and the RETR status must count it.
    with SMTPConn(pop_server.smtp_port) as s:
        s.ehlo()
        s.expect("MAIL FROM:<a@remote.test>", "250")
        s.expect("RCPT TO:<%s>" % ALICE, "250")
        body = b"Subject: nofinal\r\n\r\n.dot\r\nlast line without newline"
        s.send(b"BDAT %d LAST\r\n" % len(body) + body)
        assert s.read_reply().startswith("250")
    # And one put there by another program, without ,W=.
    md = pop_server.maildir(ALICE)
    (md / "new").mkdir(parents=True, exist_ok=True)
    (md / "new" / "1999999999.M1P1Q1.other").write_bytes(b"Subject: x\n\nno newline")
    with LineConn(pop_server.pop3_port) as c:
        c.login()
        _, listing = c.cmd_multi("LIST")
        sizes = [int(ln.split()[1]) for ln in listing]
        assert len(sizes) == 2
        assert c.cmd("STAT") == b"+OK 2 %d" % sum(sizes)
        for n, size in enumerate(sizes, 1):
            status, got = retr_raw(c, n)
            assert status == b"+OK %d octets" % size
            assert len(got) == size, (n, got)
            assert got.endswith(b"newline\r\n")
        assert c.cmd("QUIT").startswith(b"+OK")


def test_vanished_message(pop_server):
    md = pop_server.maildir(ALICE)
    names = [put_message(md, b"Subject: %d\n\nx\n" % i, i) for i in range(2)]
    with LineConn(pop_server.pop3_port) as c:
        c.login()
        (md / "new" / names[0]).unlink()  # another client removed it
        assert c.cmd("RETR 1") == b"-ERR message 1 no longer exists"
        # Searched for once only: a copy appearing in cur/ is not seen,
        # and every further attempt is answered at once.
        (md / "cur" / (names[0] + ":2,S")).write_bytes(b"Subject: 0\n\nx\n")
        assert c.cmd("TOP 1 0") == b"-ERR message 1 no longer exists"
        assert c.cmd_multi("RETR 2")[1] == [b"Subject: 1", b"", b"x"]
        # The failures count as bad commands: a loop on it is closed.
        c.send("RETR 1\r\n" * 20)  # +OK above reset the count
        for _ in range(19):
            assert c.line() == b"-ERR message 1 no longer exists"
        assert c.closed()
        assert c.trailing == [b"-ERR message 1 no longer exists"]


def test_uidl_of_duplicates_survives_move(pop_server):
    # Two files with one base name (a damaged maildir): the ids differ and
    # do not change when UPDATE moves new/ to cur/ or flags change.
    md = pop_server.maildir(ALICE)
    name = put_message(md, b"Subject: one\n\nx\n", 1)
    (md / "cur" / (name + ":2,S")).write_bytes(b"Subject: two\n\nlonger\n")

    def uidl_by_subject():
        with LineConn(pop_server.pop3_port) as c:
            c.login()
            _, uidl = c.cmd_multi("UIDL")
            out = {}
            for ln in uidl:
                n, uid = ln.split()
                subject = c.cmd_multi("TOP %s 0" % n.decode())[1][0]
                out[subject] = uid
            assert c.cmd("QUIT").startswith(b"+OK")
        return out

    first = uidl_by_subject()
    assert len(set(first.values())) == 2
    assert sorted(p.name for p in (md / "new").iterdir()) == []  # moved by UPDATE
    assert uidl_by_subject() == first
    (md / "cur" / (name + ":2,S")).rename(md / "cur" / (name + ":2,RS"))
    assert uidl_by_subject() == first


def test_last(pop_server):
    for i in range(3):
        put_message(pop_server.maildir(ALICE), b"Subject: %d\n\nx\n" % i, i)
    with LineConn(pop_server.pop3_port) as c:
        c.login()
        assert c.cmd("LAST") == b"+OK 0"
        c.cmd_multi("RETR 2")
        assert c.cmd("LAST") == b"+OK 2"
        c.cmd_multi("RETR 1")
        assert c.cmd("LAST") == b"+OK 2"
        c.cmd_multi("TOP 3 0")
        assert c.cmd("LAST") == b"+OK 2"
        assert c.cmd("RSET").startswith(b"+OK")
        assert c.cmd("LAST") == b"+OK 0"
        assert c.cmd("QUIT").startswith(b"+OK")


def test_pipelining(pop_server):
    for i in range(3):
        put_message(pop_server.maildir(ALICE), b"Subject: %d\n\nx\n" % i, i)
    with LineConn(pop_server.pop3_port) as c:
        size = crlf_size(b"Subject: 0\n\nx\n")
        c.send(b"USER alice\r\nPASS pw-alice\r\nSTAT\r\nLIST\r\nRETR 1\r\nUIDL 2\r\nDELE 3\r\nNOOP\r\nQUIT\r\n")
        assert c.line() == b"+OK"
        assert c.line().startswith(b"+OK alice@example.test's maildrop has 3")
        assert c.line() == b"+OK 3 %d" % (3 * size)
        assert c.line().startswith(b"+OK 3 messages")
        assert c.multi() == [b"1 %d" % size, b"2 %d" % size, b"3 %d" % size]
        assert c.line() == b"+OK %d octets" % size
        assert c.multi() == [b"Subject: 0", b"", b"x"]
        assert c.line().startswith(b"+OK 2 ")
        assert c.line() == b"+OK message 3 deleted"
        assert c.line() == b"+OK"
        assert c.line().endswith(b"(2 messages left)")
        assert c.closed()
    assert len(pop_server.files(ALICE)) == 2


# -- login policy and throttling ---------------------------------------------------

def test_failed_logins_close_session(pop_server):
    with LineConn(pop_server.pop3_port) as c:
        for i in range(3):
            assert c.cmd("USER alice") == b"+OK"
            r = c.cmd("PASS wrong")
            assert r == b"-ERR [AUTH] Authentication failed"
        # One reply for the third PASS (above), then the close.
        assert c.closed()
        assert c.trailing == []
    with LineConn(pop_server.pop3_port) as c:
        # Unknown users get the very same answer.
        assert c.cmd("USER nobody") == b"+OK"
        assert c.cmd("PASS x") == b"-ERR [AUTH] Authentication failed"
        c.login()  # a success clears the throttle
        assert c.cmd("QUIT").startswith(b"+OK")


@pytest.mark.konvert(config={"plaintext_auth": "tls"})
def test_plaintext_needs_tls(pop_server):
    with LineConn(pop_server.pop3_port) as c:
        _, caps = c.cmd_multi("CAPA")
        assert b"USER" not in caps and b"SASL SCRAM-SHA-256" in caps and b"STLS" in caps
        assert c.cmd("USER alice").startswith(b"-ERR [AUTH] Plaintext authentication disallowed")
        assert c.cmd("AUTH PLAIN AGFsaWNlAHB3LWFsaWNl").startswith(b"-ERR [AUTH] Plaintext")
    p = poplib.POP3("127.0.0.1", pop_server.pop3_port, timeout=10)
    p.stls(tls_context())
    assert "STLS" not in p.capa() and "USER" in p.capa()
    p.user("alice")
    p.pass_("pw-alice")
    p.quit()


# -- TLS -----------------------------------------------------------------------------------

def test_stls(pop_server):
    pop_server.deliver(ALICE, make_msg(subject="over tls"))
    p = poplib.POP3("127.0.0.1", pop_server.pop3_port, timeout=10)
    p.user("alice")  # forgotten by STLS (RFC 2595 4)
    assert p.stls(tls_context()).startswith(b"+OK Begin TLS negotiation")
    caps = p.capa()
    assert "STLS" not in caps
    with pytest.raises(poplib.error_proto, match="no USER given"):
        p.pass_("pw-alice")
    with pytest.raises(poplib.error_proto, match="TLS active"):
        p._shortcmd("STLS")
    p.user("alice")
    p.pass_("pw-alice")
    assert b"Subject: over tls" in b"\n".join(p.retr(1)[1])
    p.quit()


def test_stls_drops_pipelined_plaintext(pop_server):
    raw = socket.create_connection(("127.0.0.1", pop_server.pop3_port), timeout=10)
    f = raw.makefile("rb")
    assert f.readline().startswith(b"+OK")
    # Everything after STLS in the same packet must be discarded.
    raw.sendall(b"STLS\r\nUSER alice\r\n")
    assert f.readline() == b"+OK Begin TLS negotiation\r\n"
    tls = tls_context().wrap_socket(raw)
    tls.sendall(b"PASS pw-alice\r\n")
    reply = tls.recv(512)
    assert reply == b"-ERR no USER given\r\n"
    tls.close()


def test_plaintext_before_tls_completes(pop_server):
    # Plaintext where the TLS handshake should be: the handshake fails and
    # the connection ends without any command having been run.
    with LineConn(pop_server.pop3_port) as c:
        assert c.cmd("STLS") == b"+OK Begin TLS negotiation"
        c.send("USER alice\r\nPASS pw-alice\r\n")
        assert c.closed()
        assert not any(line.startswith(b"+OK") for line in c.trailing)
    with LineConn(pop_server.pop3s_port, greet=False) as c:
        c.send("CAPA\r\n")
        assert c.closed()
        assert not any(line.startswith(b"+OK") for line in c.trailing)
    p = pop(pop_server)  # the server is fine
    p.quit()


def test_stls_state_rules(pop_server):
    with LineConn(pop_server.pop3_port) as c:
        c.login()
        assert c.cmd("STLS").startswith(b"-ERR")
        assert c.cmd("QUIT").startswith(b"+OK")
    with LineConn(pop_server.pop3s_port, tls=True) as c:
        assert c.greeting.startswith(b"+OK")
        _, caps = c.cmd_multi("CAPA")
        assert b"STLS" not in caps
        assert c.cmd("STLS") == b"-ERR command not permitted when TLS active"


def test_pop3s(pop_server):
    pop_server.deliver(ALICE, make_msg(subject="pop3s"))
    p = poplib.POP3_SSL("127.0.0.1", pop_server.pop3s_port, context=tls_context(), timeout=10)
    assert p.getwelcome().startswith(b"+OK")
    p.user("alice")
    p.pass_("pw-alice")
    assert p.stat()[0] == 1
    assert b"Subject: pop3s" in b"\n".join(p.retr(1)[1])
    p.dele(1)
    p.quit()
    assert pop_server.files(ALICE) == []


# -- SASL (RFC 5034) ---------------------------------------------------------------------------

def b64(s):
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


def test_auth_mechanisms(pop_server):
    with LineConn(pop_server.pop3_port) as c:
        assert c.cmd_multi("AUTH")[1] == [b"PLAIN", b"LOGIN", b"SCRAM-SHA-256"]
        assert c.cmd("AUTH CRAM-MD5").startswith(b"-ERR")
        # PLAIN with an initial response
        assert c.cmd("AUTH PLAIN " + b64("\0alice\0pw-alice")).startswith(b"+OK alice@example.test's")
        assert c.cmd("QUIT").startswith(b"+OK")
    with LineConn(pop_server.pop3_port) as c:
        # PLAIN with an empty challenge first
        assert c.cmd("AUTH PLAIN") == b"+ "
        assert c.cmd(b64("alice\0alice\0pw-alice")).startswith(b"+OK")
        assert c.cmd("QUIT").startswith(b"+OK")
    with LineConn(pop_server.pop3_port) as c:
        assert c.cmd("AUTH LOGIN") == b"+ " + b64("Username:").encode()
        assert c.cmd(b64("bob")) == b"+ " + b64("Password:").encode()
        assert c.cmd(b64("pw-bob")).startswith(b"+OK bob@example.test's maildrop")
        assert c.cmd("QUIT").startswith(b"+OK")
    with LineConn(pop_server.pop3_port) as c:
        assert c.cmd("AUTH PLAIN") == b"+ "
        assert c.cmd("*") == b"-ERR authentication cancelled"
        assert c.cmd("AUTH PLAIN") == b"+ "
        assert c.cmd("not base64!") == b"-ERR invalid base64 data"
        assert c.cmd("AUTH PLAIN " + b64("\0alice\0wrong")) == b"-ERR [AUTH] Authentication failed"
        assert c.cmd("NOOP").startswith(b"-ERR")  # still in AUTHORIZATION
        assert c.cmd("AUTH PLAIN") == b"+ "
        assert c.cmd("A" * 20000).startswith(b"-ERR")  # an over-long response fails
        c.login()
        assert c.cmd("QUIT").startswith(b"+OK")


def test_auth_scram(pop_server):
    with LineConn(pop_server.pop3_port) as c:
        sc = ScramClient("carol", "pw-carol")
        r = c.cmd("AUTH SCRAM-SHA-256 " + sc.first())
        assert r.startswith(b"+ ")
        r = c.cmd(sc.final(r[2:].decode()))
        assert r.startswith(b"+ ") and sc.verify(r[2:].decode())
        assert c.cmd("").startswith(b"+OK carol@example.test's maildrop")
        assert c.cmd("QUIT").startswith(b"+OK")
    with LineConn(pop_server.pop3_port) as c:
        sc = ScramClient("carol", "wrong")
        assert c.cmd("AUTH SCRAM-SHA-256") == b"+ "
        r = c.cmd(sc.first())
        r = c.cmd(sc.final(r[2:].decode()))
        assert r == b"-ERR [AUTH] Authentication failed"


# -- real clients ---------------------------------------------------------------------------

def test_curl(pop_server):
    for i in range(2):
        pop_server.deliver(ALICE, make_msg(subject="curl %d" % i))
    out = subprocess.run(["curl", "-sS", "--max-time", "20", "pop3://127.0.0.1:%d/" % pop_server.pop3_port,
                          "-u", "alice:pw-alice"], capture_output=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert [ln.split()[0] for ln in out.stdout.splitlines()] == [b"1", b"2"]
    out = subprocess.run(["curl", "-sS", "-k", "--max-time", "20",
                          "pop3s://127.0.0.1:%d/2" % pop_server.pop3s_port, "-u", "alice:pw-alice"],
                         capture_output=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert b"Subject: curl 1" in out.stdout
    # STLS through curl, then DELE with a custom request.
    out = subprocess.run(["curl", "-sS", "-k", "--ssl-reqd", "--max-time", "20", "-X", "DELE 1", "-I",
                          "pop3://127.0.0.1:%d/" % pop_server.pop3_port, "-u", "alice:pw-alice"],
                         capture_output=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert len(pop_server.files(ALICE)) == 1


def test_fetchmail_end_to_end(pop_server, tmp_path):
    fetchmail = shutil.which("fetchmail")
    if fetchmail is None:
        pytest.fail("fetchmail is not installed (make deps)")
    sent = []
    for i in range(3):
        msg = make_msg(subject="fetch %d" % i, body=".leading dot\r\nline %d\r\n" % i)
        pop_server.deliver("dave@example.test", msg)
        sent.append(msg)
    out_dir = tmp_path / "fetched"
    out_dir.mkdir()
    rc = tmp_path / "fetchmailrc"
    rc.write_text(
        "set no syslog\n"
        "poll 127.0.0.1 with protocol pop3 port %d auth password timeout 20:\n"
        "  user \"dave\" there with password \"pw-dave\" is %s here\n"
        "  sslproto tls1.2+ no sslcertck\n"
        "  no keep fetchall\n"
        "  mda \"/bin/sh -c 'cat > %s/msg.$$'\"\n" % (pop_server.pop3_port, getpass.getuser(), out_dir))
    rc.chmod(0o600)
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "FETCHMAILHOME": str(tmp_path)}
    r = subprocess.run([fetchmail, "-f", str(rc), "-v", "--nodetach", "--pidfile", str(tmp_path / "pid")],
                       capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "STLS" in r.stdout + r.stderr
    got = sorted(p.read_bytes() for p in out_dir.iterdir())
    assert len(got) == 3
    for i in range(3):
        assert any(b"Subject: fetch %d" % i in g and b"\n.leading dot\n" in g for g in got)
    assert pop_server.files("dave@example.test") == []


# -- large mailboxes -------------------------------------------------------------------------

def test_50000_messages(pop_server):
    md = pop_server.maildir("erin@other.test")
    n = 50000
    (md / "tmp").mkdir(parents=True)
    (md / "cur").mkdir()
    new = md / "new"
    new.mkdir()
    data = b"Subject: bulk\n\nx\n"
    w = crlf_size(data)
    # Hard links to one file: 50,000 directory entries made in about a
    # second (writing 50,000 files takes several times longer here).
    src = md / "tmp" / "src"
    src.write_bytes(data)
    for i in range(n):
        os.link(src, new / ("%d.M%dP1Q%d.bulk,S=%d,W=%d" % (1700000000 + i // 1000, i, i, len(data), w)))
    src.unlink()
    with LineConn(pop_server.pop3_port, timeout=60) as c:
        assert c.cmd("USER erin@other.test") == b"+OK"
        assert c.cmd("PASS pw-erin") == b"+OK erin@other.test's maildrop has %d messages (%d octets)" % (n, n * w)
        t0 = time.monotonic()
        status, listing = c.cmd_multi("LIST")
        t_list = time.monotonic() - t0
        assert status == b"+OK %d messages (%d octets)" % (n, n * w)
        assert len(listing) == n and listing[-1] == b"%d %d" % (n, w)
        t0 = time.monotonic()
        _, uidl = c.cmd_multi("UIDL")
        t_uidl = time.monotonic() - t0
        assert len(uidl) == n and len({u.split()[1] for u in uidl}) == n
        print("LIST %.3fs UIDL %.3fs for %d messages" % (t_list, t_uidl, n))
        assert c.cmd("DELE %d" % n).startswith(b"+OK")
        # STAT and RSET do not walk the maildrop: many of them are quick.
        t0 = time.monotonic()
        c.send(b"STAT\r\nDELE 1\r\nRSET\r\nDELE %d\r\n" % n * 1000)
        for _ in range(1000):
            assert c.line() == b"+OK %d %d" % (n - 1, (n - 1) * w)
            assert c.line() == b"+OK message 1 deleted"
            assert c.line() == b"+OK maildrop has %d messages (%d octets)" % (n, n * w)
            assert c.line() == b"+OK message %d deleted" % n
        print("1000 x STAT/DELE/RSET/DELE %.3fs" % (time.monotonic() - t0))
        assert c.cmd("RETR %d" % (n - 1)).startswith(b"+OK")
        c.multi()
        assert c.cmd("QUIT").endswith(b"(%d messages left)" % (n - 1))


def vm_hwm_kb(pid):
    for line in open("/proc/%d/status" % pid):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_retr_50mb_streams(pop_server):
    md = pop_server.maildir(ALICE)
    line = b"0123456789" * 7 + b"\n"  # 71 octets
    count = 50 * 1024 * 1024 // len(line)
    data = b"Subject: big\n\n" + line * count
    put_message(md, data, 1)
    before = vm_hwm_kb(pop_server.pid)
    with LineConn(pop_server.pop3_port, timeout=60) as c:
        c.login()
        assert c.cmd("RETR 1") == b"+OK %d octets" % crlf_size(data)
        h = hashlib.sha256()
        got = 0
        expected = crlf_size(data) + 3  # plus ".\r\n"
        while got < expected:
            chunk = c.read_exact(min(1 << 16, expected - got))
            h.update(chunk)
            got += len(chunk)
        assert h.digest() == hashlib.sha256(data.replace(b"\n", b"\r\n") + b".\r\n").digest()
        assert c.cmd("NOOP") == b"+OK"
        assert c.cmd("QUIT").startswith(b"+OK")
    # The server never held the message: its peak RSS grew far less
    # than 50 MB. (Not under AddressSanitizer, whose quarantine keeps
    # every freed buffer.)
    grown_mb = (vm_hwm_kb(pop_server.pid) - before) / 1024
    with open("/proc/%d/maps" % pop_server.pid) as maps:
        asan = "libasan" in maps.read()
    print("peak RSS grew by %.1f MB during RETR" % grown_mb)
    assert asan or grown_mb < 20, "peak RSS grew by %.1f MB" % grown_mb


@pytest.mark.konvert(config={"max_sessions_per_ip": "2"})
def test_session_limit(pop_server):
    a = LineConn(pop_server.pop3_port)
    b = LineConn(pop_server.pop3_port)
    with LineConn(pop_server.pop3_port) as c:
        assert c.greeting == b"-ERR [SYS/TEMP] too many connections"
        assert c.closed()
        assert c.trailing == []
    # pop3s: no plaintext on the TLS port, and no handshake either; the
    # connection just closes.
    with socket.create_connection(("127.0.0.1", pop_server.pop3s_port), timeout=10) as raw:
        raw.settimeout(10)
        got = b""
        while True:
            chunk = raw.recv(4096)
            if not chunk:
                break
            got += chunk
        assert got == b""
    a.close()
    b.close()
