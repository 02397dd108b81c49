"""POP3 seen state (issue 12): RETR marks a message seen, written at QUIT
as the Maildir flag S (new/NAME -> cur/NAME:2,S; other flags kept in ASCII
order, as Dovecot and mutt write them), never by TOP nor by a session that
ends without QUIT; RSET drops the marks; LAST (RFC 1460) is the highest
number of a seen message, and seen mail is listed first, so LAST also
covers what earlier sessions saw; UIDL never changes. fetchmail in keep
mode, by LAST and by UIDL, fetches each message once. POP2 ACKS marks too.
Only 127.0.0.1 traffic; every wait is bounded."""

import getpass
import re
import shutil
import subprocess
import time

import pytest

from pop_util import (
    LineConn,
    make_pop_server,  # noqa: F401 (fixture)
    pop_server,  # noqa: F401 (fixture)
    put_message,
)
from util import make_msg

ALICE = "alice@example.test"
DAVE = "dave@example.test"


def box(srv, addr=ALICE):
    """{sub/name: bytes} of every message file in new/ and cur/."""
    md = srv.maildir(addr)
    out = {}
    for sub in ("new", "cur"):
        d = md / sub
        if d.is_dir():
            for p in d.iterdir():
                if p.is_file():
                    out["%s/%s" % (sub, p.name)] = p.read_bytes()
    return out


def three(srv, addr=ALICE):
    """Three messages in new/, oldest first; returns [(name, data)]."""
    out = []
    for i in range(3):
        data = b"From: x@remote.test\nSubject: seen %d\n\nbody %d\n" % (i, i)
        out.append((put_message(srv.maildir(addr), data, i + 1), data))
    return out


def uidl_map(c):
    """{unique-id: subject line} of the current session."""
    _, lines = c.cmd_multi("UIDL")
    out = {}
    for ln in lines:
        n, uid = ln.split()
        out[uid] = c.cmd_multi("TOP %s 0" % n.decode())[1][1]
    return out


def login_when_free(srv, user="alice", timeout=10):
    """A logged-in LineConn once the server has dropped an earlier session
    (the lock is released when it notices the close)."""
    deadline = time.monotonic() + timeout
    while True:
        c = LineConn(srv.pop3_port)
        c.cmd("USER " + user)
        r = c.cmd("PASS pw-" + user)
        if r.startswith(b"+OK"):
            return c
        c.close()
        assert b"[IN-USE]" in r and time.monotonic() < deadline, r
        time.sleep(0.1)


def test_retr_quit_marks_seen(pop_server):
    msgs = three(pop_server)
    with LineConn(pop_server.pop3_port) as c:
        c.login()
        before = uidl_map(c)
        assert c.cmd_multi("RETR 2")[0].startswith(b"+OK")
        # Nothing on disk before QUIT.
        assert sorted(box(pop_server)) == sorted("new/" + n for n, _ in msgs)
        assert c.cmd("QUIT").startswith(b"+OK")
        assert c.closed()
    files = box(pop_server)
    # The retrieved one: cur/NAME:2,S with the same bytes; the others are
    # moved to cur/ unseen, as before.
    assert files == {
        "cur/" + msgs[0][0] + ":2,": msgs[0][1],
        "cur/" + msgs[1][0] + ":2,S": msgs[1][1],
        "cur/" + msgs[2][0] + ":2,": msgs[2][1],
    }
    with LineConn(pop_server.pop3_port) as c:
        c.login()
        assert uidl_map(c) == before
        # Seen mail first: the message seen before is now number 1.
        assert c.cmd_multi("TOP 1 0")[1][1] == b"Subject: seen 1"
        assert c.cmd("LAST") == b"+OK 1"
        assert c.cmd("QUIT").startswith(b"+OK")
    assert box(pop_server) == files


def test_top_does_not_mark(pop_server):
    msgs = three(pop_server)
    with LineConn(pop_server.pop3_port) as c:
        c.login()
        for n in (1, 2, 3):
            c.cmd_multi("TOP %d 0" % n)
        c.cmd_multi("TOP 2 1000")
        assert c.cmd("LAST") == b"+OK 0"
        assert c.cmd("QUIT").startswith(b"+OK")
    assert sorted(box(pop_server)) == sorted("cur/%s:2," % n for n, _ in msgs)
    with LineConn(pop_server.pop3_port) as c:
        c.login()
        assert c.cmd("LAST") == b"+OK 0"
        assert c.cmd("QUIT").startswith(b"+OK")


def test_dropped_session_marks_nothing(pop_server):
    msgs = three(pop_server)
    before = box(pop_server)
    c = LineConn(pop_server.pop3_port)
    c.login()
    for n in (1, 2, 3):
        c.cmd_multi("RETR %d" % n)
    assert c.cmd("LAST") == b"+OK 3"
    c.close()  # no QUIT: no UPDATE, so no flags either (RFC 1939 6)
    c = login_when_free(pop_server)
    try:
        assert c.cmd("LAST") == b"+OK 0"
    finally:
        c.close()  # again without QUIT
    c = login_when_free(pop_server)
    c.close()
    assert box(pop_server) == before
    assert sorted(before) == sorted("new/" + n for n, _ in msgs)


def test_last_and_rset(pop_server):
    msgs = three(pop_server)
    with LineConn(pop_server.pop3_port) as c:
        c.login()
        assert c.cmd("LAST") == b"+OK 0"
        c.cmd_multi("RETR 2")
        assert c.cmd("LAST") == b"+OK 2"
        c.cmd_multi("RETR 1")
        assert c.cmd("LAST") == b"+OK 2"
        # RSET drops this session's RETR marks (RFC 1460): LAST is back to
        # its value at the start, and QUIT will flag nothing.
        assert c.cmd("RSET").startswith(b"+OK")
        assert c.cmd("LAST") == b"+OK 0"
        c.cmd_multi("RETR 3")
        assert c.cmd("LAST") == b"+OK 3"
        assert c.cmd("QUIT").startswith(b"+OK")
    names = sorted(box(pop_server))
    assert names == sorted(["cur/%s:2," % msgs[0][0], "cur/%s:2," % msgs[1][0],
                            "cur/%s:2,S" % msgs[2][0]])
    # A new session: the seen message is listed first, LAST covers it, and
    # RSET goes back to that, not to 0.
    with LineConn(pop_server.pop3_port) as c:
        c.login()
        assert c.cmd("LAST") == b"+OK 1"
        assert c.cmd_multi("TOP 1 0")[1][1] == b"Subject: seen 2"
        assert c.cmd_multi("TOP 2 0")[1][1] == b"Subject: seen 0"
        c.cmd_multi("RETR 1")  # seen already: LAST stays
        assert c.cmd("LAST") == b"+OK 1"
        c.cmd_multi("RETR 3")
        assert c.cmd("LAST") == b"+OK 3"
        assert c.cmd("RSET").startswith(b"+OK")
        assert c.cmd("LAST") == b"+OK 1"
        assert c.cmd("QUIT").startswith(b"+OK")


def test_seen_first_whatever_the_age(pop_server):
    # A reader (mutt, IMAP) saw a newer message but not an older one: LAST
    # must not hide the older unseen one from a client that fetches the
    # messages after LAST.
    md = pop_server.maildir(ALICE)
    old = put_message(md, b"Subject: old unseen\n\nx\n", 1)
    new = put_message(md, b"Subject: new seen\n\nx\n", 2)
    (md / "new" / new).rename(md / "cur" / (new + ":2,S"))
    with LineConn(pop_server.pop3_port) as c:
        c.login()
        assert c.cmd("LAST") == b"+OK 1"
        assert c.cmd_multi("TOP 1 0")[1] == [b"Subject: new seen", b""]
        assert c.cmd_multi("TOP 2 0")[1] == [b"Subject: old unseen", b""]
        _, listing = c.cmd_multi("UIDL")
        assert listing == [b"1 " + new.encode(), b"2 " + old.encode()]
        assert c.cmd("QUIT").startswith(b"+OK")


def test_dovecot_flags_kept(pop_server):
    md = pop_server.maildir(ALICE)
    names = []
    for i, flags in enumerate(["F", "T", "FS", "DR", ""]):
        data = b"Subject: flags %d\n\nx\n" % i
        name = put_message(md, data, i + 1)
        (md / "new" / name).rename(md / "cur" / (name + ":2," + flags))
        names.append(name)
    with LineConn(pop_server.pop3_port) as c:
        c.login()
        ids = uidl_map(c)
        # "FS" is seen: number 1; then the others by delivery.
        assert c.cmd("LAST") == b"+OK 1"
        for n in (1, 2, 3, 4, 5):
            c.cmd_multi("RETR %d" % n)
        assert c.cmd("QUIT").startswith(b"+OK")
    assert sorted(box(pop_server)) == sorted([
        "cur/%s:2,FS" % names[0], "cur/%s:2,ST" % names[1],
        "cur/%s:2,FS" % names[2], "cur/%s:2,DRS" % names[3],
        "cur/%s:2,S" % names[4]])
    with LineConn(pop_server.pop3_port) as c:
        c.login()
        assert uidl_map(c) == ids
        assert c.cmd("LAST") == b"+OK 5"
        assert c.cmd("QUIT").startswith(b"+OK")


def test_moved_by_another_reader(pop_server):
    msgs = three(pop_server)
    md = pop_server.maildir(ALICE)
    with LineConn(pop_server.pop3_port) as c:
        c.login()
        c.cmd_multi("RETR 1")
        c.cmd_multi("RETR 2")
        # mutt (or Dovecot) moves them meanwhile; one gets a flag.
        (md / "new" / msgs[0][0]).rename(md / "cur" / (msgs[0][0] + ":2,"))
        (md / "new" / msgs[1][0]).rename(md / "cur" / (msgs[1][0] + ":2,R"))
        assert c.cmd("QUIT").startswith(b"+OK")
    assert box(pop_server) == {
        "cur/%s:2,S" % msgs[0][0]: msgs[0][1],
        "cur/%s:2,RS" % msgs[1][0]: msgs[1][1],
        "cur/%s:2," % msgs[2][0]: msgs[2][1],
    }


def test_retrieved_and_deleted(pop_server):
    msgs = three(pop_server)
    with LineConn(pop_server.pop3_port) as c:
        c.login()
        c.cmd_multi("RETR 1")
        assert c.cmd("DELE 1").startswith(b"+OK")
        c.cmd_multi("RETR 3")
        assert c.cmd("QUIT") == b"+OK mx.test POP3 server signing off (2 messages left)"
    assert sorted(box(pop_server)) == sorted(["cur/%s:2," % msgs[1][0], "cur/%s:2,S" % msgs[2][0]])


def test_pop2_acks_marks_seen(pop_server):
    msgs = three(pop_server)
    with LineConn(pop_server.pop2_port) as c:
        assert c.cmd("HELO alice pw-alice") == b"#3 messages in INBOX"
        size = int(c.cmd("READ")[1:].split()[0])
        c.send("RETR\r\n")
        c.read_exact(size)
        # ACKS: received and kept, so seen.
        size = int(c.cmd("ACKS")[1:].split()[0])
        c.send("RETR\r\n")
        c.read_exact(size)
        # NACK: not received well; not seen.
        assert c.cmd("NACK").startswith(b"=")
        assert c.cmd("QUIT").startswith(b"+ ")
    assert sorted(box(pop_server)) == sorted(["cur/%s:2,S" % msgs[0][0], "cur/%s:2," % msgs[1][0],
                                              "cur/%s:2," % msgs[2][0]])
    with LineConn(pop_server.pop3_port) as c:
        c.login()
        assert c.cmd("LAST") == b"+OK 1"
        assert c.cmd("QUIT").startswith(b"+OK")


# -- fetchmail in keep mode -----------------------------------------------

def run_fetchmail(srv, tmp_path, out_dir, mode):
    """One poll of dave's maildrop in keep mode; mode "last" ("no uidl":
    fetchmail asks LAST, also its default in 6.4) or "uidl" (client-side
    UIDL tracking in an idfile). Returns fetchmail's exit code and output
    (-v -v shows the dialogue)."""
    fetchmail = shutil.which("fetchmail")
    if fetchmail is None:
        pytest.fail("fetchmail is not installed (make deps)")
    rc = tmp_path / ("fetchmailrc-" + mode)
    rc.write_text(
        "set no syslog\n"
        "poll 127.0.0.1 with protocol pop3 port %d auth password timeout 20 %s:\n"
        "  user \"dave\" there with password \"pw-dave\" is %s here\n"
        "  sslproto tls1.2+ no sslcertck\n"
        "  keep\n"
        "  mda \"/bin/sh -c 'cat > %s/msg.$$'\"\n"
        % (srv.pop3_port, "uidl" if mode == "uidl" else "no uidl", getpass.getuser(), out_dir))
    rc.chmod(0o600)
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "FETCHMAILHOME": str(tmp_path)}
    r = subprocess.run([fetchmail, "-f", str(rc), "-v", "-v", "--nodetach",
                        "--pidfile", str(tmp_path / ("pid-" + mode)),
                        "--idfile", str(tmp_path / ("ids-" + mode))],
                       capture_output=True, text=True, timeout=60, env=env)
    out = r.stdout + r.stderr
    # 0: mail fetched; 1: no mail.
    assert r.returncode in (0, 1), out
    return r.returncode, out


@pytest.mark.parametrize("mode", ["last", "uidl"])
def test_fetchmail_keep_fetches_once(pop_server, tmp_path, mode):
    for i in range(3):
        pop_server.deliver(DAVE, make_msg(subject="keep %d" % i, body="line %d\r\n" % i))
    out_dir = tmp_path / "fetched"
    out_dir.mkdir()

    def fetched():
        return sorted(p.read_bytes() for p in out_dir.iterdir())

    # fetchmail 6.4 in keep mode: without uidl it asks LAST and fetches
    # with RETR, counting on the server to remember what was seen; with
    # uidl it remembers the ids itself (idfile) and peeks with TOP, which
    # must not mark anything.
    flag = ":2,S" if mode == "last" else ":2,"
    code, out = run_fetchmail(pop_server, tmp_path, out_dir, mode)
    assert code == 0, out
    if mode == "last":
        assert "POP3> LAST" in out and "POP3> UIDL" not in out, out
        assert "POP3> RETR 3" in out and "POP3> TOP" not in out, out
    else:
        assert "POP3> UIDL" in out and "POP3> LAST" not in out, out
        assert "POP3> TOP 3 " in out and "POP3> RETR" not in out, out
    first = fetched()
    assert len(first) == 3
    for i in range(3):
        assert sum(b"Subject: keep %d" % i in m for m in first) == 1
    files = pop_server.files(DAVE)
    assert len(files) == 3 and all(f.endswith(flag) for f in files), files

    # Second poll: nothing new, nothing fetched.
    code, out = run_fetchmail(pop_server, tmp_path, out_dir, mode)
    assert code == 1, out
    assert "POP3> RETR" not in out and "POP3> TOP" not in out, out
    if mode == "last":
        assert re.search(r"POP3> LAST\n.*POP3< \+OK 3\n", out), out
    assert fetched() == first

    # New mail: only it is fetched on the third poll.
    pop_server.deliver(DAVE, make_msg(subject="keep new", body="fresh\r\n"))
    code, out = run_fetchmail(pop_server, tmp_path, out_dir, mode)
    assert code == 0, out
    assert out.count("reading message") == 1, out
    got = fetched()
    assert len(got) == 4
    assert sum(b"Subject: keep new" in m for m in got) == 1
    files = pop_server.files(DAVE)
    assert len(files) == 4 and all(f.endswith(flag) for f in files), files
