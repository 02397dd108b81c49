"""Internationalised mail (RFC 6530-6533, RFC 6856): accounts and aliases
with UTF-8 local parts, their Maildirs under the UTF-8 name, SMTPUTF8
delivery and replies that show the address as UTF-8 inside an SMTPUTF8
transaction (escaped outside one), SMTP AUTH and POP3 (USER/PASS, AUTH
PLAIN, the UTF8 command) for UTF-8 accounts. Domains stay ASCII (no IDNA):
a U-label is refused with a message that says so."""

import base64
import os
import poplib
import subprocess

import pytest

from conftest import BIN
from pop_util import LineConn, ScramClient, make_pop_server  # noqa: F401 (fixture)
from util import make_msg, unique_token, wait_for

JOERG = "j\u00f6rg@example.test"
JOERG_B = JOERG.encode()
PW = "pw-j\u00f6rg \u65e5\u672c"  # a UTF-8 password with a space


def raw_line(c):
    """The next reply line of an SMTPConn as the exact bytes sent."""
    while b"\n" not in c.buf:
        chunk = c.sock.recv(65536)
        assert chunk, "connection closed"
        c.buf += chunk
    line, _, c.buf = c.buf.partition(b"\n")
    return line.rstrip(b"\r")


def raw_cmd(c, line):
    c.send(line + b"\r\n")
    return raw_line(c)


def b64(data):
    return base64.b64encode(data).decode()


@pytest.fixture
def srv(make_pop_server):
    """A started server (SMTP, submission, POP3) with the UTF-8 account
    and the default ones."""
    s = make_pop_server()
    s.add_user(JOERG, PW)
    s.write_aliases("b\u00fcro: j\u00f6rg\ninfo-de: J\u00f6rg\n"
                    "\u0444\u0430\u043a\u0441: alice, j\u00f6rg@example.test\n")
    s.start()
    return s


# -- konvert user --------------------------------------------------------------------

@pytest.fixture
def cli_srv(make_server):
    return make_server(users=False)


def listed(s):
    r = s.cli("user", "list")
    assert r.returncode == 0, r.stderr
    return r.stdout.split()


def test_user_add_passwd_del_utf8(cli_srv):
    r = cli_srv.cli("user", "add", JOERG, "--password-stdin", stdin=PW + "\n")
    assert r.returncode == 0, r.stderr
    raw = (cli_srv.data_dir / "users").read_bytes()
    assert raw.startswith(JOERG_B + b":$y$"), raw  # stored as is, UTF-8
    assert listed(cli_srv) == [JOERG]
    # ASCII letters fold (J = j): the same account.
    r = cli_srv.cli("user", "add", "J\u00f6rg@Example.TEST", "--password-stdin", stdin="x\n")
    assert r.returncode == 1 and "already exists" in r.stderr, r.stderr
    # Non-ASCII letters do not (no Unicode case folding): another name.
    cli_srv.add_user("J\u00d6RG@example.test", "other")
    assert sorted(listed(cli_srv)) == sorted([JOERG, "j\u00d6rg@example.test"])
    r = cli_srv.cli("user", "passwd", "J\u00f6rg@example.test", "--password-stdin", stdin="new\n")
    assert r.returncode == 0, r.stderr
    r = cli_srv.cli("user", "del", JOERG)
    assert r.returncode == 0, r.stderr
    assert "mail/example.test/j\u00f6rg/" in r.stdout, r.stdout
    assert listed(cli_srv) == ["j\u00d6rg@example.test"]


@pytest.mark.parametrize("addr,why", [
    (b"j\xf6rg@example.test", "malformed UTF-8"),          # Latin-1
    (b"\xc0\xaf@example.test", "malformed UTF-8"),          # overlong '/'
    (b"a\xed\xa0\x80@example.test", "malformed UTF-8"),     # surrogate
    (b"j\xc3@example.test", "malformed UTF-8"),             # truncated
    (b"a\xc2\x85@example.test", "invisible"),               # C1 control
    (b"a\xc2\xa0b@example.test", "invisible"),              # no-break space
    (b"a\xe2\x80\xaeb@example.test", "invisible"),          # RLO
    (b"j\xc3\xb6 rg@example.test", "space"),
    (b'"j\xc3\xb6rg"@example.test', "quoted local parts are not supported"),
    ("j\u00f6rg@b\u00fccher.example".encode(), "IDNA is not supported"),
])
def test_user_add_refuses_bad_utf8(cli_srv, addr, why):
    r = subprocess.run([str(BIN), "-c", str(cli_srv.conf_path), "user", "add", addr,
                        "--password-stdin"], input=b"pw\n", capture_output=True, timeout=30)
    err = r.stderr.decode("utf-8")  # the message itself is always UTF-8
    assert r.returncode == 1, err
    assert "invalid address" in err and why in err, err
    # The offending bytes come back escaped, never raw.
    assert not any(ord(ch) < 0x20 and ch != "\n" or 0x7f <= ord(ch) <= 0xa0 for ch in err), err
    assert not (cli_srv.data_dir / "users").exists() or \
        addr not in (cli_srv.data_dir / "users").read_bytes()


def test_user_add_shows_bad_bytes_escaped(cli_srv):
    r = subprocess.run([str(BIN), "-c", str(cli_srv.conf_path), "user", "add",
                        b"b\xc3\xbcro\xff\x1b[2J@example.test", "--password-stdin"],
                       input=b"pw\n", capture_output=True, timeout=30)
    assert r.returncode == 1
    # valid UTF-8 shown as such, the rest \xNN: no raw escape sequence
    assert "\"b\u00fcro\\xff\\x1b[2J@example.test\"" in r.stderr.decode("utf-8"), r.stderr
    assert b"\x1b" not in r.stderr


def test_a_label_domain_accepted(make_server):
    s = make_server(config={"domains": "example.test xn--bcher-kva.example"}, users=False)
    s.add_user("j\u00f6rg@xn--bcher-kva.example")
    assert listed(s) == ["j\u00f6rg@xn--bcher-kva.example"]


# -- SMTP --------------------------------------------------------------------------

def test_smtputf8_delivery_to_utf8_account(srv):
    token = unique_token()
    body = ("Subject: Gr\u00fc\u00dfe %s\r\nFrom: x@y.test\r\nTo: %s\r\n\r\n"
            "Hallo J\u00f6rg\r\n" % (token, JOERG)).encode()
    with srv.connect() as c:
        c.ehlo()
        c.expect("MAIL FROM:<x@y.test> SMTPUTF8", "250 2.1.0")
        c.expect("RCPT TO:<%s>" % JOERG, "250 2.1.5")
        # ASCII letters of the local part fold, as for every account.
        c.expect("RCPT TO:<J\u00f6rg@EXAMPLE.test>", "250 2.1.5")
        assert c.data(body).code == 250
    md = srv.data_dir / "mail" / "example.test" / "j\u00f6rg"
    assert os.fsencode(str(md)).endswith(b"/mail/example.test/j\xc3\xb6rg")
    files = list((md / "new").iterdir())
    assert len(files) == 1, files  # the two RCPTs name one mailbox
    data = files[0].read_bytes()
    assert token.encode() in data and "Hallo J\u00f6rg".encode() in data


def test_unknown_utf8_recipient_reply_is_utf8(srv):
    with srv.connect() as c:
        c.ehlo()
        c.expect("MAIL FROM:<x@y.test> SMTPUTF8", "250 2.1.0")
        line = raw_cmd(c, "RCPT TO:<j\u00fcrgen@example.test>".encode())
        assert line == ("550 5.1.1 <j\u00fcrgen@example.test>: Recipient address rejected: "
                        "User unknown").encode(), line
        # Non-ASCII letters are not case-folded: J\u00d6RG is not j\u00f6rg.
        line = raw_cmd(c, "RCPT TO:<j\u00d6rg@example.test>".encode())
        assert line.startswith("550 5.1.1 <j\u00d6rg@example.test>".encode()), line
        # NFD (o + U+0308) is another name too: no normalisation.
        line = raw_cmd(c, "RCPT TO:<jo\u0308rg@example.test>".encode())
        assert line.startswith(b"550 5.1.1"), line
        c.expect("RCPT TO:<%s>" % JOERG, "250 2.1.5")
    # The log keeps its ASCII escapes.
    assert wait_for(lambda: "to=<j\\xc3\\xbcrgen@example.test> result=unknown-user" in srv.log())


def test_without_smtputf8_utf8_address_refused(srv):
    with srv.connect() as c:
        c.ehlo()
        c.expect("MAIL FROM:<x@y.test>", "250 2.1.0")
        line = raw_cmd(c, ("RCPT TO:<%s>" % JOERG).encode())
        assert line.startswith(b"553 5.6.7"), line
        assert all(b < 0x80 for b in line), line
        c.expect("RCPT TO:<alice@example.test>", "250 2.1.5")


def test_utf8_alias_lines_load_and_deliver(srv):
    token = unique_token()
    with srv.connect() as c:
        c.ehlo()
        c.expect("MAIL FROM:<x@y.test> SMTPUTF8", "250 2.1.0")
        c.expect("RCPT TO:<B\u00fcro@example.test>", "250 2.1.5")
        c.expect("RCPT TO:<\u0444\u0430\u043a\u0441@example.test>", "250 2.1.5")
        assert c.data(make_msg(subject=token)).code == 250
    # ASCII alias to a UTF-8 account, without SMTPUTF8: the mailbox name
    # is ours, the client never sees it.
    with srv.connect() as c:
        c.ehlo()
        r = c.send_mail("x@y.test", ["info-de@example.test"], make_msg(subject=token + "b"))
        assert r.code == 250, r.lines
    new = srv.data_dir / "mail" / "example.test" / "j\u00f6rg" / "new"
    got = sorted(p.read_bytes() for p in new.iterdir())
    assert len(got) == 2 and any(token.encode() + b"\r" in g or token.encode() + b"\n" in g
                                 for g in got), got
    assert len(srv.delivered("alice@example.test")) == 1


def test_malformed_utf8_alias_line_is_an_error_with_file_and_line(make_server):
    s = make_server()
    (s.data_dir / "aliases").write_bytes(b"# Gr\xfc\xdfe (Latin-1 comments are fine)\n"
                                         b"team: alice\nb\xfcro: alice\n")
    r = s.cli("check-config")
    assert r.returncode != 0
    assert "aliases:3: invalid alias name \"b\\xfcro\": malformed UTF-8" in r.stderr, r.stderr
    # The server refuses to start with the same message and exits, no crash.
    proc = subprocess.run([str(BIN), "serve", "-c", str(s.conf_path)], capture_output=True,
                          timeout=30)
    assert proc.returncode == 1, (proc.returncode, proc.stderr)
    assert b"aliases:3: invalid alias name" in proc.stderr, proc.stderr


def test_sighup_with_malformed_utf8_alias_keeps_serving(srv):
    mark = len(srv.log())
    (srv.data_dir / "aliases").write_bytes(b"b\xc3\xbcro: j\xc3\xb6rg\nx: j\xc3\n")
    srv.hup()
    assert wait_for(lambda: "aliases:2: invalid target address: j\\xc3" in srv.log()[mark:]), \
        srv.log()[mark:]
    with srv.connect() as c:
        c.ehlo()
        c.expect("MAIL FROM:<x@y.test> SMTPUTF8", "250 2.1.0")
        c.expect("RCPT TO:<b\u00fcro@example.test>", "250 2.1.5")  # the old table


def test_alias_to_utf8_remote_needs_smtputf8(make_pop_server):
    s = make_pop_server()
    s.write_aliases("fwd: \u7530\u4e2d@remote.test\n")
    s.start()
    with s.connect() as c:
        c.ehlo()
        c.expect("MAIL FROM:<x@y.test>", "250 2.1.0")
        assert raw_cmd(c, b"RCPT TO:<fwd@example.test>").startswith(b"553 5.6.7 <fwd@example.test>")
        c.expect("RSET", "250")
        c.expect("MAIL FROM:<x@y.test> SMTPUTF8", "250 2.1.0")
        c.expect("RCPT TO:<fwd@example.test>", "250 2.1.5")


def test_submission_auth_plain_utf8_and_sender_ownership(srv):
    token = b"\0" + JOERG_B + b"\0" + PW.encode()
    with srv.connect(srv.submission_port) as c:
        c.ehlo()
        c.expect("AUTH PLAIN " + b64(token), "235 2.7.0")
        # Not the user's address: the reply names the user, as UTF-8 only
        # inside an SMTPUTF8 transaction.
        line = raw_cmd(c, b"MAIL FROM:<bob@example.test> SMTPUTF8")
        assert line == ("553 5.7.1 <bob@example.test>: Sender address rejected: not owned by "
                        "user %s" % JOERG).encode(), line
        line = raw_cmd(c, b"MAIL FROM:<bob@example.test>")
        assert line == (b"553 5.7.1 <bob@example.test>: Sender address rejected: not owned by "
                        b"user j\\xc3\\xb6rg@example.test"), line
        c.expect("MAIL FROM:<J\u00f6rg@example.test> SMTPUTF8", "250 2.1.0")
        c.expect("RCPT TO:<alice@example.test>", "250 2.1.5")
        assert c.data(make_msg(subject="from j\u00f6rg")).code == 250
        c.expect("RSET", "250")
        # An alias of the user is the user's too.
        c.expect("MAIL FROM:<b\u00fcro@example.test> SMTPUTF8", "250 2.1.0")
    assert len(srv.delivered("alice@example.test")) == 1


def test_submission_auth_login_bare_utf8_local_part(srv):
    # A login without a domain takes the first local domain.
    with srv.connect(srv.submission_port) as c:
        c.ehlo()
        assert c.cmd("AUTH LOGIN").code == 334
        assert c.cmd(b64("j\u00f6rg".encode())).code == 334
        c.expect(b64(PW.encode()), "235 2.7.0")


# -- POP3 (RFC 6856) -----------------------------------------------------------------

def deliver_to_joerg(srv, subject):
    msg = ("Subject: %s\r\nFrom: x@y.test\r\nTo: %s\r\n\r\n\u00e4\u00f6\u00fc\r\n"
           % (subject, JOERG)).encode()
    with srv.connect() as c:
        c.ehlo()
        r = c.send_mail("x@y.test", [JOERG], msg, mail_params=" SMTPUTF8")
        assert r.code == 250, r.lines
    return msg


def test_pop3_capa_utf8_user_pass_retr(srv):
    msg = deliver_to_joerg(srv, "pop " + unique_token())
    with LineConn(srv.pop3_port) as p:
        status, caps = p.cmd_multi("CAPA")
        assert b"UTF8 USER" in caps, caps
        assert p.cmd("UTF8") == b"+OK UTF-8 mode on"
        assert p.cmd(b"USER " + JOERG_B).startswith(b"+OK")
        r = p.cmd(b"PASS " + PW.encode())
        assert r.startswith(b"+OK " + JOERG_B + b"'s maildrop has 1 message ("), r
        # UTF8 is an AUTHORIZATION command (RFC 6856 2).
        assert p.cmd("UTF8").startswith(b"-ERR")
        status, lines = p.cmd_multi("RETR 1")
        assert (b"\r\n".join(lines) + b"\r\n").endswith(msg)  # after Return-Path, Received
        assert p.cmd("QUIT").startswith(b"+OK")


def test_pop3_without_utf8_command_login_works_reply_escaped(srv):
    deliver_to_joerg(srv, "esc")
    with LineConn(srv.pop3_port) as p:
        # "UTF8 USER": UTF-8 in USER/PASS needs no UTF8 command first.
        assert p.cmd(b"USER J\xc3\xb6rg@Example.test").startswith(b"+OK")
        r = p.cmd(b"PASS " + PW.encode())
        assert r.startswith(b"+OK j\\xc3\\xb6rg@example.test's maildrop has 1 message"), r
        assert all(b < 0x80 for b in r), r
        status, _ = p.cmd_multi("RETR 1")
        assert p.cmd("QUIT").startswith(b"+OK")


def test_pop3_wrong_utf8_password_and_unknown_utf8_user(srv):
    with LineConn(srv.pop3_port) as p:
        assert p.cmd("UTF8").startswith(b"+OK")
        assert p.cmd(b"USER " + JOERG_B).startswith(b"+OK")
        assert p.cmd(b"PASS pw-jorg").startswith(b"-ERR [AUTH]")
        assert p.cmd(b"USER j\xc3\xbcrgen@example.test").startswith(b"+OK")
        assert p.cmd(b"PASS " + PW.encode()).startswith(b"-ERR [AUTH]")
        # Malformed UTF-8 is no name at all, and says nothing more.
        assert p.cmd(b"USER j\xf6rg@example.test").startswith(b"+OK")
        assert p.cmd(b"PASS " + PW.encode()).startswith(b"-ERR [AUTH]")


def test_pop3_auth_plain_utf8(srv):
    deliver_to_joerg(srv, "sasl")
    token = b"\0" + JOERG_B + b"\0" + PW.encode()
    with LineConn(srv.pop3_port) as p:
        r = p.cmd("AUTH PLAIN " + b64(token))
        assert r.startswith(b"+OK j\\xc3\\xb6rg@example.test's maildrop has 1 message"), r
        status, lines = p.cmd_multi("LIST")
        assert len(lines) == 1


def test_pop3_scram_utf8_user(srv):
    with LineConn(srv.pop3_port) as p:
        sc = ScramClient(JOERG, PW)
        r = p.cmd("AUTH SCRAM-SHA-256 " + sc.first())
        assert r.startswith(b"+ "), r
        r = p.cmd(sc.final(r[2:].decode()))
        assert r.startswith(b"+ ") and sc.verify(r[2:].decode()), r
        assert p.cmd("").startswith(b"+OK j\\xc3\\xb6rg@example.test's maildrop")


def test_pop3_poplib_utf8(srv):
    msg = deliver_to_joerg(srv, "poplib")
    p = poplib.POP3("127.0.0.1", srv.pop3_port, timeout=10)
    try:
        assert "UTF8" in p.capa()
        assert p.utf8().startswith(b"+OK")  # poplib now speaks UTF-8
        p.user(JOERG)
        assert p.pass_(PW).startswith(JOERG_B.join([b"+OK ", b"'s maildrop"]))
        resp, lines, octets = p.retr(1)
        assert (b"\r\n".join(lines) + b"\r\n").endswith(msg)
    finally:
        p.quit()


def test_pop3_utf8_mode_forgotten_after_stls(make_pop_server):
    s = make_pop_server()
    s.add_user(JOERG, PW)
    s.start()
    deliver_to_joerg(s, "stls")
    with LineConn(s.pop3_port) as p:
        assert p.cmd("UTF8").startswith(b"+OK")
        assert p.cmd("STLS").startswith(b"+OK")
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        p.sock = ctx.wrap_socket(p.sock)
        p.buf = b""
        assert p.cmd(b"USER " + JOERG_B).startswith(b"+OK")
        r = p.cmd(b"PASS " + PW.encode())
        assert r.startswith(b"+OK j\\xc3\\xb6rg@example.test's"), r  # UTF8 again needed
