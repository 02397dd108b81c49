"""Outbound TLS policy (issue 11): DANE (RFC 7672), MTA-STS (RFC 8461),
REQUIRETLS (RFC 8689) and TLS reports (RFC 8460).

konvert A (the sender) relays to remote.test, whose MX mx.remote.test is a
second konvert (B) on 127.0.0.3 with a certificate from a CA this test makes.
The test's DNS server answers MX/A/TLSA/TXT and pretends DNSSEC with the AD
bit (dns.sign); an HTTPS server the test runs serves the MTA-STS policy
with a certificate from the same CA, which A trusts through tls_trust_file.
"""

import email
import email.policy
import gzip
import hashlib
import http.server
import json
import os
import smtplib
import ssl
import subprocess
import threading
import time

import pytest

from test_relay import Peer, dns, free_port_on  # noqa: F401
from util import make_msg, wait_for

PASSWORD = "pw-x"


def openssl(*args):
    r = subprocess.run(["openssl"] + list(args), capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    return r.stdout


class CA:
    """A test CA that issues P-256 leaf certificates for given names."""

    def __init__(self, d):
        self.d = d
        self.key = d / "ca.key"
        self.cert = d / "ca.pem"
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-subj", "/CN=konvert test CA", "-days", "2",
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                "-keyout", str(self.key), "-out", str(self.cert))
        os.chmod(self.key, 0o600)

    def issue(self, name, days=2):
        key = self.d / (name + ".key")
        csr = self.d / (name + ".csr")
        cert = self.d / (name + ".pem")
        ext = self.d / (name + ".ext")
        ext.write_text("subjectAltName=DNS:%s\nbasicConstraints=CA:FALSE\n"
                       "extendedKeyUsage=serverAuth\n" % name)
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-subj", "/CN=" + name, "-keyout", str(key), "-out", str(csr))
        openssl("x509", "-req", "-in", str(csr), "-CA", str(self.cert), "-CAkey", str(self.key),
                "-CAcreateserial", "-days", str(days), "-extfile", str(ext), "-out", str(cert))
        os.chmod(key, 0o600)
        return cert, key


def spki_sha256(cert):
    pub = openssl("x509", "-in", str(cert), "-noout", "-pubkey")
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pub,
                         capture_output=True, check=True).stdout
    return hashlib.sha256(der).hexdigest()


def cert_sha256(cert):
    der = openssl("x509", "-in", str(cert), "-outform", "DER")
    return hashlib.sha256(der).hexdigest()


class PolicyServer:
    """HTTPS on 127.0.0.1 serving /.well-known/mta-sts.txt."""

    def __init__(self, cert, key):
        self.body = b""
        self.hits = 0
        owner = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                owner.hits += 1
                if self.path != "/.well-known/mta-sts.txt":
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(owner.body)))
                self.end_headers()
                self.wfile.write(owner.body)

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(cert), str(key))
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.t = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def policy(self, mode, *mx, max_age=86400):
        lines = ["version: STSv1", "mode: " + mode] + ["mx: " + m for m in mx]
        lines.append("max_age: %d" % max_age)
        self.body = ("\r\n".join(lines) + "\r\n").encode()

    def __enter__(self):
        self.t.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def world(make_server, dns, tmp_path):
    """(A factory, B, ca, policy server, port): B is started; make_a(config)
    starts A."""
    ca = CA(tmp_path)
    port = free_port_on(["127.0.0.3", "127.0.0.4"])
    mx_cert, mx_key = ca.issue("mx.remote.test")
    # B serves the chain (RFC 7671 5.2.2: a DANE-TA anchor must be sent).
    chain = tmp_path / "mx.remote.test.chain.pem"
    chain.write_text(mx_cert.read_text() + ca.cert.read_text())
    sts_cert, sts_key = ca.issue("mta-sts.remote.test")
    b = make_server(config={"hostname": "mx.remote.test", "domains": "remote.test",
                            "tls_cert": str(chain), "tls_key": str(mx_key)},
                    users=False, name="peer")
    # 127.0.0.1 for the fixture's readiness probe, 127.0.0.3 for the MX.
    b.overrides["smtp_listen"] = "127.0.0.1:%d 127.0.0.3:%d" % (b.smtp_port, port)
    b.write_config()
    b.add_user("x@remote.test", PASSWORD)
    b.start()
    dns.add_mx("remote.test", 10, "mx.remote.test")
    dns.add_a("mx.remote.test", "127.0.0.3")
    dns.add_a("mta-sts.remote.test", "127.0.0.1")
    with PolicyServer(sts_cert, sts_key) as ps:
        a_cert, a_key = ca.issue("mx.test")

        def make_a(config=None):
            cfg = {"dns_servers": dns.dns_servers, "relay_port": str(port),
                   "queue_retry": "1s", "relay_tls": "opportunistic", "dnssec": "yes",
                   "tls_trust_file": str(ca.cert), "mta_sts_port": str(ps.port),
                   "tls_cert": str(a_cert), "tls_key": str(a_key)}
            cfg.update(config or {})
            a = make_server(config=cfg, name="sender")
            a.start()
            return a

        yield make_a, b, ca, ps, port, mx_cert


def send(a, rcpt="x@remote.test", requiretls=False, extra_headers="", tls=True):
    msg = make_msg("tls policy", sender="alice@example.test", to=rcpt)
    if extra_headers:
        msg = extra_headers.encode() + msg
    with smtplib.SMTP("127.0.0.1", a.smtp_port, timeout=30) as s:
        s.ehlo("client.test")
        if tls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            s.starttls(context=ctx)
            s.ehlo("client.test")
        opts = ["REQUIRETLS"] if requiretls else []
        s.sendmail("alice@example.test", [rcpt], msg, mail_options=opts)
    return msg


def received(b):
    return b.delivered("x@remote.test")


def wait_log(srv, text, timeout=15):
    return wait_for(lambda: text in srv.log(), timeout=timeout)


def test_dane_ee_match_delivers(world, dns):
    make_a, b, ca, ps, port, mx_cert = world
    dns.sign("remote.test")
    dns.add_tlsa("_%d._tcp.mx.remote.test" % port, 3, 1, 1, spki_sha256(mx_cert))
    a = make_a()
    send(a)
    assert wait_for(lambda: len(received(b)) == 1, timeout=20), a.log()[-3000:]
    assert "dane_hosts=1" in a.log()


def test_dane_ta_match_delivers(world, dns):
    make_a, b, ca, ps, port, mx_cert = world
    dns.sign("remote.test")
    dns.add_tlsa("_%d._tcp.mx.remote.test" % port, 2, 0, 1, cert_sha256(ca.cert))
    a = make_a()
    send(a)
    assert wait_for(lambda: len(received(b)) == 1, timeout=20), a.log()[-3000:]


def test_dane_mismatch_defers_never_in_clear(world, dns):
    make_a, b, ca, ps, port, mx_cert = world
    dns.sign("remote.test")
    dns.add_tlsa("_%d._tcp.mx.remote.test" % port, 3, 1, 1, "00" * 32)
    a = make_a()
    send(a)
    assert wait_log(a, "TLS handshake failed"), a.log()[-3000:]
    time.sleep(2.5)  # several retries (queue_retry 1s): never in clear
    assert received(b) == []
    assert "event=mail " not in b.log()
    assert "result=deferred" in a.log()


def test_dane_unsigned_tlsa_is_ignored(world, dns):
    """TLSA without DNSSEC (no AD) is no DANE: opportunistic TLS, delivered."""
    make_a, b, ca, ps, port, mx_cert = world
    dns.add_tlsa("_%d._tcp.mx.remote.test" % port, 3, 1, 1, "00" * 32)
    a = make_a()
    send(a)
    assert wait_for(lambda: len(received(b)) == 1, timeout=20), a.log()[-3000:]


def test_signed_zone_without_tlsa_is_opportunistic(world, dns):
    make_a, b, ca, ps, port, mx_cert = world
    dns.sign("remote.test")
    a = make_a()
    send(a)
    assert wait_for(lambda: len(received(b)) == 1, timeout=20), a.log()[-3000:]


def test_tlsa_servfail_defers(world, dns):
    make_a, b, ca, ps, port, mx_cert = world
    dns.sign("remote.test")
    dns.set_behaviour("_%d._tcp.mx.remote.test" % port, "servfail")
    a = make_a()
    send(a)
    assert wait_log(a, "TLSA lookup for"), a.log()[-3000:]
    time.sleep(1.5)
    assert received(b) == []


def test_tls_required_no_header_skips_policy(world, dns):
    """RFC 8689 5: TLS-Required: No delivers despite a DANE mismatch."""
    make_a, b, ca, ps, port, mx_cert = world
    dns.sign("remote.test")
    dns.add_tlsa("_%d._tcp.mx.remote.test" % port, 3, 1, 1, "00" * 32)
    a = make_a()
    send(a, extra_headers="TLS-Required: No\r\n")
    assert wait_for(lambda: len(received(b)) == 1, timeout=20), a.log()[-3000:]


def test_mta_sts_enforce(world, dns):
    make_a, b, ca, ps, port, mx_cert = world
    dns.add_txt("_mta-sts.remote.test", "v=STSv1; id=20261207a;")
    ps.policy("enforce", "mx.remote.test")
    a = make_a()
    send(a)
    assert wait_for(lambda: len(received(b)) == 1, timeout=20), a.log()[-3000:]
    assert "mode=enforce" in a.log() and "result=fetched" in a.log()
    # Cached on disk with its id.
    cached = (a.data_dir / "mta-sts" / "remote.test").read_text()
    assert "id 20261207a" in cached and "mode: enforce" in cached
    # The same id: no second fetch.
    hits = ps.hits
    send(a)
    assert wait_for(lambda: len(received(b)) == 2, timeout=20)
    assert ps.hits == hits


def test_mta_sts_enforce_mx_not_listed_defers(world, dns):
    make_a, b, ca, ps, port, mx_cert = world
    dns.add_txt("_mta-sts.remote.test", "v=STSv1; id=x1;")
    ps.policy("enforce", "mail.remote.test")
    a = make_a()
    send(a)
    assert wait_log(a, "is not listed in the MTA-STS policy"), a.log()[-3000:]
    time.sleep(1.5)
    assert received(b) == []


def test_mta_sts_enforce_certificate_name_mismatch_defers(world, dns):
    """The policy lists mx2.remote.test, which is B, whose certificate
    names mx.remote.test: refused and deferred, never sent unverified."""
    make_a, b, ca, ps, port, mx_cert = world
    dns.remove("remote.test", "MX")
    dns.add_mx("remote.test", 10, "mx2.remote.test")
    dns.add_a("mx2.remote.test", "127.0.0.3")
    dns.add_txt("_mta-sts.remote.test", "v=STSv1; id=x2;")
    ps.policy("enforce", "mx2.remote.test")
    a = make_a()
    send(a)
    assert wait_log(a, "TLS handshake failed"), a.log()[-3000:]
    time.sleep(1.5)
    assert received(b) == []
    assert "event=mail " not in b.log()


def test_mta_sts_testing_delivers_and_reports(world, dns, tmp_path):
    make_a, b, ca, ps, port, mx_cert = world
    dns.add_txt("_mta-sts.remote.test", "v=STSv1; id=t1;")
    ps.policy("testing", "mail.remote.test")  # does not list the real MX
    dns.add_txt("_smtp._tls.remote.test", "v=TLSRPTv1; rua=mailto:tlsrpt@reports.test")
    dns.add_mx("reports.test", 10, "mx.reports.test")
    dns.add_a("mx.reports.test", "127.0.0.4")
    with Peer("127.0.0.4", port) as rua:
        a = make_a()
        send(a)
        assert wait_for(lambda: len(received(b)) == 1, timeout=20), a.log()[-3000:]
        r = a.cli("queue", "tls-report", "today")
        assert r.returncode == 0, r.stderr
        assert wait_for(lambda: len(rua.messages) == 1, timeout=20), a.log()[-3000:]
    mail_from, rcpts, content = rua.messages[0]
    assert mail_from in ("", "<>") and rcpts == ["tlsrpt@reports.test"]
    m = email.message_from_bytes(content, policy=email.policy.default)
    assert m.get_content_type() == "multipart/report"
    assert m.get_param("report-type") == "tlsrpt"
    assert m["TLS-Report-Domain"] == "remote.test"
    parts = [p for p in m.iter_attachments() if p.get_content_type() == "application/tlsrpt+gzip"]
    assert len(parts) == 1
    report = json.loads(gzip.decompress(parts[0].get_content()))
    pol = report["policies"][0]
    assert pol["policy"]["policy-type"] == "sts"
    assert pol["policy"]["policy-domain"] == "remote.test"
    assert "mode: testing" in pol["policy"]["policy-string"]
    assert pol["summary"]["total-failure-session-count"] == 1
    fd = pol["failure-details"][0]
    assert fd["result-type"] == "validation-failure"
    assert fd["receiving-mx-hostname"] == "mx.remote.test"
    assert report["date-range"]["start-datetime"].endswith("T00:00:00Z")


def test_requiretls_with_dane_goes_through(world, dns):
    make_a, b, ca, ps, port, mx_cert = world
    dns.sign("remote.test")
    dns.add_tlsa("_%d._tcp.mx.remote.test" % port, 3, 1, 1, spki_sha256(mx_cert))
    a = make_a()
    send(a, requiretls=True)
    assert wait_for(lambda: len(received(b)) == 1, timeout=20), a.log()[-3000:]
    # B got it with REQUIRETLS and keeps the flag for its own relaying.
    assert "requiretls=1" in b.log()


def test_requiretls_without_policy_bounces(world, dns):
    make_a, b, ca, ps, port, mx_cert = world
    a = make_a()
    send(a, requiretls=True)
    assert wait_for(lambda: any(b"5.7.30" in p.read_bytes()
                                for p in a.delivered("alice@example.test")), timeout=20), \
        a.log()[-3000:]
    assert received(b) == []


def test_requiretls_needs_tls_session(world):
    make_a, b, ca, ps, port, mx_cert = world
    a = make_a()
    with smtplib.SMTP("127.0.0.1", a.smtp_port, timeout=30) as s:
        s.ehlo("client.test")
        assert not s.has_extn("requiretls")
        code, text = s.mail("alice@example.test", ["REQUIRETLS"])
        assert code == 530 and text.startswith(b"5.7.10"), (code, text)
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        s.starttls(context=ctx)
        s.ehlo("client.test")
        assert s.has_extn("requiretls")


def test_mta_sts_policy_of_megabytes_is_refused(world, dns):
    """A policy over 64 KB is not read: no policy applies (nothing was
    cached), the failure is logged, and the mail goes out as usual."""
    make_a, b, ca, ps, port, mx_cert = world
    dns.add_txt("_mta-sts.remote.test", "v=STSv1; id=big1;")
    ps.policy("enforce", "mail.remote.test")
    ps.body += b"# " + b"x" * (2 * 1024 * 1024) + b"\r\n"
    a = make_a()
    send(a)
    assert wait_for(lambda: len(received(b)) == 1, timeout=20), a.log()[-3000:]
    assert "result=fetch-failed" in a.log() and "body over 65536 bytes" in a.log()


def test_mta_sts_cached_policy_survives_a_failed_fetch(world, dns):
    """RFC 8461 5.1: with a valid cached policy, a new id whose fetch fails
    leaves the cached enforce policy in force."""
    make_a, b, ca, ps, port, mx_cert = world
    dns.add_txt("_mta-sts.remote.test", "v=STSv1; id=one;")
    ps.policy("enforce", "mail.remote.test")  # excludes the real MX
    a = make_a()
    send(a)
    assert wait_log(a, "is not listed in the MTA-STS policy"), a.log()[-3000:]
    dns.remove("_mta-sts.remote.test")
    dns.add_txt("_mta-sts.remote.test", "v=STSv1; id=two;")
    ps.body = b"garbage"
    assert a.cli("queue", "flush").returncode == 0  # past the destination hold
    assert wait_log(a, "note=cached-policy-kept"), a.log()[-3000:]
    assert received(b) == []


def test_requiretls_verified_mx_down_defers_not_bounces(world, dns):
    """MX 10 is verified by DANE but refuses connections; MX 20 has no
    TLSA record: a REQUIRETLS message waits for MX 10 (RFC 8689 4.2.1
    bounces only when no MX qualifies)."""
    make_a, b, ca, ps, port, mx_cert = world
    dns.sign("remote.test")
    dns.remove("remote.test", "MX")
    dns.add_mx("remote.test", 10, "mx0.remote.test")
    dns.add_a("mx0.remote.test", "127.0.0.5")  # nothing listens there
    dns.add_tlsa("_%d._tcp.mx0.remote.test" % port, 3, 1, 1, spki_sha256(mx_cert))
    dns.add_mx("remote.test", 20, "mx.remote.test")
    a = make_a()
    send(a, requiretls=True)
    assert wait_log(a, "result=deferred"), a.log()[-3000:]
    time.sleep(1.5)
    assert not any(b"5.7.30" in p.read_bytes() for p in a.delivered("alice@example.test"))
    assert received(b) == []
    assert "result=bounced" not in a.log()
