"""The login throttle shared by SMTP AUTH, POP3 and POP2 (auth/authn.c):
failures counted per account and per client network, not per address
alone; an account locked after AUTHN_LOCK_FAILURES (10) failures within the
window answers even the right password with a temporary error from a
network it never logged in from, while a network it did log in from keeps
its own allowance; a success on the attacker's own account takes back only
its own share; one fixed log line per failed login for fail2ban.

The clients bind distinct loopback sources (127.0.0.2, 127.0.0.3, ...) to
play many attackers; everything talks to 127.0.0.1 only. Each failure
reply waits 250 ms or more, so the attempts run in parallel."""

import re
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from pop_util import LineConn, make_pop_server  # noqa: F401
from tls_util import TLSConn, b64, plain_token

LOCK = 10  # AUTHN_LOCK_FAILURES
BOB = "bob@example.test"
BOB_PW = "pw-bob"
ALICE = "alice@example.test"
ALICE_PW = "pw-alice"
HOME = "127.0.0.200"  # where bob logs in first: trusted for bob

SMTP_TEMP = "454 4.7.0 Temporary authentication failure"
SMTP_FAIL = "535 5.7.8"
POP3_TEMP = b"-ERR [SYS/TEMP] Temporary authentication failure"
POP3_FAIL = b"-ERR [AUTH] Authentication failed"
POP2_TEMP = b"- temporary authentication failure, try again later"
POP2_FAIL = b"- invalid user name or password"

# The documented line (authn.h); what a fail2ban failregex would match.
FAIL_LINE = re.compile(r'^\S+ info \[\S+\] event=auth-failure proto=(smtp|pop3|pop2) '
                       r'client=(\S+) user="((?:[^"\\]|\\x[0-9a-f]{2})*)" '
                       r'reason=(bad-password|unknown|locked) delay_ms=(\d+) '
                       r'mechanism=(PLAIN|LOGIN|SCRAM-SHA-256|USER|HELO|-)$')


@pytest.fixture
def srv(make_pop_server):
    s = make_pop_server()
    s.start()
    return s


def src(n):
    return "127.0.0.%d" % n


def parallel(fn, args):
    with ThreadPoolExecutor(max_workers=len(args)) as ex:
        return list(ex.map(lambda a: fn(*a), args))


# -- clients that pick their source address ---------------------------------------

def smtp_auth(srv, source, user, password, mech="PLAIN"):
    """One submission session from source: EHLO, one AUTH; the last reply line."""
    with TLSConn(srv.submission_port, source=source) as c:
        c.ehlo()
        if mech == "PLAIN":
            r = c.auth_plain(user, password)
        elif mech == "LOGIN":
            r = c.auth_login(user, password)
        else:
            r, _ = c.auth_scram(user, password)
        return r.line


class SrcLineConn(LineConn):
    """pop_util.LineConn bound to a chosen loopback source."""

    def __init__(self, port, source, timeout=10.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                             source_address=(source, 0))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.greeting = self.line()


def pop3_login(srv, source, user, password, mech="USER"):
    """USER/PASS or AUTH PLAIN from source; the status line of the login."""
    with SrcLineConn(srv.pop3_port, source) as c:
        if mech == "USER":
            assert c.cmd("USER " + user) == b"+OK"
            r = c.cmd("PASS " + password)
        else:
            r = c.cmd("AUTH PLAIN " + b64(plain_token(user, password)))
        if r.startswith(b"+OK"):
            c.cmd("QUIT")
        return r


def pop2_helo(srv, source, user, password):
    with SrcLineConn(srv.pop2_port, source) as c:
        r = c.cmd("HELO %s %s" % (user, password))
        if r.startswith(b"#"):
            c.cmd("QUIT")
        return r


def failure_lines(srv):
    return [m for m in (FAIL_LINE.match(l) for l in srv.log().splitlines()) if m]


def wait_for_lines(srv, n, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = failure_lines(srv)
        if len(lines) >= n:
            return lines
        time.sleep(0.05)
    return failure_lines(srv)


# -- SMTP -------------------------------------------------------------------------------

def test_smtp_many_addresses_lock_one_account(srv):
    # bob at home first: that network keeps its own allowance later
    assert smtp_auth(srv, HOME, BOB, BOB_PW).startswith("235 2.7.0")
    # ten attackers, one guess each, every mechanism: each one is answered
    mechs = ["PLAIN", "LOGIN", "SCRAM-SHA-256"]
    replies = parallel(smtp_auth, [(srv, src(2 + i), BOB, "guess%d" % i, mechs[i % 3])
                                   for i in range(LOCK)])
    assert all(r.startswith(SMTP_FAIL) for r in replies), replies
    # now the right password from a network bob never used is refused,
    # unchecked, with RFC 4954's temporary error, whatever the mechanism
    for i, mech in enumerate(mechs):
        assert smtp_auth(srv, src(20 + i), BOB, BOB_PW, mech) == SMTP_TEMP, mech
    # ... and so is another guess from an address that guessed before
    assert smtp_auth(srv, src(2), BOB, "guess-again") == SMTP_TEMP
    # bob at home still gets in, with every mechanism
    for mech in mechs:
        assert smtp_auth(srv, HOME, BOB, BOB_PW, mech).startswith("235 2.7.0"), mech
    # other accounts are not locked
    assert smtp_auth(srv, src(20), ALICE, ALICE_PW).startswith("235 2.7.0")
    lines = wait_for_lines(srv, LOCK + 4)
    reasons = [m.group(4) for m in lines]
    assert reasons.count("bad-password") == LOCK and reasons.count("locked") == 4, reasons
    assert {m.group(3) for m in lines} == {BOB}
    assert {m.group(6) for m in lines} <= {"PLAIN", "LOGIN", "SCRAM-SHA-256"}  # named
    assert sorted(m.group(2) for m in lines if m.group(4) == "bad-password") == \
        sorted(src(2 + i) for i in range(LOCK))
    assert BOB_PW not in srv.log() and "guess" not in srv.log()


def test_smtp_own_account_success_does_not_reset(srv):
    """The attack of the finding: guess at bob, log in to one's own account
    (alice) from the same address, guess again. The success takes back
    alice's share only: bob's failures stay, the delay keeps growing and
    the lock comes all the same."""
    a = src(30)
    t0 = time.monotonic()
    assert smtp_auth(srv, a, BOB, "guess0").startswith(SMTP_FAIL)
    first = time.monotonic() - t0
    assert smtp_auth(srv, a, ALICE, ALICE_PW).startswith("235 2.7.0")
    t0 = time.monotonic()
    assert smtp_auth(srv, a, BOB, "guess1").startswith(SMTP_FAIL)
    second = time.monotonic() - t0
    # 250 ms after the first failure; after the second (network 2, pair 2)
    # 1 s, where a reset would have given 250 ms again
    assert first < 0.9 and second >= 0.9, (first, second)
    # from more addresses, each one logging in as alice between guesses
    def guess_then_own_login(i):
        r = smtp_auth(srv, src(40 + i), BOB, "g%d" % i)
        ok = smtp_auth(srv, src(40 + i), ALICE, ALICE_PW)
        return r, ok
    res = parallel(guess_then_own_login, [(i,) for i in range(LOCK - 2)])
    assert all(r.startswith(SMTP_FAIL) and ok.startswith("235") for r, ok in res), res
    assert smtp_auth(srv, src(60), BOB, BOB_PW) == SMTP_TEMP


# -- POP3 ---------------------------------------------------------------------------------

def test_pop3_lock_and_trusted_network(srv):
    assert pop3_login(srv, HOME, "bob", BOB_PW).startswith(b"+OK")
    replies = parallel(pop3_login, [(srv, src(2 + i), "bob", "guess%d" % i,
                                     "USER" if i % 2 else "AUTH") for i in range(LOCK)])
    assert all(r == POP3_FAIL for r in replies), replies
    # RFC 3206 [SYS/TEMP] for the right password from a new network
    assert pop3_login(srv, src(20), "bob", BOB_PW) == POP3_TEMP
    assert pop3_login(srv, src(21), BOB, BOB_PW, "AUTH") == POP3_TEMP
    # home still works; alice is not affected
    assert pop3_login(srv, HOME, "bob", BOB_PW).startswith(b"+OK")
    assert pop3_login(srv, src(20), "alice", ALICE_PW).startswith(b"+OK")
    lines = wait_for_lines(srv, LOCK + 2)
    assert [m.group(1) for m in lines] == ["pop3"] * (LOCK + 2)
    assert [m.group(4) for m in lines].count("locked") == 2


# -- POP2 and all protocols together ----------------------------------------------------

def test_pop2_lock_and_trusted_network(srv):
    assert pop2_helo(srv, HOME, "bob", BOB_PW).startswith(b"#")
    replies = parallel(pop2_helo, [(srv, src(2 + i), "bob", "guess%d" % i) for i in range(LOCK)])
    assert all(r == POP2_FAIL for r in replies), replies
    assert pop2_helo(srv, src(20), "bob", BOB_PW) == POP2_TEMP
    assert pop2_helo(srv, HOME, "bob", BOB_PW).startswith(b"#")
    lines = wait_for_lines(srv, LOCK + 1)
    assert [m.group(1) for m in lines] == ["pop2"] * (LOCK + 1)


def test_one_throttle_for_every_protocol(srv):
    """Failures over SMTP, POP3 and POP2 add up for the account, and the
    lock holds on all three."""
    jobs = [(smtp_auth, (srv, src(2 + i), BOB, "s%d" % i)) for i in range(4)]
    jobs += [(pop3_login, (srv, src(10 + i), "bob", "p%d" % i)) for i in range(3)]
    jobs += [(pop2_helo, (srv, src(20 + i), "bob", "q%d" % i)) for i in range(3)]
    replies = parallel(lambda f, a: f(*a), jobs)
    assert len(replies) == LOCK
    # Each guess got its protocol's failure (or, once locked, temporary)
    # reply: none got in.
    text = lambda x: x.decode() if isinstance(x, bytes) else x
    ok = [text(o) for o in (SMTP_FAIL, SMTP_TEMP, POP3_FAIL, POP3_TEMP, POP2_FAIL, POP2_TEMP)]
    assert all(any(text(r).startswith(o) for o in ok) for r in replies), replies
    assert smtp_auth(srv, src(30), BOB, BOB_PW) == SMTP_TEMP
    assert pop3_login(srv, src(31), "bob", BOB_PW) == POP3_TEMP
    assert pop2_helo(srv, src(32), "bob", BOB_PW) == POP2_TEMP


# -- the log line --------------------------------------------------------------------------

def test_failure_log_line(srv):
    """Exactly one line per failed login, in the documented format, the
    user escaped like other client text, never the password."""
    assert smtp_auth(srv, src(2), 'ev"il\x01name', "sekrit-1").startswith(SMTP_FAIL)
    assert smtp_auth(srv, src(3), "nobody@example.test", "sekrit-2").startswith(SMTP_FAIL)
    assert pop3_login(srv, src(4), "Carol", "sekrit-3") == POP3_FAIL
    assert pop2_helo(srv, src(5), "dave@example.test", "sekrit-4") == POP2_FAIL
    lines = wait_for_lines(srv, 4)
    got = [(m.group(1), m.group(2), m.group(3), m.group(4)) for m in lines]
    assert got == [
        ("smtp", src(2), 'ev\\x22il\\x01name', "unknown"),
        ("smtp", src(3), "nobody@example.test", "unknown"),
        ("pop3", src(4), "carol@example.test", "bad-password"),
        ("pop2", src(5), "dave@example.test", "bad-password"),
    ], got
    assert all(int(m.group(5)) >= 250 for m in lines)
    log = srv.log()
    assert "sekrit" not in log
    assert "event=auth result=failed" not in log  # the old per-protocol lines
    # a fail2ban-style pattern picks the address out of every line
    f2b = re.compile(r'event=auth-failure proto=\S+ client=(?P<host>\S+) ')
    assert [f2b.search(l).group("host") for l in log.splitlines()
            if "event=auth-failure" in l] == [src(2), src(3), src(4), src(5)]
