"""POP2 (RFC 937) over a raw socket: whole sessions as the RFC describes
them (HELO, FOLD, READ, RETR, ACKS, ACKD, NACK, QUIT), the exact octet
counts of RETR, deletions only at QUIT, the shared maildrop lock, and the
"-" reply plus close for bad, unknown or out-of-sequence commands."""

import time

import pytest

from pop_util import (
    LineConn,
    crlf_size,
    make_pop_server,  # noqa: F401 (fixture)
    pop_server,  # noqa: F401 (fixture)
    put_message,
)
from util import make_msg

ALICE = "alice@example.test"


def wire(data):
    """A stored LF message as POP2 sends it: CRLF lines, not stuffed."""
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def messages(srv, n=2):
    md = srv.maildir(ALICE)
    out = []
    for i in range(n):
        data = b"From: x@y.test\nSubject: pop2 %d\n\nline one\n.dot line\nend %d\n" % (i, i)
        put_message(md, data, i)
        out.append(data)
    return out


def test_whole_session(pop_server):
    m = messages(pop_server, 3)
    with LineConn(pop_server.pop2_port) as c:
        assert c.greeting == b"+ POP2 mx.test server ready (konvert)"
        assert c.cmd("HELO alice pw-alice") == b"#3 messages in INBOX"
        # READ without a number: the current message, the first.
        assert c.cmd("READ") == b"=%d characters in message 1" % crlf_size(m[0])
        c.send("RETR\r\n")
        assert c.read_exact(crlf_size(m[0])) == wire(m[0])
        # ACKS: keep it, the next one becomes current.
        assert c.cmd("ACKS") == b"=%d characters in message 2" % crlf_size(m[1])
        c.send("RETR\r\n")
        assert c.read_exact(crlf_size(m[1])) == wire(m[1])
        # ACKD: delete it (at QUIT), go on.
        assert c.cmd("ACKD") == b"=%d characters in message 3" % crlf_size(m[2])
        c.send("RETR\r\n")
        assert c.read_exact(crlf_size(m[2])) == wire(m[2])
        assert c.cmd("ACKD") == b"=0 no more messages"
        # Nothing removed yet.
        assert len(pop_server.files(ALICE)) == 3
        assert c.cmd("QUIT") == b"+ mx.test POP2 server signing off"
        assert c.closed()
    left = pop_server.delivered(ALICE)
    assert len(left) == 1 and b"Subject: pop2 0" in left[0].read_bytes()
    # The same messages through POP3: numbering and sizes agree.
    with LineConn(pop_server.pop3_port) as c:
        c.login()
        assert c.cmd("STAT") == b"+OK 1 %d" % crlf_size(m[0])


def test_read_numbers_nack_and_fold(pop_server):
    m = messages(pop_server, 2)
    with LineConn(pop_server.pop2_port) as c:
        assert c.cmd("helo alice pw-alice") == b"#2 messages in INBOX"
        assert c.cmd("READ 2") == b"=%d characters in message 2" % crlf_size(m[1])
        c.send("RETR\r\n")
        assert c.read_exact(crlf_size(m[1])) == wire(m[1])
        # NACK: not received well; the message stays current and is kept.
        assert c.cmd("NACK") == b"=%d characters in message 2" % crlf_size(m[1])
        assert c.cmd("READ 3") == b"=0 no more messages"
        assert c.cmd("READ 1") == b"=%d characters in message 1" % crlf_size(m[0])
        # Only INBOX exists; another folder is empty.
        assert c.cmd("FOLD mail/archive") == b"#0 messages in that folder"
        assert c.cmd("READ") == b"=0 no more messages"
        assert c.cmd("FOLD inbox") == b"#2 messages in INBOX"
        assert c.cmd("READ") == b"=%d characters in message 1" % crlf_size(m[0])
        c.send("RETR\r\n")
        c.read_exact(crlf_size(m[0]))
        assert c.cmd("ACKD") == b"=%d characters in message 2" % crlf_size(m[1])
        # FOLD shows the folder without what ACKD removed.
        assert c.cmd("FOLD INBOX") == b"#1 messages in INBOX"
        assert c.cmd("READ") == b"=%d characters in message 1" % crlf_size(m[1])
        assert c.cmd("QUIT").startswith(b"+ ")
    assert len(pop_server.files(ALICE)) == 1


def test_dropped_connection_deletes_nothing(pop_server):
    m = messages(pop_server, 2)
    c = LineConn(pop_server.pop2_port)
    assert c.cmd("HELO alice pw-alice").startswith(b"#2")
    for i in range(2):
        assert c.cmd("READ").startswith(b"=")
        c.send("RETR\r\n")
        c.read_exact(crlf_size(m[i]))
        assert c.cmd("ACKD").startswith(b"=")
    c.close()  # no QUIT
    deadline = time.monotonic() + 10
    while True:
        with LineConn(pop_server.pop2_port) as c2:
            r = c2.cmd("HELO alice pw-alice")
            if r.startswith(b"#"):
                assert r == b"#2 messages in INBOX"
                assert c2.cmd("QUIT").startswith(b"+ ")
                break
            assert r == b"- mailbox in use by another session" and time.monotonic() < deadline
        time.sleep(0.1)
    assert len(pop_server.files(ALICE)) == 2


def test_empty_mailbox_and_quit_before_login(pop_server):
    with LineConn(pop_server.pop2_port) as c:
        assert c.cmd("QUIT") == b"+ mx.test POP2 server signing off"
        assert c.closed()
    with LineConn(pop_server.pop2_port) as c:
        assert c.cmd("HELO bob pw-bob") == b"#0 messages in INBOX"
        assert c.cmd("READ") == b"=0 no more messages"
        assert c.cmd("QUIT").startswith(b"+ ")


def test_lock_shared_with_pop3(pop_server):
    messages(pop_server, 1)
    with LineConn(pop_server.pop3_port) as p3:
        p3.login()
        with LineConn(pop_server.pop2_port) as c:
            assert c.cmd("HELO alice pw-alice") == b"- mailbox in use by another session"
            assert c.closed()
        assert p3.cmd("QUIT").startswith(b"+OK")
    with LineConn(pop_server.pop2_port) as c:
        assert c.cmd("HELO alice pw-alice") == b"#1 messages in INBOX"
        with LineConn(pop_server.pop3_port) as p3:
            assert p3.cmd("USER alice") == b"+OK"
            assert p3.cmd("PASS pw-alice").startswith(b"-ERR [IN-USE]")
        assert c.cmd("QUIT").startswith(b"+ ")


BAD = [
    # (commands before, the bad command)
    ([], "READ"),  # before HELO
    ([], "RETR"),
    ([], "ACKS"),
    ([], "FOLD INBOX"),
    ([], "BOGUS"),
    ([], "USER alice"),  # a POP3 command
    ([], "HELO alice"),  # no password
    ([], "HELO alice wrong"),
    ([], "HELO nobody pw"),
    (["HELO alice pw-alice"], "RETR"),  # no READ before
    (["HELO alice pw-alice"], "ACKD"),
    (["HELO alice pw-alice"], "HELO alice pw-alice"),
    (["HELO alice pw-alice"], "READ 0"),
    (["HELO alice pw-alice"], "READ -1"),
    (["HELO alice pw-alice"], "READ abc"),
    (["HELO alice pw-alice"], "READ 99999999999999999999"),
    (["HELO alice pw-alice"], "READ 1 2"),
    (["HELO alice pw-alice"], "FOLD"),
    (["HELO alice pw-alice", "READ"], "ACKS"),  # no RETR before
    (["HELO alice pw-alice", "READ"], "RETR 1"),
    (["HELO alice pw-alice"], "QUIT now"),
    (["HELO alice pw-alice"], "R\0EAD"),
    (["HELO alice pw-alice"], "READ " + "1" * 3000),
]


def test_bad_input_answers_minus_and_closes(pop_server):
    m = messages(pop_server, 2)
    before = pop_server.files(ALICE)
    for pre, bad in BAD:
        with LineConn(pop_server.pop2_port) as c:
            for line in pre:
                assert c.cmd(line)[:1] in (b"#", b"="), (pre, line)
            r = c.cmd(bad)
            assert r.startswith(b"- "), (pre, bad, r)
            assert c.closed(), (pre, bad)
    # After RETR only ACKS/ACKD/NACK are valid; QUIT is out of sequence
    # and nothing is deleted.
    with LineConn(pop_server.pop2_port) as c:
        c.cmd("HELO alice pw-alice")
        c.cmd("READ")
        c.send("RETR\r\n")
        c.read_exact(crlf_size(m[0]))
        assert c.cmd("ACKD").startswith(b"=")
        c.send("RETR\r\n")
        c.read_exact(crlf_size(m[1]))
        assert c.cmd("QUIT") == b"- QUIT out of sequence"
        assert c.closed()
    assert pop_server.files(ALICE) == before


@pytest.mark.konvert(config={"pop3_timeout": "2s"})
def test_idle_timeout(pop_server):
    m = messages(pop_server, 1)
    with LineConn(pop_server.pop2_port) as c:
        c.cmd("HELO alice pw-alice")
        c.cmd("READ")
        c.send("RETR\r\n")
        c.read_exact(crlf_size(m[0]))
        assert c.cmd("ACKD") == b"=0 no more messages"
        assert c.closed(timeout=15)
        assert c.trailing == [b"- autologout; idle for too long"]
    assert len(pop_server.files(ALICE)) == 1


def test_smtp_delivered_mail(pop_server):
    msg = make_msg(subject="via smtp", body=".\r\n..\r\nbody\r\n")
    pop_server.deliver(ALICE, msg)
    with LineConn(pop_server.pop2_port) as c:
        assert c.cmd("HELO alice@example.test pw-alice") == b"#1 messages in INBOX"
        r = c.cmd("READ")
        size = int(r[1:].split()[0])
        c.send("RETR\r\n")
        data = c.read_exact(size)
        # No dot-stuffing and no terminator in POP2: the octets as stored,
        # with CRLF line ends.
        assert data.endswith(b"\r\n\r\n.\r\n..\r\nbody\r\n")
        assert b"Subject: via smtp\r\n" in data
        assert c.cmd("ACKD") == b"=0 no more messages"
        assert c.cmd("QUIT").startswith(b"+ ")
    assert pop_server.files(ALICE) == []


def test_message_without_final_newline(pop_server):
    # RETR sends exactly the octets READ announced, and for a message whose
    # last line has no line end those include the CRLF that ends it (as in
    # POP3, so the sizes agree): with ,W= (konvert's own deliveries) and
    # without (counted from the file), and after a final lone CR.
    md = pop_server.maildir(ALICE)
    put_message(md, b"Subject: a\n\nno newline", 1)
    (md / "new" / "1700000002.M2P2Q2.other").write_bytes(b"Subject: b\n\nno W=")
    (md / "new" / "1700000003.M3P3Q3.other").write_bytes(b"Subject: c\n\nlone CR\r")
    with LineConn(pop_server.pop2_port) as c:
        assert c.cmd("HELO alice pw-alice") == b"#3 messages in INBOX"
        sizes = []
        for i, last in enumerate([b"no newline", b"no W=", b"lone CR"], 1):
            r = c.cmd("READ %d" % i)
            size = int(r[1:].split()[0])
            sizes.append(size)
            c.send("RETR\r\n")
            data = c.read_exact(size)
            assert data.endswith(b"\r\n\r\n" + last + b"\r\n"), data
            # Nothing after the announced octets: the next reply follows.
            assert c.cmd("ACKS").startswith(b"=")
        assert c.cmd("QUIT").startswith(b"+ ")
    assert sizes[0] == crlf_size(b"Subject: a\n\nno newline")
    with LineConn(pop_server.pop3_port) as c:
        c.login()
        _, listing = c.cmd_multi("LIST")
        assert [int(ln.split()[1]) for ln in listing] == sizes
        assert c.cmd("QUIT").startswith(b"+OK")
    assert "result=short" not in pop_server.log()
