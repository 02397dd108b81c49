"""Concurrency: 50 clients x 20 messages at once, each message exactly once
on disk; pipelined bursts on many connections. Bounded loops only; no
assertion on speed."""

import smtplib
import threading
from collections import Counter

from util import QUEUED_RE, SMTPConn, Stored, dot_stuff, header_value, make_msg

CLIENTS = 50
PER_CLIENT = 20
RCPTS = ["alice@example.test", "bob@example.test", "carol@example.test", "dave@example.test"]


def test_50_clients_x_20_messages(server):
    barrier = threading.Barrier(CLIENTS, timeout=60)
    errors = []
    queue_ids = []
    lock = threading.Lock()

    def client(n):
        try:
            with smtplib.SMTP("127.0.0.1", server.smtp_port, timeout=60) as s:
                s.ehlo("client%d.test" % n)
                barrier.wait()
                for i in range(PER_CLIENT):
                    mid = "load-%02d-%02d@y.test" % (n, i)
                    rcpt = RCPTS[(n + i) % len(RCPTS)]
                    msg = make_msg("load %d %d" % (n, i), "client %d message %d\r\n" % (n, i) * 20,
                                   msgid=mid, to=rcpt)
                    s.mail("c%d@y.test" % n)
                    code, text = s.rcpt(rcpt)
                    assert code == 250, (code, text)
                    code, text = s.data(msg)
                    line = "%d %s" % (code, text.decode())
                    assert QUEUED_RE.match(line), line
                    with lock:
                        queue_ids.append(line.split()[-1])
        except Exception as e:  # reported below
            errors.append("client %d: %r" % (n, e))

    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(100)
    assert not any(t.is_alive() for t in threads), "clients still running after 100 s"
    assert errors == [], errors[:5]
    assert len(queue_ids) == CLIENTS * PER_CLIENT
    assert len(set(queue_ids)) == len(queue_ids), "queue ids are not unique"

    seen = Counter()
    files = 0
    for rcpt in RCPTS:
        for p in server.delivered(rcpt):
            files += 1
            st = Stored(p)
            mid = header_value(st.content, "Message-ID")
            seen[mid] += 1
            n, i = (int(x) for x in mid.strip("<>").split("@")[0].split("-")[1:])
            assert RCPTS[(n + i) % len(RCPTS)] == rcpt, "%s in the wrong mailbox %s" % (mid, rcpt)
            assert st.content.endswith(("client %d message %d\n" % (n, i)).encode())
    assert files == CLIENTS * PER_CLIENT
    assert len(seen) == CLIENTS * PER_CLIENT
    assert all(v == 1 for v in seen.values()), [k for k, v in seen.items() if v != 1][:5]


def test_pipelined_bursts(server):
    """20 connections, each pipelining 10 whole transactions in one write
    (MAIL/RCPT/BDAT LAST) and reading all replies afterwards."""
    conns = [SMTPConn(server.smtp_port) for _ in range(20)]
    try:
        for c in conns:
            c.ehlo()
        for n, c in enumerate(conns):
            burst = b""
            for i in range(10):
                msg = make_msg("burst", "conn %d msg %d\r\n" % (n, i), msgid="burst-%d-%d@y.test" % (n, i))
                burst += (b"MAIL FROM:<b@y.test>\r\nRCPT TO:<erin@other.test>\r\n"
                          + b"BDAT %d LAST\r\n" % len(msg) + msg)
            c.send(burst)
        for c in conns:
            for i in range(10):
                assert c.read_reply().startswith("250 2.1.0")
                assert c.read_reply().startswith("250 2.1.5")
                r = c.read_reply()
                assert QUEUED_RE.match(r.line), r.lines
            c.expect("QUIT", "221 2.0.0")
    finally:
        for c in conns:
            c.close()
    ids = Counter(header_value(Stored(p).content, "Message-ID") for p in server.delivered("erin@other.test"))
    assert len(ids) == 200 and set(ids.values()) == {1}


def test_many_sequential_connections(server):
    """Connections opened and dropped in every state leave the server
    healthy (no fd or session leak that would hit max_sessions_per_ip)."""
    for i in range(150):  # more than the default max_sessions_per_ip = 100
        c = SMTPConn(server.smtp_port)
        assert c.greeting.startswith("220"), (i, c.greeting)
        state = i % 3
        if state >= 1:
            c.ehlo()
            c.expect("MAIL FROM:<x@y.test>", "250 2.1.0")
        if state == 2:
            c.expect("RCPT TO:<alice@example.test>", "250 2.1.5")
            assert c.cmd("DATA").startswith("354")
            c.send(dot_stuff(make_msg("partial"))[:20])
        c.close()
    with SMTPConn(server.smtp_port) as c:
        c.ehlo()
        r = c.send_mail("x@y.test", ["alice@example.test"], make_msg("final"))
        assert QUEUED_RE.match(r.line)
    assert len(server.delivered("alice@example.test")) == 1


def test_pipelined_flood_backpressure(server):
    """20000 pipelined NOOPs written without reading: the server must stop
    reading or buffer, never drop or reorder replies, and stay up."""
    n = 20000
    with SMTPConn(server.smtp_port, timeout=60) as c:
        c.ehlo()
        payload = b"NOOP\r\n" * n + b"QUIT\r\n"
        errors = []

        def writer():
            try:
                c.sock.sendall(payload)
            except OSError as e:
                errors.append(e)

        t = threading.Thread(target=writer, daemon=True)
        t.start()
        for i in range(n):
            r = c.read_reply()
            assert r.startswith("250 2.0.0"), (i, r.lines)
        assert c.read_reply().startswith("221 2.0.0")
        t.join(60)
        assert not t.is_alive() and errors == []
    with SMTPConn(server.smtp_port) as c:
        c.ehlo()
