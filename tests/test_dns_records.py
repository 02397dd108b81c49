"""`konvert dns-records DOMAIN` and `konvert dkim rotate DOMAIN`: every
printed line parses as a zone-file record (dnslib), the DKIM keys load with
openssl, rotation keeps the old selectors, key files are 0600, a domain that
is not local is refused."""

import base64
import stat
import subprocess

import pytest
from dnslib import QTYPE, RR


@pytest.fixture
def srv(make_server):
    return make_server(users=False)


def records(srv):
    r = srv.cli("dns-records", "example.test")
    assert r.returncode == 0, r.stderr
    rrs = []
    for line in r.stdout.splitlines():
        if not line.strip() or line.startswith(";"):
            continue
        parsed = RR.fromZone(line)
        assert len(parsed) == 1, line
        rrs.append(parsed[0])
    return rrs


def txt(rr):
    return b"".join(rr.rdata.data).decode()


def by_type(rrs, t):
    return [rr for rr in rrs if QTYPE[rr.rtype] == t]


def dkim_keys(rrs):
    out = {}
    for rr in by_type(rrs, "TXT"):
        name = str(rr.rname)
        if name.endswith("._domainkey.example.test."):
            out[name.split(".")[0]] = txt(rr)
    return out


def check_key(record):
    tags = dict(t.strip().split("=", 1) for t in record.split(";"))
    assert tags["v"] == "DKIM1"
    der = base64.b64decode(tags["p"])
    if tags["k"] == "ed25519":
        assert len(der) == 32
        # Raw key (RFC 8463) wrapped into SubjectPublicKeyInfo for openssl.
        der = bytes.fromhex("302a300506032b6570032100") + der
    else:
        assert tags["k"] == "rsa"
    r = subprocess.run(["openssl", "pkey", "-pubin", "-inform", "DER", "-noout", "-text"],
                       input=der, capture_output=True)
    assert r.returncode == 0, r.stderr
    text = r.stdout.decode()
    if tags["k"] == "rsa":
        assert "2048 bit" in text
    else:
        assert "ED25519" in text
    return tags["k"]


def test_records(srv):
    rrs = records(srv)
    mx = by_type(rrs, "MX")
    assert len(mx) == 1 and str(mx[0].rname) == "example.test."
    assert str(mx[0].rdata.label) == "mx.test." and mx[0].rdata.preference == 10
    txts = {str(rr.rname): txt(rr) for rr in by_type(rrs, "TXT")}
    assert txts["example.test."] == "v=spf1 mx -all"
    assert txts["_dmarc.example.test."].startswith("v=DMARC1; p=quarantine;")
    assert "rua=mailto:postmaster@example.test" in txts["_dmarc.example.test."]
    assert txts["_mta-sts.example.test."].startswith("v=STSv1; id=")
    sts_id = txts["_mta-sts.example.test."].split("id=")[1]
    assert sts_id.isalnum() and 1 <= len(sts_id) <= 32
    assert txts["_smtp._tls.example.test."] == "v=TLSRPTv1; rua=mailto:postmaster@example.test"
    # Every character-string is at most 255 octets.
    for rr in by_type(rrs, "TXT"):
        assert all(len(s) <= 255 for s in rr.rdata.data)
    keys = dkim_keys(rrs)
    assert sorted(check_key(v) for v in keys.values()) == ["ed25519", "rsa"]
    srv_rrs = {str(rr.rname): rr.rdata for rr in by_type(rrs, "SRV")}
    for svc in ("_submission", "_submissions", "_imap", "_imaps", "_pop3", "_pop3s"):
        assert "%s._tcp.example.test." % svc in srv_rrs
    sub = srv_rrs["_submission._tcp.example.test."]
    assert sub.port == srv.submission_port and str(sub.target) == "mx.test."
    # smtps_listen and pop3_listen are empty in the test config: not offered.
    assert str(srv_rrs["_submissions._tcp.example.test."].target) == "."
    assert srv_rrs["_pop3._tcp.example.test."].port == 0


def test_files_and_rotation(srv):
    first = dkim_keys(records(srv))
    assert len(first) == 2
    kdir = srv.data_dir / "dkim" / "example.test"
    for p in list(kdir.iterdir()) + [kdir]:
        mode = stat.S_IMODE(p.stat().st_mode)
        assert mode == (0o700 if p.is_dir() else 0o600), (p, oct(mode))
    # A second run keeps the keys.
    assert dkim_keys(records(srv)) == first
    r = srv.cli("dkim", "rotate", "example.test")
    assert r.returncode == 0, r.stderr
    after = dkim_keys(records(srv))
    assert len(after) == 4
    for sel, rec in first.items():
        assert after[sel] == rec
    new = set(after) - set(first)
    assert len(new) == 2
    lines = (kdir / "selectors").read_text().splitlines()
    roles = {ln.split()[0]: ln.split()[2] for ln in lines if ln and not ln.startswith("#")}
    assert all(roles[s] == "publish" for s in first)
    assert all(roles[s] == "sign" for s in new)
    for v in after.values():
        check_key(v)


def test_refusals(srv):
    r = srv.cli("dns-records", "elsewhere.test")
    assert r.returncode == 1
    assert "not a local domain" in r.stderr
    r = srv.cli("dkim", "rotate", "elsewhere.test")
    assert r.returncode == 1
    assert not (srv.data_dir / "dkim" / "elsewhere.test").exists()
    assert srv.cli("dns-records").returncode == 2
    assert srv.cli("dkim", "spin", "example.test").returncode == 2
