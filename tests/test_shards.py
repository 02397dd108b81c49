"""Both cores (issue 13): sessions are spread over one event loop per core
(`threads`); the limits, the reload and the shutdown hold across loops.
Every connect line names its loop (loop=N)."""
import re
import threading

from util import make_msg, wait_for


def loops_of(srv):
    return sorted(set(int(m) for m in re.findall(r"event=connect .* loop=(\d+)", srv.log())))


def test_sessions_on_both_loops_and_per_ip_limit_exact(make_server):
    srv = make_server(config={"threads": "2", "max_sessions_per_ip": "6"})
    srv.start()
    conns = []
    try:
        for _ in range(6):
            c = srv.connect()
            assert c.greeting.code == 220
            conns.append(c)
        # The seventh from the same address is refused, whichever loop
        # would have taken it.
        with srv.connect() as c7:
            assert c7.greeting.line.startswith("421 4.7.0"), c7.greeting.line
        assert loops_of(srv) == [0, 1], srv.log()[-2000:]
        # One leaves (on its own loop): exactly one more fits.
        conns.pop().close()

        def one_more():
            # the slot is given back when the session's own loop has
            # closed it: a refusal until then is fine, a second fit is not
            c = srv.connect()
            if c.greeting.code == 220:
                conns.append(c)
                return True
            c.close()
            return False

        assert wait_for(one_more, 10)
        with srv.connect() as c8:
            assert c8.greeting.line.startswith("421 4.7.0")
    finally:
        for c in conns:
            c.close()


def test_mail_and_etrn_on_every_loop(make_server):
    srv = make_server(config={"threads": "2"})
    srv.start()
    for i in range(4):
        with srv.connect() as c:
            c.ehlo()
            r = c.send_mail("x@y.test", ["alice@example.test"], make_msg("loop %d" % i))
            assert r.code == 250, r.lines
            # ETRN is answered by the queue on the main loop.
            c.expect("ETRN far.example", "251 2.0.0")
    assert len(srv.delivered("alice@example.test")) == 4
    assert loops_of(srv) == [0, 1]


def test_sighup_under_load_on_both_loops(make_server):
    srv = make_server(config={"threads": "2"})
    srv.start()
    errors = []

    def sender(n):
        try:
            for i in range(15):
                with srv.connect() as c:
                    c.ehlo()
                    r = c.send_mail("x@y.test", ["bob@example.test"], make_msg("load %d %d" % (n, i)))
                    if r.code != 250:
                        errors.append(r.lines)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=sender, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    srv.add_user("newbie@example.test")
    for _ in range(5):
        srv.hup()
    for t in threads:
        t.join(60)
    assert not errors, errors[:3]
    assert len(srv.delivered("bob@example.test")) == 60
    assert wait_for(lambda: srv.log().count("event=reload result=ok") >= 1, 10)
    # The new account is known on both loops (connections alternate).
    for _ in range(4):
        with srv.connect() as c:
            c.ehlo()
            c.expect("MAIL FROM:<x@y.test>", "250")
            c.expect("RCPT TO:<newbie@example.test>", "250")
    assert loops_of(srv) == [0, 1]
    assert srv.running()


def test_sigterm_says_goodbye_on_every_loop(make_server):
    srv = make_server(config={"threads": "2"})
    srv.start()
    a, b = srv.connect(), srv.connect()
    try:
        a.ehlo()
        b.ehlo()
        assert srv.stop() == 0
        for c in (a, b):
            assert c.read_reply().line.startswith("421 4.3.2"), "no goodbye"
        assert loops_of(srv) == [0, 1]
    finally:
        a.close()
        b.close()
