"""SMTP AUTH (RFC 4954) with PLAIN, LOGIN and SCRAM-SHA-256 (RFC 5802/7677)
on submission, smtps and (inside TLS) the MTA port: where each mechanism
is offered, the error replies, the failure limit, plaintext refused
without TLS from a client that is not loopback-trusted, the submission
rules (530 before AUTH, sender ownership, relaying) and hostile input."""

import base64
import socket

import pytest

from tls_util import (HOSTNAME, PASSWORDS, ScramClient, b64, b64d, client_context,  # noqa: F401
                      ehlo_keywords, make_tls_server, only_stored, plain_token, received_text,
                      tls_server)
from util import QUEUED_RE, ConnectionClosed, make_msg, unique_token

ALICE = "alice@example.test"
PW = PASSWORDS[ALICE]
FULL_AUTH = "AUTH SCRAM-SHA-256 PLAIN LOGIN"
MECHS = ["PLAIN", "LOGIN", "SCRAM-SHA-256"]


def sub(srv, tls=False, **kw):
    """A submission session after EHLO (after STARTTLS + EHLO with tls)."""
    c = srv.connect(srv.submission_port, **kw)
    assert c.greeting.startswith("220 "), c.greeting
    c.ehlo()
    if tls:
        c.starttls()
    return c


def mta_tls(srv, **kw):
    c = srv.connect(srv.smtp_port, **kw)
    c.ehlo()
    c.starttls()
    return c


def ports(srv):
    """(name, connect-after-EHLO) for every listener where AUTH is offered."""
    def smtps():
        c = srv.connect_smtps()
        c.ehlo()
        return c
    return [("submission", lambda: sub(srv)), ("submission+tls", lambda: sub(srv, tls=True)),
            ("smtps", smtps), ("smtp+tls", lambda: mta_tls(srv))]


# --- successful logins ---------------------------------------------------------------

@pytest.mark.parametrize("mech", MECHS)
def test_auth_every_mechanism_every_listener(tls_server, mech):
    for name, open_ in ports(tls_server):
        with open_() as c:
            r = c.login(ALICE, PW, mech)
            assert r.line.startswith("235 2.7.0"), (name, r.lines)
            c.expect("AUTH PLAIN " + b64(plain_token(ALICE, PW)), "503 5.5.1")  # AUTH twice
            c.expect("MAIL FROM:<%s>" % ALICE, "250 2.1.0")


@pytest.mark.parametrize("user", ["alice", "ALICE@Example.TEST", "Alice"])
@pytest.mark.parametrize("mech", MECHS)
def test_login_name_forms(tls_server, mech, user):
    """A bare local part means the first local domain; case is ignored."""
    with sub(tls_server, tls=True) as c:
        c.login(user, PW, mech)
        c.expect("MAIL FROM:<%s>" % ALICE, "250 2.1.0")


def test_bare_local_part_is_first_domain_only(tls_server):
    # erin exists only as erin@other.test; "erin" means erin@example.test
    with sub(tls_server, tls=True) as c:
        r = c.auth_plain("erin", PASSWORDS["erin@other.test"])
        assert r.line.startswith("535 5.7.8"), r.lines
        c.login("erin@other.test", PASSWORDS["erin@other.test"])


def test_plain_without_initial_response(tls_server):
    with sub(tls_server, tls=True) as c:
        r = c.auth_plain(ALICE, PW, initial=False)
        assert r.line.startswith("235 2.7.0"), r.lines


def test_plain_authzid(tls_server):
    with sub(tls_server, tls=True) as c:
        r = c.auth_plain(ALICE, PW, authzid="bob@example.test")  # acting as someone else
        assert r.line.startswith("535 5.7.8"), r.lines
        r = c.auth_plain(ALICE, PW, authzid=ALICE)  # authzid == authcid is fine
        assert r.line.startswith("235 2.7.0"), r.lines


def test_scram_exchange_details(tls_server):
    """Drives SCRAM-SHA-256 by hand: server-first fields, server signature
    as a last 334, empty answer, 235."""
    with sub(tls_server, tls=True) as c:
        sc = ScramClient(ALICE, PW)
        r = c.cmd("AUTH SCRAM-SHA-256 " + b64(sc.client_first()))
        assert r.code == 334, r.lines
        server_first = b64d(r.line[4:])
        attrs = ScramClient.parse(server_first.decode())
        assert set(attrs) >= {"r", "s", "i"}, attrs
        assert len(base64.b64decode(attrs["s"])) >= 16, attrs
        r = c.cmd(b64(sc.client_final(server_first)))
        assert r.code == 334, "server-final must come as a 334 challenge: %r" % r.lines
        sc.verify_server_final(b64d(r.line[4:]))
        c.expect("", "235 2.7.0")
        c.expect("MAIL FROM:<%s>" % ALICE, "250 2.1.0")


def test_scram_without_initial_response(tls_server):
    with sub(tls_server, tls=True) as c:
        r = c.cmd("AUTH SCRAM-SHA-256")
        assert r.code == 334 and b64d(r.line[4:] or "") == b"", r.lines
        sc = ScramClient(ALICE, PW)
        r = c.cmd(b64(sc.client_first()))
        assert r.code == 334, r.lines
        r = c.cmd(b64(sc.client_final(b64d(r.line[4:]))))
        assert r.code == 334, r.lines
        sc.verify_server_final(b64d(r.line[4:]))
        c.expect("", "235 2.7.0")


def test_scram_keys_match_users_file(tls_server):
    """The scram-sha-256= field is ITER,SALT,STOREDKEY,SERVERKEY for the
    password, and the server hands out exactly that salt and count."""
    import hashlib
    import hmac
    line = [l for l in (tls_server.data_dir / "users").read_text().splitlines()
            if l.lower().startswith(ALICE + ":")][0]
    field = [f for f in line.split(":") if f.startswith("scram-sha-256=")][0]
    it, salt, stored, server = field.split("=", 1)[1].split(",")
    salted = hashlib.pbkdf2_hmac("sha256", PW.encode(), base64.b64decode(salt), int(it))
    ck = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    assert base64.b64decode(stored) == hashlib.sha256(ck).digest()
    assert base64.b64decode(server) == hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    with sub(tls_server) as c:
        sc = ScramClient(ALICE, PW)
        r = c.cmd("AUTH SCRAM-SHA-256 " + b64(sc.client_first()))
        attrs = ScramClient.parse(b64d(r.line[4:]).decode())
        assert attrs["s"] == salt and attrs["i"] == it, (attrs, field)


# --- failures -------------------------------------------------------------------------------

def test_wrong_password_each_mechanism(tls_server):
    with sub(tls_server, tls=True) as c:
        r = c.auth_plain(ALICE, "wrong")
        assert r.line.startswith("535 5.7.8"), r.lines
        r = c.auth_login(ALICE, "wrong")
        assert r.line.startswith("535 5.7.8"), r.lines
        c.login(ALICE, PW)  # the third try, correct: still allowed
        c.expect("MAIL FROM:<%s>" % ALICE, "250 2.1.0")
    with sub(tls_server, tls=True) as c:
        r, _ = c.auth_scram(ALICE, "wrong")
        assert r.line.startswith("535 5.7.8"), r.lines
        c.expect("MAIL FROM:<%s>" % ALICE, "530 5.7.0")


def test_unknown_user_looks_like_wrong_password(tls_server):
    with sub(tls_server, tls=True) as c:
        r = c.auth_plain("nobody@example.test", "pw")
        assert r.line.startswith("535 5.7.8"), r.lines
    # SCRAM: a normal-looking server-first with a stable fake salt and the
    # iteration count real users get.
    real_i = None
    with sub(tls_server, tls=True) as c:
        sc = ScramClient(ALICE, PW)
        r = c.cmd("AUTH SCRAM-SHA-256 " + b64(sc.client_first()))
        real_i = ScramClient.parse(b64d(r.line[4:]).decode())["i"]
        c.expect("*", "501 5.0.0")
    salts = []
    for _ in range(2):
        with sub(tls_server, tls=True) as c:  # one failure per session
            sc = ScramClient("Nobody@example.test" if salts else "nobody@example.test", "pw")
            r = c.cmd("AUTH SCRAM-SHA-256 " + b64(sc.client_first()))
            assert r.code == 334, "server-first must not reveal unknown users: %r" % r.lines
            attrs = ScramClient.parse(b64d(r.line[4:]).decode())
            assert attrs["i"] == real_i, (attrs, real_i)
            salts.append(attrs["s"])
            r = c.cmd(b64(sc.client_final(b64d(r.line[4:]))))
            assert r.line.startswith("535 5.7.8"), r.lines
    assert salts[0] == salts[1], "fake salt changes between attempts: %r" % salts
    assert tls_server.alive()


def test_three_failures_close_the_session(tls_server):
    with sub(tls_server, tls=True) as c:
        for i in range(2):
            r = c.auth_plain(ALICE, "wrong%d" % i)
            assert r.line.startswith("535 5.7.8"), r.lines
        r = c.auth_plain(ALICE, "wrong2")
        assert r.line.startswith("535 5.7.8"), r.lines
        assert c.wait_closed(10), "session not closed after 3 failed AUTH"
        assert [t.line[:9] for t in c.trailing] == ["421 4.7.0"], c.trailing
    # A new session (the per-IP delay keeps growing, but it answers).
    with sub(tls_server, tls=True) as c:
        c.login(ALICE, PW)


def test_scram_tampered_proof_and_nonce(tls_server):
    with sub(tls_server, tls=True) as c:
        sc = ScramClient(ALICE, PW)
        r = c.cmd("AUTH SCRAM-SHA-256 " + b64(sc.client_first()))
        r = c.cmd(b64(sc.client_final(b64d(r.line[4:]), proof_tamper=True)))
        assert r.line.startswith("535 5.7.8"), r.lines
        sc = ScramClient(ALICE, PW)
        r = c.cmd("AUTH SCRAM-SHA-256 " + b64(sc.client_first()))
        # our own nonce only: the server's part dropped (replay attempt)
        r = c.cmd(b64(sc.client_final(b64d(r.line[4:]), nonce_override=sc.cnonce)))
        assert r.line[:3] in ("535", "501"), r.lines
        assert not r.line.startswith("2"), r.lines


@pytest.mark.parametrize("client_first", [
    "y,,n=alice,r=abc",   # y: client could bind channels but thinks we can't: allowed
    "p=tls-unique,,n=alice,r=abc",  # channel binding we do not offer
    "n,,r=abc",           # no user
    "n,,n=alice",         # no nonce
    "x,,n=alice,r=abc",
    "n,,m=ext,n=alice,r=abc",  # mandatory extension
])
def test_scram_malformed_client_first(tls_server, client_first):
    with sub(tls_server, tls=True) as c:
        r = c.cmd("AUTH SCRAM-SHA-256 " + b64(client_first))
        if client_first.startswith("y,,"):
            assert r.code == 334, r.lines
            c.expect("*", "501 5.0.0")
        else:
            assert r.line[:3] in ("501", "535"), r.lines
        c.expect("NOOP", "250 2.0.0")


def test_scram_user_without_scram_keys(make_tls_server):
    """A hand-written ADDRESS:HASH line has no SCRAM keys: PLAIN works,
    SCRAM fails like a wrong password."""
    srv = make_tls_server()
    users = srv.data_dir / "users"
    alice_hash = [l for l in users.read_text().splitlines() if l.startswith(ALICE + ":")][0].split(":")[1]
    users.write_text(users.read_text() + "frank@example.test:%s\n" % alice_hash)
    srv.start()
    with sub(srv, tls=True) as c:
        r, _ = c.auth_scram("frank@example.test", PW)
        assert r.line.startswith("535 5.7.8"), r.lines
        c.login("frank@example.test", PW, "PLAIN")


@pytest.mark.parametrize("mech,steps", [
    ("PLAIN", 0),
    ("LOGIN", 0),
    ("LOGIN", 1),
    ("SCRAM-SHA-256", 0),
    ("SCRAM-SHA-256", 1),
])
def test_cancel(tls_server, mech, steps):
    with sub(tls_server, tls=True) as c:
        if mech == "SCRAM-SHA-256" and steps == 1:
            sc = ScramClient(ALICE, PW)
            r = c.cmd("AUTH SCRAM-SHA-256 " + b64(sc.client_first()))
        else:
            r = c.cmd("AUTH " + mech)
            if steps:
                assert r.code == 334, r.lines
                r = c.cmd(b64(ALICE))
        assert r.code == 334, r.lines
        c.expect("*", "501 5.0.0")
        c.expect("MAIL FROM:<%s>" % ALICE, "530 5.7.0")
        c.login(ALICE, PW, mech)  # a cancel is not a failure


def test_scram_cancel_at_server_final(tls_server):
    with sub(tls_server, tls=True) as c:
        sc = ScramClient(ALICE, PW)
        r = c.cmd("AUTH SCRAM-SHA-256 " + b64(sc.client_first()))
        r = c.cmd(b64(sc.client_final(b64d(r.line[4:]))))
        assert r.code == 334, r.lines
        c.expect("*", "501 5.0.0")
        c.expect("MAIL FROM:<%s>" % ALICE, "530 5.7.0")


@pytest.mark.parametrize("line,expect", [
    ("AUTH PLAIN !!!!", "501 5.5.2"),
    ("AUTH PLAIN AGFsaWNl=AHB3", "501 5.5.2"),
    ("AUTH PLAIN QUJD", "501 5.5.2"),             # "ABC": no NULs, malformed
    ("AUTH LOGIN %%%", "501 5.5.2"),
    ("AUTH SCRAM-SHA-256 ====", "501 5.5.2"),
    ("AUTH CRAM-MD5", "504 5.5.4"),
    ("AUTH XOAUTH2 dXNlcj1h", "504 5.5.4"),
    ("AUTH SCRAM-SHA-256-PLUS", "504 5.5.4"),
    ("AUTH", "501 5.5.4"),
    ("AUTH PLAIN a b", "501 5.5.4"),
])
def test_bad_auth_command(tls_server, line, expect):
    with sub(tls_server, tls=True) as c:
        c.expect(line, expect)
        c.expect("NOOP", "250 2.0.0")
        c.login(ALICE, PW)  # none of these counts as a failed login


@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN"])
def test_bad_base64_in_continuation(tls_server, mech):
    with sub(tls_server, tls=True) as c:
        r = c.cmd("AUTH " + mech)
        assert r.code == 334, r.lines
        c.expect("not base64!", "501 5.5.2")
        c.expect("NOOP", "250 2.0.0")


def test_auth_on_mta_port_needs_tls(tls_server):
    with tls_server.connect() as c:
        kw = ehlo_keywords(c.ehlo())
        assert "AUTH" not in kw
        c.expect("AUTH PLAIN " + b64(plain_token(ALICE, PW)), "503 5.5.1")
        c.expect("AUTH SCRAM-SHA-256", "503 5.5.1")
        kw = ehlo_keywords(c.starttls())
        assert kw["AUTH"] == FULL_AUTH, kw
        c.login(ALICE, PW)


def test_auth_before_ehlo_and_in_transaction(tls_server):
    with tls_server.connect(tls_server.submission_port) as c:
        c.expect("AUTH PLAIN " + b64(plain_token(ALICE, PW)), "503 5.5.1")
    with mta_tls(tls_server) as c:
        c.expect("MAIL FROM:<x@y.test>", "250 2.1.0")
        c.expect("AUTH PLAIN " + b64(plain_token(ALICE, PW)), "503 5.5.1")
        c.expect("RCPT TO:<%s>" % ALICE, "250 2.1.5")
        c.expect("AUTH LOGIN", "503 5.5.1")
        c.expect("RSET", "250 2.0.0")
        c.login(ALICE, PW)


def test_long_auth_lines(tls_server):
    big = "A" * 20000
    with sub(tls_server, tls=True) as c:
        r = c.cmd("AUTH PLAIN " + big)
        # 20000 bytes exceed even the RFC 4954 AUTH line (12288 + command)
        assert r.line.startswith("500 5.5.0"), r.lines
        c.expect("NOOP", "250 2.0.0")
        for mech in ("PLAIN", "LOGIN", "SCRAM-SHA-256"):
            r = c.cmd("AUTH " + mech)
            assert r.code == 334, r.lines
            c.send(big + "\r\n")
            r = c.read_reply()
            # RFC 4954 4: "500 5.5.6 Authentication Exchange line is too long"
            assert r.line.startswith("500 5.5.6"), r.lines
            c.expect("NOOP", "250 2.0.0")
    # just under the SASL line limit but still garbage, split in pieces
    with sub(tls_server) as c:
        c.expect("AUTH LOGIN", "334")
        for i in range(12):
            c.send("QUFB" * 250)
        c.send("\r\n")
        r = c.read_reply()
        # 9000 decoded bytes: a LOGIN user name over 255 octets is malformed
        assert r.line.startswith("501 5.5.2"), r.lines
    assert tls_server.alive()
    with sub(tls_server, tls=True) as c:
        c.login(ALICE, PW, "SCRAM-SHA-256")


def test_pipelined_auth_and_mail(tls_server):
    """AUTH with an initial response followed by MAIL in one write."""
    with sub(tls_server, tls=True) as c:
        c.send("AUTH PLAIN %s\r\nMAIL FROM:<%s>\r\nRCPT TO:<%s>\r\n"
               % (b64(plain_token(ALICE, PW)), ALICE, ALICE))
        assert c.read_reply().line.startswith("235 2.7.0")
        assert c.read_reply().line.startswith("250 2.1.0")
        assert c.read_reply().line.startswith("250 2.1.5")


def test_disconnect_mid_auth(tls_server):
    for mech in ("LOGIN", "SCRAM-SHA-256"):
        c = sub(tls_server, tls=True)
        r = c.cmd("AUTH " + mech)
        assert r.code == 334
        c.close()
    c = sub(tls_server)
    c.send("AUTH PLAIN " + b64(plain_token(ALICE, "wrong")) + "\r\n")
    c.close()  # gone while the server checks / delays the failure
    assert tls_server.alive()


# --- plaintext mechanisms and where they are allowed --------------------------------------

NOT_TRUSTED = {"config": {"plaintext_auth": "tls", "relay_networks": "127.0.0.1/32"},
               "host": "127.0.0.2"}


@pytest.mark.konvert(**NOT_TRUSTED)
def test_plaintext_refused_without_tls(tls_server):
    with sub(tls_server) as c:
        r = c.cmd("EHLO client.test")
        kw = ehlo_keywords(r)
        assert kw.get("AUTH") == "AUTH SCRAM-SHA-256", r.lines
        assert "STARTTLS" in kw
        c.expect("AUTH PLAIN " + b64(plain_token(ALICE, PW)), "538 5.7.11")
        c.expect("AUTH PLAIN", "538 5.7.11")
        c.expect("AUTH LOGIN", "538 5.7.11")
        c.expect("AUTH login", "538 5.7.11")
        c.expect("MAIL FROM:<%s>" % ALICE, "530 5.7.0")
        kw = ehlo_keywords(c.starttls())
        assert kw.get("AUTH") == FULL_AUTH, kw
        c.login(ALICE, PW, "PLAIN")
        c.expect("MAIL FROM:<%s>" % ALICE, "250 2.1.0")
    with sub(tls_server, tls=True) as c:
        c.login(ALICE, PW, "LOGIN")
    with sub(tls_server) as c:  # SCRAM never sends the password: fine in clear
        c.login(ALICE, PW, "SCRAM-SHA-256")
        c.expect("MAIL FROM:<%s>" % ALICE, "250 2.1.0")


@pytest.mark.konvert(config={"plaintext_auth": "tls"})
def test_plaintext_tls_mode_applies_to_loopback_too(tls_server):
    with sub(tls_server) as c:
        c.expect("AUTH PLAIN " + b64(plain_token(ALICE, PW)), "538 5.7.11")
    with tls_server.connect_smtps() as c:
        c.ehlo()
        c.login(ALICE, PW, "PLAIN")


@pytest.mark.konvert(config={"plaintext_auth": "always", "relay_networks": "127.0.0.1/32"},
                     host="127.0.0.2")
def test_plaintext_always(tls_server):
    with sub(tls_server) as c:
        r = c.cmd("EHLO client.test")
        assert ehlo_keywords(r).get("AUTH") == FULL_AUTH, r.lines
        c.login(ALICE, PW, "LOGIN")


# --- submission rules and relaying --------------------------------------------------------

def test_mail_before_auth_on_submission_and_smtps(tls_server):
    with sub(tls_server) as c:
        c.expect("MAIL FROM:<%s>" % ALICE, "530 5.7.0")
        c.expect("RCPT TO:<%s>" % ALICE, "503 5.5.1")
    with sub(tls_server, tls=True) as c:
        c.expect("MAIL FROM:<%s>" % ALICE, "530 5.7.0")
    with tls_server.connect_smtps() as c:
        c.ehlo()
        c.expect("MAIL FROM:<%s>" % ALICE, "530 5.7.0")
        c.expect("MAIL FROM:<>", "530 5.7.0")
    assert tls_server.delivered(ALICE) == []


@pytest.mark.konvert(aliases="sales: alice, bob\nboss@example.test: alice\nteam: bob, carol\n")
def test_sender_must_be_owned(tls_server):
    with sub(tls_server, tls=True) as c:
        c.login(ALICE, PW)
        for bad in ("bob@example.test", "alice@other.test", "alice@y.test", "team@example.test",
                    "", "postmaster@example.test", "alice@[127.0.0.1]",
                    "sales@other.test"):  # -> alice@other.test: a different address
            r = c.cmd("MAIL FROM:<%s>" % bad)
            assert r.line.startswith("553 5.7.1"), (bad, r.lines)
        for good in (ALICE, "Alice@EXAMPLE.test", "sales@example.test", "boss@example.test",
                     "BOSS@Example.Test"):
            c.expect("MAIL FROM:<%s>" % good, "250 2.1.0")
            c.expect("RSET", "250 2.0.0")
        tok = unique_token("alias")
        c.expect("MAIL FROM:<sales@example.test>", "250 2.1.0")
        c.expect("RCPT TO:<carol@example.test>", "250 2.1.5")
        r = c.data(make_msg(tok, sender="sales@example.test", to="carol@example.test"))
        assert QUEUED_RE.match(r.line), r.lines
    st = only_stored(tls_server, "carol@example.test")
    assert st.return_path == "sales@example.test"
    assert "ESMTPSA" in received_text(st)


def test_spoofing_with_swaks(tls_server):
    import subprocess
    r = subprocess.run(["swaks", "--server", "127.0.0.1:%d" % tls_server.smtps_port,
                        "--tls-on-connect", "--auth", "PLAIN", "--auth-user", ALICE,
                        "--auth-password", PW, "--from", "ceo@example.test", "--to", ALICE,
                        "--timeout", "20"], capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert "553 5.7.1" in r.stdout, r.stdout
    assert tls_server.delivered(ALICE) == []


def test_authenticated_relay_and_local(tls_server):
    for name, open_ in ports(tls_server):
        with open_() as c:
            c.login(ALICE, PW)
            c.expect("MAIL FROM:<%s>" % ALICE, "250 2.1.0")
            r = c.cmd("RCPT TO:<someone@remote.test>")
            assert r.line.startswith("250 2.1.5"), (name, r.lines)  # relayed via the queue
            c.expect("RCPT TO:<bob@example.test>", "250 2.1.5")
            r = c.data(make_msg(name, sender=ALICE, to="bob@example.test"))
            assert QUEUED_RE.match(r.line), (name, r.lines)
    files = tls_server.delivered("bob@example.test")
    assert len(files) == 4


@pytest.mark.konvert(**NOT_TRUSTED)
def test_unauthenticated_relay_refused(tls_server):
    # smtp (25) from outside relay_networks: local yes, remote 554
    with tls_server.connect() as c:
        c.ehlo()
        c.expect("MAIL FROM:<x@y.test>", "250 2.1.0")
        c.expect("RCPT TO:<someone@remote.test>", "554 5.7.1")
        c.expect("RCPT TO:<alice@example.test>", "250 2.1.5")
        c.expect("RSET", "250 2.0.0")
        c.starttls()  # TLS alone gives no relay right
        c.expect("MAIL FROM:<x@y.test>", "250 2.1.0")
        c.expect("RCPT TO:<someone@remote.test>", "554 5.7.1")
        c.expect("RSET", "250 2.0.0")
        c.login(ALICE, PW)  # AUTH does
        c.expect("MAIL FROM:<%s>" % ALICE, "250 2.1.0")
        c.expect("RCPT TO:<someone@remote.test>", "250 2.1.5")
    # submission (587): nothing at all before AUTH
    with sub(tls_server, tls=True) as c:
        c.expect("MAIL FROM:<x@y.test>", "530 5.7.0")
        c.expect("RCPT TO:<someone@remote.test>", "503 5.5.1")
    # failed AUTH gives nothing either
    with sub(tls_server, tls=True) as c:
        r = c.auth_plain(ALICE, "wrong")
        assert r.line.startswith("535 5.7.8"), r.lines
        c.expect("MAIL FROM:<%s>" % ALICE, "530 5.7.0")


def test_relay_networks_client_on_mta(tls_server):
    # conftest default relay_networks 127.0.0.0/8: relaying allowed
    with tls_server.connect() as c:
        c.ehlo()
        c.expect("MAIL FROM:<x@y.test>", "250 2.1.0")
        c.expect("RCPT TO:<someone@remote.test>", "250 2.1.5")


def test_received_header_mta_tls_without_auth(tls_server):
    with mta_tls(tls_server) as c:
        r = c.send_mail("x@y.test", [ALICE], make_msg("esmtps"))
        assert QUEUED_RE.match(r.line), r.lines
    text = received_text(only_stored(tls_server, ALICE))
    assert "ESMTPS " in text and "ESMTPSA" not in text, text
    assert "(using TLSv1.3 with cipher " in text, text


def test_received_header_plain_submission_auth(tls_server):
    """AUTH without TLS (loopback): ESMTPA, and no TLS claim."""
    with sub(tls_server) as c:
        c.login(ALICE, PW, "SCRAM-SHA-256")
        r = c.send_mail(ALICE, ["dave@example.test"], make_msg("esmtpa"))
        assert QUEUED_RE.match(r.line), r.lines
    text = received_text(only_stored(tls_server, "dave@example.test"))
    assert "ESMTPA " in text and "ESMTPS" not in text and "using TLS" not in text, text


def test_sighup_new_password(tls_server):
    with sub(tls_server, tls=True) as c:
        c.login(ALICE, PW)
        r = tls_server.cli("user", "passwd", ALICE, "--password-stdin", stdin="new-pw\n")
        assert r.returncode == 0, r.stderr
        tls_server.hup()
        c.expect("MAIL FROM:<%s>" % ALICE, "250 2.1.0")  # session survives

    def new_pw_works():
        with sub(tls_server, tls=True) as c2:
            r, _ = c2.auth_scram(ALICE, "new-pw")
            return r.line.startswith("235")
    from util import wait_for
    assert wait_for(new_pw_works, timeout=10)
    with sub(tls_server, tls=True) as c:
        c.login(ALICE, "new-pw", "PLAIN")
