"""Security review findings (issue 9) that concern files, reloads and SMTP
recipients: root never follows links planted in data_dir, files others
could change are refused, a reload never empties the account table,
max_recipients counts every RCPT, role addresses exist in every domain,
and a malformed SCRAM field is reported."""

import os
import pwd
import signal
import stat
import subprocess
import time

import pytest

from conftest import BIN, run_cli
from util import dot_stuff, make_msg, wait_for
from pop_util import make_pop_server  # noqa: F401

ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (CI runs as root)")


def unprivileged_user():
    for name in ("nobody", "daemon"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    pytest.skip("no unprivileged user to run as")


def reachable_by_others(path):
    """run_as must be able to reach data_dir: o+rx on it and its parents
    up to /tmp."""
    p = path
    while p != p.parent:
        os.chmod(p, os.stat(p).st_mode | 0o005) if p.is_dir() else None
        p = p.parent
        if str(p) in ("/", "/tmp"):
            break


def serve_once(conf, timeout=10):
    """Runs `konvert serve` expecting it to refuse (exit) on its own; kills
    it and fails the test if it is still running after timeout."""
    p = subprocess.Popen([str(BIN), "serve", "-c", str(conf)], stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=15)
        pytest.fail("server started instead of refusing; stderr:\n" + err)
    return p.returncode, out + err


def make_pem_pair(where):
    """A real certificate and key (so that loading them would succeed)."""
    cert, key = where / "cert.pem", where / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-subj", "/CN=target.test", "-days", "2", "-keyout", str(key),
                    "-out", str(cert)], check=True, capture_output=True)
    os.chmod(cert, 0o600)
    os.chmod(key, 0o600)
    return cert, key


# -- 1. root never follows a link planted in data_dir ------------------------

LINKED_PATHS = ["users", "aliases", "mail", "incoming", "tls", "tls/cert.pem", "tls/key.pem"]


@ROOT_ONLY
@pytest.mark.parametrize("planted", LINKED_PATHS)
def test_root_start_refuses_planted_link(make_server, tmp_path, planted):
    pw = unprivileged_user()
    srv = make_server(config={"run_as": pw.pw_name})
    data = srv.data_dir
    outside = tmp_path / "outside"
    outside.mkdir()
    target_cert, target_key = make_pem_pair(outside)
    # What the unprivileged user would aim at: a root-owned file (or a
    # root-owned directory for the directory names).
    if planted in ("mail", "incoming", "tls"):
        target = outside / "rootdir"
        target.mkdir(mode=0o700)
        if planted == "tls":
            (target / "cert.pem").write_bytes(target_cert.read_bytes())
            (target / "key.pem").write_bytes(target_key.read_bytes())
            os.chmod(target / "key.pem", 0o600)
    elif planted == "tls/cert.pem":
        target = target_cert
    elif planted == "tls/key.pem":
        target = target_key
    else:
        target = outside / "shadow"
        target.write_text("root:secret-hash:19000:0:99999:7:::\n")
        os.chmod(target, 0o600)
    if planted.startswith("tls/"):
        (data / "tls").mkdir(mode=0o700, exist_ok=True)
        other = "key.pem" if planted.endswith("cert.pem") else "cert.pem"
        (data / "tls" / other).write_bytes(
            (target_key if other == "key.pem" else target_cert).read_bytes())
        os.chmod(data / "tls" / other, 0o600)
    link = data / planted
    if link.exists() or link.is_symlink():
        if link.is_dir() and not link.is_symlink():
            os.rmdir(link)
        else:
            link.unlink()
    os.symlink(target, link)
    # After a first start data_dir belongs to run_as.
    os.chown(data, pw.pw_uid, pw.pw_gid)
    before = os.stat(target)

    rc, text = serve_once(srv.conf_path)

    after = os.stat(target)
    assert (after.st_uid, after.st_gid, stat.S_IMODE(after.st_mode)) == \
        (before.st_uid, before.st_gid, stat.S_IMODE(before.st_mode)), "target changed: " + text
    assert after.st_uid == 0
    assert rc != 0, text
    assert str(link) in text and "symbolic link" in text, text


@ROOT_ONLY
def test_root_start_refuses_hard_link(make_server, tmp_path):
    pw = unprivileged_user()
    srv = make_server(config={"run_as": pw.pw_name})
    target = srv.data_dir.parent / "secret"
    target.write_text("root-only\n")
    os.chmod(target, 0o600)
    os.unlink(srv.data_dir / "users")
    os.link(target, srv.data_dir / "users")
    rc, text = serve_once(srv.conf_path)
    assert rc != 0 and "hard link" in text, text
    assert os.stat(target).st_uid == 0


@ROOT_ONLY
def test_root_start_hands_plain_tree_to_run_as(make_server, tmp_path):
    """The safe path still works: plain files and directories are given to
    run_as and the server runs unprivileged."""
    pw = unprivileged_user()
    srv = make_server(config={"run_as": pw.pw_name})
    reachable_by_others(srv.data_dir)
    srv.start()
    for name in ("users", "mail", "incoming", "tls", "tls/key.pem"):
        st = os.stat(srv.data_dir / name)
        assert st.st_uid == pw.pw_uid, name
    status = open("/proc/%d/status" % srv.pid).read()
    uid_line = [ln for ln in status.splitlines() if ln.startswith("Uid:")][0]
    assert uid_line.split()[1] == str(pw.pw_uid)


# -- 3. files others could change are refused --------------------------------

@pytest.mark.parametrize("name,mode", [("users", 0o666), ("users", 0o620), ("aliases", 0o646)])
def test_writable_data_file_refused(make_server, name, mode):
    srv = make_server(aliases="team: alice")
    os.chmod(srv.data_dir / name, mode)
    rc, text = serve_once(srv.conf_path)
    assert rc != 0
    path = str(srv.data_dir / name)
    assert "%s: writable by" % path in text and "chmod go-w %s" % path in text, text
    r = srv.cli("check-config")
    assert r.returncode != 0 and "chmod go-w %s" % path in r.stderr, r.stderr


def test_writable_config_refused(make_server):
    srv = make_server()
    os.chmod(srv.conf_path, 0o666)
    rc, text = serve_once(srv.conf_path)
    assert rc != 0 and "chmod go-w %s" % srv.conf_path in text, text
    r = srv.cli("check-config")
    assert r.returncode != 0 and "chmod go-w" in r.stderr


def test_world_readable_key_refused(make_server, tmp_path):
    d = tmp_path / "pki"
    d.mkdir()
    cert, key = make_pem_pair(d)
    os.chmod(key, 0o644)
    srv = make_server(config={"tls_cert": str(cert), "tls_key": str(key)})
    rc, text = serve_once(srv.conf_path)
    assert rc != 0 and "chmod o-rwx %s" % key in text, text
    r = srv.cli("check-config")
    assert r.returncode != 0 and "readable by everyone" in r.stderr
    os.chmod(key, 0o640)
    assert srv.cli("check-config").returncode == 0


def test_generated_key_made_readable_is_refused(make_server):
    srv = make_server()
    srv.start()
    srv.stop()
    os.chmod(srv.data_dir / "tls" / "key.pem", 0o644)
    rc, text = serve_once(srv.conf_path)
    assert rc != 0 and "chmod o-rwx" in text, text


def test_reload_refuses_writable_users(make_server):
    srv = make_server()
    srv.start()
    # A writable file that would also remove alice: refused as a whole.
    users = srv.data_dir / "users"
    users.write_text("".join(l + "\n" for l in users.read_text().splitlines()
                             if not l.startswith("alice@")))
    os.chmod(users, 0o666)
    srv.hup()
    assert wait_for(lambda: "event=reload result=failed" in srv.log())
    assert "chmod go-w" in srv.log()
    with srv.connect() as c:
        c.ehlo()
        c.expect("MAIL FROM:<x@y.test>", "250")
        c.expect("RCPT TO:<alice@example.test>", "250 2.1.5")
    os.chmod(srv.data_dir / "users", 0o600)


def test_user_cli_writes_mode_0600(make_server):
    srv = make_server(users=False)
    srv.add_user("zed@example.test", "pw")
    assert stat.S_IMODE(os.stat(srv.data_dir / "users").st_mode) == 0o600


# -- 4. a reload never removes every account ---------------------------------

@pytest.mark.parametrize("how", ["truncate", "remove"])
def test_reload_keeps_accounts_when_users_vanish(make_server, how):
    srv = make_server()
    srv.start()
    users = srv.data_dir / "users"
    if how == "truncate":
        users.write_text("")
    else:
        users.unlink()
    srv.hup()
    assert wait_for(lambda: "event=reload result=failed" in srv.log()), srv.log()
    assert "keeping the previous 5 accounts" in srv.log()
    with srv.connect() as c:
        c.ehlo()
        c.expect("MAIL FROM:<x@y.test>", "250")
        c.expect("RCPT TO:<alice@example.test>", "250 2.1.5")
        c.expect("RCPT TO:<nosuch@example.test>", "550 5.1.1")


def test_no_account_table_defers_not_bounces(make_server):
    srv = make_server(users=False)
    srv.start()
    assert "mail for local domains is deferred" in srv.log()
    with srv.connect() as c:
        c.ehlo()
        c.expect("MAIL FROM:<x@y.test>", "250")
        c.expect("RCPT TO:<alice@example.test>", "451 4.3.0")
        c.expect("RCPT TO:<postmaster@example.test>", "250 2.1.5")


# -- 6. smaller points ---------------------------------------------------------

@pytest.mark.konvert
def test_max_recipients_counts_duplicates(make_server):
    srv = make_server(config={"max_recipients": "3"})
    srv.start()
    with srv.connect() as c:
        c.ehlo()
        c.expect("MAIL FROM:<x@y.test>", "250")
        for _ in range(3):
            c.expect("RCPT TO:<alice@example.test>", "250 2.1.5")
        c.expect("RCPT TO:<alice@example.test>", "452 4.5.3")
        c.expect("RCPT TO:<bob@example.test>", "452 4.5.3")
        r = c.data(dot_stuff(make_msg("dups")))
        assert r.code == 250, r
    assert len(srv.delivered("alice@example.test")) == 1


def test_role_addresses_in_every_domain(make_server):
    srv = make_server(aliases="postmaster: alice")
    srv.start()
    with srv.connect() as c:
        c.ehlo()
        for rcpt in ("postmaster@other.test", "abuse@other.test", "ABUSE@example.test",
                     "postmaster@example.test"):
            c.expect("MAIL FROM:<x@y.test>", "250")
            c.expect("RCPT TO:<%s>" % rcpt, "250 2.1.5")
            r = c.data(dot_stuff(make_msg("role", to=rcpt)))
            assert r.code == 250, (rcpt, r)
    assert len(srv.delivered("alice@example.test")) == 4
    assert not srv.maildir("postmaster@other.test").exists()


def test_check_config_warns_unreadable_postmaster(make_server):
    srv = make_server()
    r = srv.cli("check-config")
    assert r.returncode == 0
    assert "postmaster@example.test, which no account can read" in r.stderr, r.stderr
    srv.write_aliases("postmaster: alice")
    r = srv.cli("check-config")
    assert r.returncode == 0 and "postmaster" not in r.stderr, r.stderr


def test_malformed_scram_field_is_logged(make_server):
    srv = make_server()
    users = srv.data_dir / "users"
    lines = users.read_text().splitlines()
    idx = next(i for i, ln in enumerate(lines) if ln.startswith("bob@"))
    addr, hsh = lines[idx].split(":")[:2]
    lines[idx] = "%s:%s:scram-sha-256=not-base64!!" % (addr, hsh)
    users.write_text("\n".join(lines) + "\n")
    os.chmod(users, 0o600)
    srv.start()
    assert "%s:%d: malformed scram-sha-256 field" % (users, idx + 1) in srv.log(), srv.log()
    r = srv.cli("check-config")
    assert "%s:%d: malformed scram-sha-256 field" % (users, idx + 1) in r.stderr


# -- 6. SIGTERM: goodbye lines, nothing left behind ----------------------------

def _read_until_close(sock, timeout=10.0):
    sock.settimeout(timeout)
    data = b""
    while True:
        try:
            chunk = sock.recv(4096)
        except OSError:
            break
        if not chunk:
            break
        data += chunk
    return data


def test_sigterm_says_goodbye_on_pop3_and_pop2(make_pop_server):
    import socket
    srv = make_pop_server()
    srv.start()
    p3 = socket.create_connection(("127.0.0.1", srv.pop3_port), timeout=5)
    assert p3.recv(200).startswith(b"+OK")
    p3.sendall(b"USER alice@example.test\r\nPASS pw-alice\r\n")
    got = b""
    while got.count(b"\r\n") < 2:
        got += p3.recv(200)
    assert b"+OK" in got.split(b"\r\n")[1], got
    p2 = socket.create_connection(("127.0.0.1", srv.pop2_port), timeout=5)
    assert p2.recv(200).startswith(b"+")
    srv.proc.send_signal(signal.SIGTERM)
    assert _read_until_close(p3) == b"-ERR [SYS/TEMP] shutting down\r\n"
    assert _read_until_close(p2).startswith(b"- shutting down")
    assert srv.proc.wait(15) == 0


def test_sigterm_frees_sessions_of_clients_that_do_not_read(make_pop_server):
    """Sessions still open after the drain are freed (the sanitizer build
    reports a leak otherwise, and the exit status shows it)."""
    import socket
    srv = make_pop_server()
    srv.start()
    socks = []
    for port, greet in ((srv.smtp_port, b"220"), (srv.pop3_port, b"+OK"), (srv.pop2_port, b"+")):
        for _ in range(3):
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            assert s.recv(200).startswith(greet)
            socks.append(s)
    # Clients that pipeline without ever reading: their sessions cannot
    # flush the goodbye and are still open when the drain ends.
    for _ in range(3):
        s = socket.create_connection(("127.0.0.1", srv.smtp_port), timeout=5)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.recv(200)
        s.setblocking(False)
        try:
            s.send(b"NOOP\r\n" * 50000)
        except BlockingIOError:
            pass
        socks.append(s)
    time.sleep(0.5)
    # A logged-in POP3 session too.
    s = socket.create_connection(("127.0.0.1", srv.pop3_port), timeout=5)
    s.recv(200)
    s.sendall(b"USER bob@example.test\r\nPASS pw-bob\r\n")
    time.sleep(0.3)
    socks.append(s)
    srv.proc.send_signal(signal.SIGTERM)
    assert srv.proc.wait(15) == 0, srv.log()[-2000:]
    for s in socks:
        s.close()


# -- issue 12: root never takes over a directory that is not konvert's --------

@ROOT_ONLY
def test_root_refuses_foreign_data_dir_without_marker(make_server):
    pw = unprivileged_user()
    srv = make_server(config={"run_as": pw.pw_name})
    (srv.data_dir / "thesis.odt").write_text("not mail")
    rc, text = serve_once(srv.conf_path)
    assert rc != 0
    assert "holds files that are not konvert's" in text and '"thesis.odt"' in text, text
    assert os.stat(srv.data_dir).st_uid == 0  # not chowned
    assert not (srv.data_dir / ".konvert").exists()


@ROOT_ONLY
def test_root_marks_its_own_data_dir(make_server):
    """A data_dir holding only konvert's names (here: users made by
    `konvert user add` before the first start) gets the marker; with the
    marker, other files no longer matter."""
    pw = unprivileged_user()
    srv = make_server(config={"run_as": pw.pw_name})
    reachable_by_others(srv.data_dir)
    srv.start()
    assert (srv.data_dir / ".konvert").is_file()
    srv.stop()
    (srv.data_dir / "notes.txt").write_text("the admin's own file")
    srv.start()


@ROOT_ONLY
def test_open_file_limit_raised_for_max_sessions(make_server):
    """Root raises RLIMIT_NOFILE to what max_sessions needs instead of
    lowering max_sessions with a warning at every start."""
    probe = subprocess.run(["/usr/bin/python3", "-c",
                            "import resource; resource.setrlimit(resource.RLIMIT_NOFILE, (60128, 60128))"],
                           capture_output=True)
    if probe.returncode != 0:
        pytest.skip("this machine does not let root raise the hard open-file limit (no CAP_SYS_RESOURCE)")
    srv = make_server(config={"max_sessions": "30000"})
    srv.start()
    assert "lowered to" not in srv.log()
    limits = open("/proc/%d/limits" % srv.pid).read()
    line = [ln for ln in limits.splitlines() if ln.startswith("Max open files")][0]
    assert int(line.split()[3]) >= 60000, line
