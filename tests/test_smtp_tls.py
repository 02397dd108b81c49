"""TLS on the SMTP listeners: STARTTLS on smtp and submission, implicit TLS
on smtps, the generated self-signed certificate, protocol floor, real
clients (swaks, smtplib, openssl s_client, curl), the STARTTLS command
injection case, Received headers, SIGHUP certificate reload, and broken
TLS input that must not hurt the server."""

import hashlib
import smtplib
import socket
import ssl
import struct
import subprocess
import warnings

import pytest

from tls_util import (HOSTNAME, PASSWORDS, TLSConn, cert_fingerprint, client_context,  # noqa: F401
                      ehlo_keywords, make_self_signed, make_tls_server, only_stored,
                      received_text, s_client, s_client_protocol, subject_cn, tls_server)
from util import QUEUED_RE, make_msg, unique_token, wait_for

ALICE = "alice@example.test"


def tls_received_ok(stored, with_word):
    text = received_text(stored)
    assert " with %s " % with_word in text.replace("\n", " ").replace("\t", " ") + " ", text
    assert "(using TLSv1.3 with cipher " in text, text
    return text


# --- capabilities and the STARTTLS command ------------------------------------------

def test_ehlo_capabilities_before_and_after_starttls(tls_server):
    with tls_server.connect() as c:  # smtp (MTA) port
        kw = ehlo_keywords(c.ehlo())
        assert "STARTTLS" in kw, kw
        assert "AUTH" not in kw, "AUTH offered on the MTA port without TLS: %r" % kw
        kw = ehlo_keywords(c.starttls(client_context(tls_server.cert_path)))
        assert "STARTTLS" not in kw, kw
        assert kw.get("AUTH") == "AUTH SCRAM-SHA-256 PLAIN LOGIN", kw
    with tls_server.connect(tls_server.submission_port) as c:
        kw = ehlo_keywords(c.ehlo())
        assert "STARTTLS" in kw, kw
        # loopback client under the default plaintext_auth = tls-or-loopback
        assert kw.get("AUTH") == "AUTH SCRAM-SHA-256 PLAIN LOGIN", kw
        kw = ehlo_keywords(c.starttls())
        assert "STARTTLS" not in kw, kw
        assert kw.get("AUTH") == "AUTH SCRAM-SHA-256 PLAIN LOGIN", kw
    with tls_server.connect_smtps(context=client_context(tls_server.cert_path)) as c:
        assert c.greeting.startswith("220 %s ESMTP konvert" % HOSTNAME), c.greeting
        kw = ehlo_keywords(c.ehlo())
        assert "STARTTLS" not in kw, kw
        assert kw.get("AUTH") == "AUTH SCRAM-SHA-256 PLAIN LOGIN", kw
        for need in ("PIPELINING", "SIZE", "8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8", "CHUNKING"):
            assert need in kw, kw


def test_starttls_resets_session(tls_server):
    with tls_server.connect() as c:
        c.expect("STARTTLS now", "501 5.5.4")
        c.ehlo()
        c.expect("MAIL FROM:<x@y.test>", "250 2.1.0")
        c.expect("STARTTLS", "503 5.5.1")  # not inside a transaction
        c.expect("RSET", "250 2.0.0")
        r = c.cmd("STARTTLS")
        assert r.line.startswith("220 2.0.0 Ready to start TLS"), r.lines
        c.wrap()
        # RFC 3207 4.2: everything known before TLS is forgotten, EHLO again.
        c.expect("MAIL FROM:<x@y.test>", "503 5.5.1")
        c.ehlo()
        c.expect("STARTTLS", "503 5.5.1")
        c.expect("MAIL FROM:<x@y.test>", "250 2.1.0")
        c.expect("RCPT TO:<%s>" % ALICE, "250 2.1.5")
        r = c.data(make_msg("after starttls"))
        assert QUEUED_RE.match(r.line), r.lines
    assert tls_received_ok(only_stored(tls_server, ALICE), "ESMTPS")


def test_starttls_before_ehlo_and_on_smtps(tls_server):
    with tls_server.connect(tls_server.submission_port) as c:
        c.starttls(ehlo=False)  # allowed straight after the greeting
        c.ehlo()
        c.expect("STARTTLS", "503 5.5.1")
    with tls_server.connect_smtps() as c:
        c.expect("STARTTLS", "503 5.5.1")
        c.ehlo()
        c.expect("STARTTLS", "503 5.5.1")
        c.expect("NOOP", "250 2.0.0")


def test_starttls_forgets_authentication(tls_server):
    """AUTH in plaintext (loopback), then STARTTLS: the login must not
    survive the TLS switch (RFC 3207 4.2)."""
    with tls_server.connect(tls_server.submission_port) as c:
        c.ehlo()
        c.login(ALICE, PASSWORDS[ALICE], "PLAIN")
        kw = ehlo_keywords(c.starttls())
        assert "AUTH" in kw, "AUTH not offered again after STARTTLS: %r" % kw
        c.expect("MAIL FROM:<%s>" % ALICE, "530 5.7.0")
        c.login(ALICE, PASSWORDS[ALICE], "PLAIN")
        c.expect("MAIL FROM:<%s>" % ALICE, "250 2.1.0")


@pytest.mark.parametrize("port_name", ["smtp_port", "submission_port"])
@pytest.mark.parametrize("injected", [b"RSET\r\n", b"RSET\r\nHELP\r\nMAIL FROM:<x@y.test>\r\n"])
def test_starttls_command_injection(tls_server, port_name, injected):
    """Bytes pipelined after STARTTLS in the same write are plaintext that an
    attacker may have added (CVE-2011-0411): they must be discarded, never
    answered inside TLS."""
    with tls_server.connect(getattr(tls_server, port_name)) as c:
        c.ehlo()
        c.send(b"STARTTLS\r\n" + injected)
        r = c.read_reply()
        assert r.line.startswith("220 2.0.0"), r.lines
        # The server must not have answered the injected commands in clear.
        assert c.buf == b"", "plaintext after 220: %r" % c.buf
        c.wrap()
        r = c.cmd("EHLO client.test")
        assert r.code == 250 and r.lines[0].startswith("250-" + HOSTNAME), \
            "first reply inside TLS is not the EHLO reply: %r" % r.lines
        r = c.cmd("NOOP")
        assert r.line.startswith("250 2.0.0"), r.lines
        r = c.cmd("QUIT")
        assert r.line.startswith("221"), "injected command answered inside TLS: %r" % r.lines
        assert c.wait_closed(5)
        assert c.trailing == [], c.trailing


def test_starttls_injection_split_writes_still_works(tls_server):
    """The ordinary case: STARTTLS alone, handshake, then commands."""
    with tls_server.connect() as c:
        c.ehlo()
        c.starttls()
        c.expect("RSET", "250 2.0.0")


# --- real clients ------------------------------------------------------------------

def swaks(*args, timeout=30):
    return subprocess.run(["swaks", "--timeout", "20", "--helo", "client.test"] + list(args),
                          capture_output=True, text=True, timeout=timeout)


def swaks_ok(r):
    assert r.returncode == 0, "swaks failed (%d):\n%s\n%s" % (r.returncode, r.stdout, r.stderr)
    if "TLS" in r.stderr and "not available" in r.stderr:
        pytest.fail("swaks lacks TLS support (apt-get install -y libnet-ssleay-perl): %s" % r.stderr)


@pytest.mark.parametrize("mech", ["PLAIN", "LOGIN"])
def test_swaks_starttls_auth(tls_server, mech):
    tok = unique_token("swaks")
    r = swaks("--server", "127.0.0.1:%d" % tls_server.submission_port, "--tls", "--auth", mech,
              "--auth-user", ALICE, "--auth-password", PASSWORDS[ALICE], "--from", ALICE,
              "--to", "bob@example.test", "--header", "Subject: %s" % tok)
    swaks_ok(r)
    assert "STARTTLS" in r.stdout and "235 2.7.0" in r.stdout, r.stdout
    st = only_stored(tls_server, "bob@example.test")
    assert tok.encode() in st.content
    assert st.return_path == ALICE
    tls_received_ok(st, "ESMTPSA")


def test_swaks_tls_on_connect_smtps(tls_server):
    tok = unique_token("smtps")
    r = swaks("--server", "127.0.0.1:%d" % tls_server.smtps_port, "--tls-on-connect", "--auth",
              "PLAIN", "--auth-user", "alice", "--auth-password", PASSWORDS[ALICE], "--from", ALICE,
              "--to", ALICE, "--header", "Subject: %s" % tok)
    swaks_ok(r)
    assert "TLS started" in r.stdout and "CN=%s" % HOSTNAME in r.stdout, r.stdout
    st = only_stored(tls_server, ALICE)
    assert tok.encode() in st.content
    tls_received_ok(st, "ESMTPSA")


def test_swaks_tls_mta_no_auth(tls_server):
    r = swaks("--server", "127.0.0.1:%d" % tls_server.smtp_port, "--tls", "--from", "x@y.test",
              "--to", "carol@example.test")
    swaks_ok(r)
    tls_received_ok(only_stored(tls_server, "carol@example.test"), "ESMTPS")


def test_smtplib_starttls_login(tls_server):
    ctx = client_context(tls_server.cert_path, hostname_check=False)  # cert must be data_dir's
    msg = make_msg("smtplib", sender=ALICE, to="dave@example.test")
    with smtplib.SMTP("127.0.0.1", tls_server.submission_port, local_hostname="client.test",
                      timeout=30) as s:
        s.ehlo()
        assert s.has_extn("starttls")
        code, text = s.starttls(context=ctx)
        assert code == 220, text
        assert s.sock.version() == "TLSv1.3"
        s.ehlo()
        assert not s.has_extn("starttls")
        code, text = s.login(ALICE, PASSWORDS[ALICE])
        assert code == 235, text
        assert s.sendmail(ALICE, ["dave@example.test"], msg) == {}
    tls_received_ok(only_stored(tls_server, "dave@example.test"), "ESMTPSA")


def test_smtplib_smtps_login(tls_server):
    ctx = client_context(tls_server.cert_path, hostname_check=False)
    msg = make_msg("smtps", sender="bob@example.test", to="bob@example.test")
    with smtplib.SMTP_SSL("127.0.0.1", tls_server.smtps_port, local_hostname="client.test",
                          context=ctx, timeout=30) as s:
        s.ehlo()
        assert not s.has_extn("starttls")
        s.login("bob", PASSWORDS["bob@example.test"])  # bare local part: first local domain
        assert s.sendmail("bob@example.test", ["bob@example.test"], msg) == {}
    tls_received_ok(only_stored(tls_server, "bob@example.test"), "ESMTPSA")


def test_openssl_s_client_protocols_and_cert(tls_server):
    want = cert_fingerprint(tls_server.cert_path)
    assert subject_cn(tls_server.cert_path) == HOSTNAME
    for port, starttls in ((tls_server.smtp_port, True), (tls_server.submission_port, True),
                           (tls_server.smtps_port, False)):
        r = s_client(port, starttls=starttls)
        assert s_client_protocol(r.stdout) == "TLSv1.3", r.stdout
        assert cert_fingerprint(r.stdout) == want, "served cert is not data_dir/tls/cert.pem"
        assert "CN = %s" % HOSTNAME in r.stdout or "CN=%s" % HOSTNAME in r.stdout, r.stdout
    r = s_client(tls_server.smtp_port, "-tls1_2")
    assert s_client_protocol(r.stdout) == "TLSv1.2", r.stdout
    assert cert_fingerprint(r.stdout) == want
    # SECLEVEL=0 so that the client itself is willing to speak TLS 1.1 / 1.0:
    # the refusal must come from the server.
    for old in ("-tls1_1", "-tls1"):
        r = s_client(tls_server.smtp_port, old, "-cipher", "DEFAULT@SECLEVEL=0")
        assert r.returncode != 0 and s_client_protocol(r.stdout) is None, r.stdout
        r = s_client(tls_server.smtps_port, old, "-cipher", "DEFAULT@SECLEVEL=0", starttls=False)
        assert r.returncode != 0 and s_client_protocol(r.stdout) is None, r.stdout
    assert tls_server.alive()


def old_tls_context():
    """A client context that offers only TLS 1.0/1.1 (and is willing to)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx = client_context()
        try:
            ctx.set_ciphers("DEFAULT@SECLEVEL=0")
            ctx.minimum_version = ssl.TLSVersion.TLSv1
            ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        except (ssl.SSLError, ValueError):
            pytest.skip("local OpenSSL cannot offer TLS 1.1 at all")
    return ctx


def test_python_tls12_and_refused_tls11(tls_server):
    ctx = client_context(tls_server.cert_path, minimum=ssl.TLSVersion.TLSv1_2,
                         maximum=ssl.TLSVersion.TLSv1_2)
    with tls_server.connect_smtps(context=ctx) as c:
        assert c.sock.version() == "TLSv1.2"
        c.ehlo()
    with pytest.raises((ssl.SSLError, OSError)):
        with tls_server.connect_smtps(context=old_tls_context()):
            pass
    with tls_server.connect(tls_server.submission_port) as c:
        c.ehlo()
        c.expect("STARTTLS", "220 2.0.0")
        with pytest.raises((ssl.SSLError, OSError)):
            c.wrap(old_tls_context())
    assert tls_server.alive()


def read_until_eof(sock, limit=65536):
    got = b""
    try:
        while len(got) < limit:
            chunk = sock.recv(4096)
            if not chunk:
                break
            got += chunk
    except ConnectionResetError:
        pass
    return got


@pytest.mark.parametrize("listener", ["smtps", "starttls"])
def test_old_protocol_gets_alert(tls_server, listener):
    """RFC 8446 6.2: a refused TLS 1.1 ClientHello gets a fatal
    protocol_version alert (21, 2, 70) before the close, on smtps and after
    STARTTLS alike (clients then report the reason, not a bare EOF)."""
    hello = client_hello(old_tls_context())
    port = tls_server.smtps_port if listener == "smtps" else tls_server.submission_port
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        if listener == "starttls":
            f = s.makefile("rb")
            assert f.readline().startswith(b"220 ")
            s.sendall(b"STARTTLS\r\n")
            assert f.readline().startswith(b"220 2.0.0")
        s.sendall(hello)
        got = read_until_eof(s)
    assert len(got) >= 7 and got[0] == 21 and got[5:7] == b"\x02\x46", \
        "no protocol_version alert before close: %r" % got
    assert tls_server.alive()


def curl(*args, timeout=40):
    return subprocess.run(["curl", "-sS", "--max-time", "30"] + list(args), capture_output=True,
                          text=True, timeout=timeout)


def test_curl_ssl_reqd(tls_server, tmp_path):
    tok = unique_token("curl")
    f = tmp_path / "msg.eml"
    f.write_bytes(make_msg("curl " + tok, sender=ALICE, to="carol@example.test"))
    r = curl("--ssl-reqd", "-k", "smtp://127.0.0.1:%d" % tls_server.submission_port, "--user",
             "%s:%s" % (ALICE, PASSWORDS[ALICE]), "--mail-from", ALICE, "--mail-rcpt",
             "carol@example.test", "-T", str(f))
    assert r.returncode == 0, r.stderr
    st = only_stored(tls_server, "carol@example.test")
    assert tok.encode() in st.content
    tls_received_ok(st, "ESMTPSA")


def test_curl_smtps_verifies_cert(tls_server, tmp_path):
    tok = unique_token("curls")
    f = tmp_path / "msg.eml"
    f.write_bytes(make_msg("curl " + tok, sender=ALICE, to=ALICE))
    # No -k: the generated certificate is trusted as its own CA, names mx.test.
    r = curl("--cacert", str(tls_server.cert_path), "--resolve",
             "%s:%d:127.0.0.1" % (HOSTNAME, tls_server.smtps_port),
             "smtps://%s:%d" % (HOSTNAME, tls_server.smtps_port), "--user",
             "%s:%s" % (ALICE, PASSWORDS[ALICE]), "--mail-from", ALICE, "--mail-rcpt", ALICE, "-T",
             str(f))
    assert r.returncode == 0, r.stderr
    assert tok.encode() in only_stored(tls_server, ALICE).content


def test_curl_wrong_password_fails(tls_server, tmp_path):
    f = tmp_path / "msg.eml"
    f.write_bytes(make_msg("nope", sender=ALICE, to=ALICE))
    r = curl("--ssl-reqd", "-k", "smtp://127.0.0.1:%d" % tls_server.submission_port, "--user",
             "%s:wrong" % ALICE, "--mail-from", ALICE, "--mail-rcpt", ALICE, "-T", str(f))
    assert r.returncode != 0
    assert tls_server.delivered(ALICE) == []


# --- certificates --------------------------------------------------------------------

def test_generated_cert_files(tls_server):
    cert, key = tls_server.cert_path, tls_server.key_path
    assert cert.is_file() and key.is_file()
    assert key.stat().st_mode & 0o077 == 0, "key.pem readable by others: %o" % key.stat().st_mode
    assert subject_cn(cert) == HOSTNAME
    # A restart keeps the generated pair (no new cert on every start).
    before = cert_fingerprint(cert)
    assert tls_server.stop() == 0
    tls_server.start()
    assert cert_fingerprint(cert) == before
    with tls_server.connect_smtps(context=client_context(cert)) as c:
        c.ehlo()


def test_configured_cert_and_key(make_tls_server, tmp_path):
    cert, key = make_self_signed(tmp_path / "own", cn="own.example")
    srv = make_tls_server(config={"tls_cert": str(cert), "tls_key": str(key)})
    srv.start()
    with srv.connect_smtps(context=client_context(cert, hostname_check=False)) as c:
        got = ssl.DER_cert_to_PEM_cert(c.sock.getpeercert(binary_form=True))
        assert cert_fingerprint(got) == cert_fingerprint(cert)
        c.ehlo()
    with srv.connect(srv.submission_port) as c:
        c.ehlo()
        c.starttls(client_context(cert, hostname_check=False))


def test_sighup_reloads_certificate_keeps_sessions(tls_server, tmp_path):
    old = cert_fingerprint(tls_server.cert_path)
    # Sessions opened with the old certificate: smtps and STARTTLS, one authenticated.
    s1 = tls_server.connect_smtps()
    s1.ehlo()
    s1.login(ALICE, PASSWORDS[ALICE])
    s2 = tls_server.connect()
    s2.ehlo()
    s2.starttls()
    try:
        cert, key = make_self_signed(tmp_path / "new")
        new = cert_fingerprint(cert)
        assert new != old
        # replace atomically, key first
        tmpk = tls_server.key_path.with_name(".key.new")
        tmpc = tls_server.cert_path.with_name(".cert.new")
        tmpk.write_bytes(key.read_bytes())
        tmpk.chmod(0o600)
        tmpc.write_bytes(cert.read_bytes())
        tmpk.replace(tls_server.key_path)
        tmpc.replace(tls_server.cert_path)
        tls_server.hup()

        def sees_new():
            with tls_server.connect_smtps() as c:
                der = c.sock.getpeercert(binary_form=True)
                return hashlib_hex(der) == new

        assert wait_for(sees_new, timeout=10), "new smtps connection still gets the old cert"
        r = s_client(tls_server.submission_port)
        assert cert_fingerprint(r.stdout) == new, r.stdout
        with tls_server.connect_smtps(context=client_context(cert)) as c:
            c.ehlo()
        # The old sessions still work, on the old keys.
        assert hashlib_hex(s1.sock.getpeercert(binary_form=True)) == old
        s1.expect("MAIL FROM:<%s>" % ALICE, "250 2.1.0")
        s1.expect("RCPT TO:<%s>" % ALICE, "250 2.1.5")
        r = s1.data(make_msg("after reload"))
        assert QUEUED_RE.match(r.line), r.lines
        s2.ehlo()
        s2.expect("MAIL FROM:<x@y.test>", "250 2.1.0")
        s2.expect("RCPT TO:<bob@example.test>", "250 2.1.5")
        r = s2.data(make_msg("after reload 2"))
        assert QUEUED_RE.match(r.line), r.lines
        s1.expect("QUIT", "221")
        s2.expect("QUIT", "221")
    finally:
        s1.close()
        s2.close()
    assert len(tls_server.delivered(ALICE)) == 1
    assert len(tls_server.delivered("bob@example.test")) == 1


def test_sighup_with_broken_cert_keeps_old(tls_server):
    old = cert_fingerprint(tls_server.cert_path)
    good_cert = tls_server.cert_path.read_bytes()
    tls_server.cert_path.write_text("-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n")
    tls_server.hup()
    # wait for the reload to be logged (bounded; proceed either way)
    wait_for(lambda: "reload-tls" in tls_server.log(), timeout=5)
    with tls_server.connect(tls_server.submission_port) as c:
        c.ehlo()
        c.expect("NOOP", "250")
    assert tls_server.running(), tls_server.log()[-2000:]
    with tls_server.connect_smtps() as c:
        assert hashlib_hex(c.sock.getpeercert(binary_form=True)) == old
        c.ehlo()
    tls_server.cert_path.write_bytes(good_cert)


def hashlib_hex(der):
    return hashlib.sha256(der).hexdigest()


# --- broken TLS input -----------------------------------------------------------------

def test_garbage_instead_of_client_hello(tls_server):
    with socket.create_connection(("127.0.0.1", tls_server.smtps_port), timeout=10) as s:
        s.sendall(b"EHLO client.test\r\nMAIL FROM:<x@y.test>\r\n" + b"\x00\xff" * 100)
        got = b""
        s.settimeout(10)
        try:
            while len(got) < 100000:
                chunk = s.recv(4096)
                if not chunk:
                    break
                got += chunk
        except ConnectionResetError:
            pass
        # At most a TLS alert record, never an SMTP reply in clear.
        assert b"250" not in got and b"220" not in got, got[:200]
    assert tls_server.alive()


def test_client_closes_mid_handshake(tls_server):
    ctx = client_context()
    for port in (tls_server.smtps_port, tls_server.smtp_port):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        if port == tls_server.smtp_port:
            s.recv(4096)
            s.sendall(b"STARTTLS\r\n")
            assert s.recv(4096).startswith(b"220 2.0.0")
        # a real ClientHello, then vanish before the server's flight is read
        hello = client_hello(ctx)
        s.sendall(hello)
        s.close()
    # and one that resets the connection (RST) after the ClientHello
    s = socket.create_connection(("127.0.0.1", tls_server.smtps_port), timeout=10)
    s.sendall(client_hello(ctx))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    assert tls_server.alive()


def client_hello(ctx=None):
    """The bytes of one real TLS ClientHello."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = (ctx or client_context()).wrap_bio(incoming, outgoing, server_hostname=HOSTNAME)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    data = outgoing.read()
    assert data[:1] == b"\x16", data[:10]
    return data


@pytest.mark.parametrize("cut", [1, 5, 40, -1])
def test_truncated_client_hello_after_starttls(tls_server, cut):
    hello = client_hello()
    part = hello[:cut] if cut > 0 else hello[:-1]
    with tls_server.connect(tls_server.submission_port) as c:
        c.ehlo()
        r = c.cmd("STARTTLS")
        assert r.line.startswith("220 2.0.0"), r.lines
        c.send(part)
        # the server waits for the rest; we give up and close.
        assert c.nothing_pending(0.3)
    # and the same cut off by a half-close
    with tls_server.connect(tls_server.smtp_port) as c:
        c.ehlo()
        c.expect("STARTTLS", "220 2.0.0")
        c.send(part)
        c.sock.shutdown(socket.SHUT_WR)
        assert c.wait_closed(10), "server kept a half-closed, cut-off handshake open"
        assert all(not r.startswith("2") for r in c.trailing), c.trailing
    assert tls_server.alive()


def test_plaintext_after_starttls_220(tls_server):
    """A client that keeps talking SMTP after the 220 (no handshake)."""
    with tls_server.connect() as c:
        c.ehlo()
        c.expect("STARTTLS", "220 2.0.0")
        c.send(b"EHLO client.test\r\nMAIL FROM:<x@y.test>\r\n")
        assert c.wait_closed(10)
        assert all(not r.line.startswith("250") for r in c.trailing), c.trailing
    assert tls_server.alive()


def test_many_handshakes(tls_server):
    """A handful of smtps sessions at once, then more; all served."""
    conns = [tls_server.connect_smtps() for _ in range(10)]
    try:
        for c in conns:
            c.ehlo()
        for c in conns:
            c.expect("NOOP", "250 2.0.0")
    finally:
        for c in conns:
            c.close()
    assert tls_server.alive()
