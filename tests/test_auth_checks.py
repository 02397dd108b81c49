"""Inbound mail authentication on the smtp listener (issue 11): SPF,
DKIM and DMARC checked over the test's own DNS server, one
Authentication-Results header above Received:, forged ones naming us
removed, DMARC p=reject refused at the end of DATA."""

import subprocess

import authres
import dkim
import pytest

from test_relay import dns  # noqa: F401
from util import dot_stuff, make_msg


@pytest.fixture
def checked(make_server, dns):
    def make(config=None):
        cfg = {"dns_servers": dns.dns_servers, "auth_checks": "yes"}
        cfg.update(config or {})
        srv = make_server(config=cfg)
        srv.start()
        return srv
    return make


def send_raw(srv, sender, msg):
    with srv.connect() as c:
        c.ehlo("client.sender.test")
        c.expect("MAIL FROM:<%s>" % sender, "250")
        c.expect("RCPT TO:<bob@example.test>", "250")
        return c.data(dot_stuff(msg))


def stored_headers(srv):
    raw = srv.delivered("bob@example.test")[-1].read_bytes()
    return raw.split(b"\n\n", 1)[0].decode()


def ar_of(head):
    lines = head.split("\n")
    assert lines[0].startswith("Return-Path:"), lines[:3]
    assert lines[1] == "Delivered-To: bob@example.test", lines[:3]
    # RFC 8601: ours is the first field after Return-Path and Delivered-To,
    # above Received.
    field = [lines[2]]
    i = 3
    while lines[i].startswith(("\t", " ")):
        field.append(lines[i])
        i += 1
    assert field[0].startswith("Authentication-Results: mx.test;"), field
    assert lines[i].startswith("Received: from "), lines[i]
    return authres.AuthenticationResultsHeader.parse("\r\n".join(field))


def result_of(ar, method):
    return [r.result for r in ar.results if r.method == method]


def test_spf_pass_and_fail(checked, dns):
    dns.add_txt("good.test", "v=spf1 ip4:127.0.0.1 -all")
    dns.add_txt("bad.test", "v=spf1 ip4:192.0.2.1 -all")
    srv = checked()
    assert send_raw(srv, "a@good.test", make_msg("spf", sender="a@good.test")).code == 250
    ar = ar_of(stored_headers(srv))
    assert result_of(ar, "spf") == ["pass"]
    assert result_of(ar, "dkim") == ["none"]
    # SPF alone never rejects: fail is reported, the message kept.
    assert send_raw(srv, "a@bad.test", make_msg("spf2", sender="a@bad.test")).code == 250
    assert result_of(ar_of(stored_headers(srv)), "spf") == ["fail"]


def test_dkim_signed_by_dkimpy_passes(checked, dns, tmp_path):
    key = tmp_path / "k.pem"
    # 1024 bits: the key record fits one TXT string (dnslib refuses longer)
    subprocess.run(["openssl", "genrsa", "-out", str(key), "1024"], check=True, capture_output=True)
    pub = subprocess.run(["openssl", "rsa", "-in", str(key), "-pubout", "-outform", "DER"],
                         check=True, capture_output=True).stdout
    import base64
    dns.add_txt("sel._domainkey.signed.test", "v=DKIM1; k=rsa; p=" + base64.b64encode(pub).decode())
    dns.add_txt("signed.test", "v=spf1 -all")
    msg = make_msg("dkim", sender="a@signed.test")
    sig = dkim.sign(msg, b"sel", b"signed.test", key.read_bytes(),
                    include_headers=[b"from", b"to", b"subject"])
    srv = checked()
    assert send_raw(srv, "a@signed.test", sig + msg).code == 250
    ar = ar_of(stored_headers(srv))
    assert result_of(ar, "dkim") == ["pass"]
    assert result_of(ar, "spf") == ["fail"]


def test_dmarc_reject_and_enforce_off(checked, dns):
    dns.add_txt("strict.test", "v=spf1 ip4:192.0.2.1 -all")
    dns.add_txt("_dmarc.strict.test", "v=DMARC1; p=reject")
    srv = checked()
    r = send_raw(srv, "a@strict.test", make_msg("dmarc", sender="a@strict.test"))
    assert r.code == 550 and r.line.startswith("550 5.7.1"), r.lines
    assert srv.delivered("bob@example.test") == []
    srv2 = checked({"dmarc_enforce": "no"})
    assert send_raw(srv2, "a@strict.test", make_msg("dmarc", sender="a@strict.test")).code == 250
    assert result_of(ar_of(stored_headers(srv2)), "dmarc") == ["fail"]


def test_dmarc_quarantine_goes_to_junk(checked, dns):
    dns.add_txt("shady.test", "v=spf1 ip4:192.0.2.1 -all")
    dns.add_txt("_dmarc.shady.test", "v=DMARC1; p=quarantine")
    dns.add_txt("fine.test", "v=spf1 ip4:127.0.0.1 -all")
    dns.add_txt("_dmarc.fine.test", "v=DMARC1; p=quarantine")
    srv = checked()
    r = send_raw(srv, "a@shady.test", make_msg("q", sender="a@shady.test"))
    assert r.code == 250, r.lines
    # Not in the INBOX: in the Maildir++ folder .Junk, marked as a folder.
    assert srv.delivered("bob@example.test") == []
    junk = srv.maildir("bob@example.test") / ".Junk"
    assert (junk / "maildirfolder").is_file()
    files = list((junk / "new").iterdir())
    assert len(files) == 1
    head = files[0].read_bytes().split(b"\n\n", 1)[0].decode()
    assert "dmarc=fail" in head
    # An aligned sender with the same policy lands in the INBOX.
    assert send_raw(srv, "a@fine.test", make_msg("ok", sender="a@fine.test")).code == 250
    assert len(srv.delivered("bob@example.test")) == 1
    assert len(list((junk / "new").iterdir())) == 1
    # dmarc_enforce = no: the INBOX, with the failure reported.
    srv2 = checked({"dmarc_enforce": "no"})
    assert send_raw(srv2, "a@shady.test", make_msg("q2", sender="a@shady.test")).code == 250
    assert result_of(ar_of(stored_headers(srv2)), "dmarc") == ["fail"]


def test_dns_failure_is_temperror_never_rejection(checked, dns):
    dns.set_behaviour("flaky.test", "servfail")
    dns.set_behaviour("_dmarc.flaky.test", "servfail")
    srv = checked()
    assert send_raw(srv, "a@flaky.test", make_msg("temp", sender="a@flaky.test")).code == 250
    assert result_of(ar_of(stored_headers(srv)), "spf") == ["temperror"]


def test_forged_results_naming_us_are_removed(checked, dns):
    dns.add_txt("good.test", "v=spf1 ip4:127.0.0.1 -all")
    srv = checked()
    msg = make_msg("forged", sender="a@good.test",
                   extra=["Authentication-Results: MX.TEST; spf=pass smtp.mailfrom=ceo@bank.test",
                          "Authentication-Results: other.example; spf=none"])
    assert send_raw(srv, "a@good.test", msg).code == 250
    head = stored_headers(srv)
    assert "ceo@bank.test" not in head
    assert "Authentication-Results: other.example; spf=none" in head
    assert head.count("Authentication-Results: mx.test;") == 1


def test_submission_is_not_checked(make_server, dns):
    srv = make_server(config={"dns_servers": dns.dns_servers, "auth_checks": "yes"})
    srv.start()
    # Port 25 only: the submission listener serves our own users.
    import base64
    from util import SMTPConn
    with SMTPConn(srv.submission_port) as c:
        c.ehlo()
        tok = base64.b64encode(b"\0alice@example.test\0pw-alice").decode()
        c.expect("AUTH PLAIN " + tok, "235")
        c.expect("MAIL FROM:<alice@example.test>", "250")
        c.expect("RCPT TO:<bob@example.test>", "250")
        assert c.data(dot_stuff(make_msg("sub", sender="alice@example.test"))).code == 250
    assert "Authentication-Results" not in stored_headers(srv)


def test_every_forged_result_is_removed_however_many(checked, dns):
    dns.add_txt("good.test", "v=spf1 ip4:127.0.0.1 -all")
    srv = checked()
    forged = ["Authentication-Results: mx.test; dkim=pass header.d=bank%d.test" % i for i in range(40)]
    assert send_raw(srv, "a@good.test", make_msg("many", sender="a@good.test", extra=forged)).code == 250
    head = stored_headers(srv)
    assert "bank" not in head
    assert head.count("Authentication-Results:") == 1


def test_auth_checks_no_adds_nothing(make_server, dns):
    dns.add_txt("good.test", "v=spf1 ip4:127.0.0.1 -all")
    srv = make_server(config={"dns_servers": dns.dns_servers, "auth_checks": "no"})
    srv.start()
    assert send_raw(srv, "a@good.test", make_msg("off", sender="a@good.test")).code == 250
    assert "Authentication-Results" not in stored_headers(srv)
    assert ("good.test", "TXT") not in dns.asked()


def test_dns_answers_are_cached_for_their_ttl(checked, dns):
    """Two messages from one sender: the SPF, DMARC records are asked once
    (answers with records are kept for their TTL); with TTL 0 every
    message asks again."""
    dns.ttl = 300
    dns.add_txt("cached.test", "v=spf1 ip4:127.0.0.1 -all")
    dns.add_txt("_dmarc.cached.test", "v=DMARC1; p=none")
    dns.ttl = 0
    dns.add_txt("fresh.test", "v=spf1 ip4:127.0.0.1 -all")
    srv = checked()
    for i in range(2):
        assert send_raw(srv, "a@cached.test", make_msg("c%d" % i, sender="a@cached.test")).code == 250
        assert send_raw(srv, "a@fresh.test", make_msg("f%d" % i, sender="a@fresh.test")).code == 250
    asked = [n for n, t in dns.asked() if t == "TXT"]
    assert asked.count("cached.test") == 1, asked
    assert asked.count("_dmarc.cached.test") == 1, asked
    assert asked.count("fresh.test") == 2, asked
    assert result_of(ar_of(stored_headers(srv)), "spf") == ["pass"]
