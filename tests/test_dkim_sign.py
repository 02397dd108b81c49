"""Outgoing DKIM (issue 11): mail our users submit from a local domain is
signed with both keys (ed25519-sha256 and rsa-sha256, relaxed/relaxed);
dkimpy verifies it with the records `konvert dns-records` prints, both in
the local copy and in the copy relayed to another server. Mail received on
port 25 is not signed."""

import base64
import re
import subprocess

import dkim
import pytest

from conftest import BIN
from test_relay import Peer, dns, relay_env, send  # noqa: F401
from util import SMTPConn, dot_stuff, make_msg, wait_for


def dns_records(srv, domain):
    r = subprocess.run([str(BIN), "-c", str(srv.conf_path), "dns-records", domain],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    txt = {}
    for line in r.stdout.splitlines():
        m = re.match(r'^(\S+)\s+\d+\s+IN\s+TXT\s+(.*)$', line)
        if m:
            txt[m.group(1).rstrip(".").lower()] = "".join(re.findall(r'"([^"]*)"', m.group(2)))
    return txt


def dnsfunc_for(records):
    def dnsfunc(name, timeout=5):
        name = name.decode() if isinstance(name, bytes) else name
        v = records.get(name.rstrip(".").lower())
        return v.encode() if v is not None else None
    return dnsfunc


def submit(srv, sender, rcpt, subject):
    with SMTPConn(srv.submission_port) as c:
        c.ehlo()
        user = sender
        pw = "pw-" + sender.split("@")[0]
        tok = base64.b64encode(b"\0" + user.encode() + b"\0" + pw.encode()).decode()
        c.expect("AUTH PLAIN " + tok, "235")
        c.expect("MAIL FROM:<%s>" % sender, "250")
        c.expect("RCPT TO:<%s>" % rcpt, "250")
        r = c.data(dot_stuff(make_msg(subject, sender=sender, to=rcpt)))
        assert r.code == 250, r.lines


def submit_as_alice(srv, msg, mail_params=""):
    """alice@example.test submits msg (wire form) to bob@example.test."""
    with SMTPConn(srv.submission_port) as c:
        c.ehlo()
        tok = base64.b64encode(b"\0alice@example.test\0pw-alice").decode()
        c.expect("AUTH PLAIN " + tok, "235")
        c.expect("MAIL FROM:<alice@example.test>" + mail_params, "250")
        c.expect("RCPT TO:<bob@example.test>", "250")
        r = c.data(dot_stuff(msg))
        assert r.code == 250, r.lines


def signatures(raw):
    return re.findall(rb"(?m)^DKIM-Signature: v=1; a=([a-z0-9-]+)", raw)


def verify_all(raw, records):
    """dkimpy verifies every signature of raw (stored form)."""
    d = dkim.DKIM(raw.replace(b"\n", b"\r\n"))
    n = len(signatures(raw))
    return [d.verify(idx=i, dnsfunc=dnsfunc_for(records)) for i in range(n)]


def test_submission_is_signed_and_verifies(make_server):
    srv = make_server()
    srv.start()
    submit(srv, "alice@example.test", "bob@example.test", "signed locally")
    files = srv.delivered("bob@example.test")
    assert len(files) == 1
    raw = files[0].read_bytes().split(b"\n", 1)[1]  # without Return-Path
    assert sorted(signatures(raw)) == [b"ed25519-sha256", b"rsa-sha256"], raw[:600]
    records = dns_records(srv, "example.test")
    assert verify_all(raw, records) == [True, True]
    # Tampering is caught.
    bad = raw.replace(b"Subject: signed locally", b"Subject: changed")
    assert verify_all(bad, records) == [False, False]


def test_port_25_mail_is_not_signed(make_server):
    srv = make_server()
    srv.start()
    with srv.connect() as c:
        c.ehlo()
        r = c.send_mail("alice@example.test", ["bob@example.test"], make_msg("from outside"))
        assert r.code == 250
    assert signatures(srv.delivered("bob@example.test")[0].read_bytes()) == []


def test_relayed_copy_verifies_at_the_next_hop(relay_env, dns):
    make, port = relay_env
    dns.add_mx("far.test", 10, "mx1.far.test")
    dns.add_a("mx1.far.test", "127.0.0.2")
    srv = make()
    with Peer("127.0.0.2", port) as peer:
        submit(srv, "alice@example.test", "someone@far.test", "signed and relayed")
        assert wait_for(lambda: peer.messages, 15), srv.log()[-3000:]
        content = peer.messages[0][2]
    assert not content.startswith(b"Return-Path")
    assert len(signatures(content)) == 2
    assert verify_all(content.replace(b"\r\n", b"\n"), dns_records(srv, "example.test")) == [True, True]


def test_dkim_sign_no_turns_it_off(make_server):
    srv = make_server(config={"dkim_sign": "no"})
    srv.start()
    submit(srv, "alice@example.test", "bob@example.test", "unsigned")
    assert signatures(srv.delivered("bob@example.test")[0].read_bytes()) == []


def test_8bit_mail_is_converted_before_signing(make_server):
    """An 8-bit body is turned into quoted-printable before it is signed,
    so no later conversion for a 7-bit next hop can break the signature."""
    srv = make_server()
    srv.start()
    body = "Grüße aus Köln\r\n".encode("utf-8")
    msg = make_msg("8bit", sender="alice@example.test", to="bob@example.test", body=body,
                   extra=("MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8",
                          "Content-Transfer-Encoding: 8bit"))
    submit_as_alice(srv, msg, " BODY=8BITMIME")
    raw = srv.delivered("bob@example.test")[0].read_bytes().split(b"\n", 1)[1]
    assert all(b < 0x80 for b in raw), raw
    assert b"Content-Transfer-Encoding: quoted-printable" in raw
    assert b"Gr=C3=BC=C3=9Fe" in raw
    assert verify_all(raw, dns_records(srv, "example.test")) == [True, True]


def test_submission_adds_date_and_message_id(make_server):
    """RFC 6409 8.2/8.3: a submitted message without Date and Message-ID
    gets them (before signing, so the signature covers them); one that has
    them keeps its own."""
    import email
    srv = make_server()
    srv.start()
    bare = b"From: <alice@example.test>\r\nTo: <bob@example.test>\r\nSubject: bare\r\n\r\nhi\r\n"
    full = (b"From: <alice@example.test>\r\nTo: <bob@example.test>\r\nSubject: full\r\n"
            b"Date: Mon, 07 Dec 2026 10:00:00 +0000\r\nMessage-ID: <own@example.test>\r\n\r\nhi\r\n")
    for msg in (bare, full):
        submit_as_alice(srv, msg)
    got = {}
    for p in srv.delivered("bob@example.test"):
        m = email.message_from_bytes(p.read_bytes())
        got[m["Subject"]] = m
    assert re.match(r"^<[0-9A-Z]+@mx\.test>$", got["bare"]["Message-ID"]), got["bare"]["Message-ID"]
    assert re.match(r"^\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d \+0000$", got["bare"]["Date"])
    hlist = got["bare"]["DKIM-Signature"].lower()
    assert ":date:" in hlist and "message-id" in hlist
    assert got["full"]["Message-ID"] == "<own@example.test>"
    assert got["full"]["Date"] == "Mon, 07 Dec 2026 10:00:00 +0000"
    assert len(got["full"].get_all("Date")) == 1
    raw = srv.delivered("bob@example.test")[0].read_bytes().split(b"\n", 1)[1]
    assert verify_all(raw, dns_records(srv, "example.test")) == [True, True]
