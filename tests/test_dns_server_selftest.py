"""Self-test of tests/dns_server.py (the DNS server the relaying suites use):
records, NODATA vs NXDOMAIN, CNAME, null MX, truncation and TCP fallback,
and each misbehaviour, asked with dnslib's own client. Quick (~1 s)."""

import socket
import struct

import pytest
from dnslib import DNSRecord, QTYPE, RCODE

from dns_server import DnsServer


@pytest.fixture
def dns():
    with DnsServer() as srv:
        yield srv


def ask(srv, name, qtype, tcp=False, timeout=2.0):
    raw = DNSRecord.question(name, qtype).send(srv.host, srv.port, tcp=tcp,
                                               timeout=timeout)
    return DNSRecord.parse(raw)


def rdatas(reply, qtype):
    return [str(rr.rdata) for rr in reply.rr if QTYPE[rr.rtype] == qtype]


def test_records_and_port(dns):
    assert dns.dns_servers == f"127.0.0.1:{dns.port}"
    dns.add_mx("example.test", 20, "mx2.example.test")
    dns.add_mx("Example.TEST.", 10, "mx1.example.test")
    dns.add_a("mx1.example.test", "127.0.0.2", "127.0.0.3")
    dns.add_aaaa("mx1.example.test", "::1")
    dns.add_txt("example.test", "v=spf1 -all")
    dns.add_tlsa("_25._tcp.mx1.example.test", 3, 1, 1, "ab" * 32)
    r = ask(dns, "example.test", "MX")
    assert r.header.aa == 1 and r.header.rcode == RCODE.NOERROR
    assert sorted(rdatas(r, "MX")) == ["10 mx1.example.test.", "20 mx2.example.test."]
    assert rdatas(ask(dns, "MX1.example.test", "A"), "A") == ["127.0.0.2", "127.0.0.3"]
    assert rdatas(ask(dns, "mx1.example.test", "AAAA"), "AAAA") == ["::1"]
    assert rdatas(ask(dns, "example.test", "TXT"), "TXT") == ['"v=spf1 -all"']
    assert len(rdatas(ask(dns, "_25._tcp.mx1.example.test", "TLSA"), "TLSA")) == 1
    # Same answers over TCP.
    assert sorted(rdatas(ask(dns, "example.test", "MX", tcp=True), "MX")) == \
        ["10 mx1.example.test.", "20 mx2.example.test."]
    assert ("example.test", "MX") in dns.asked()
    assert ("example.test", "MX", "tcp") in dns.queries()


def test_nodata_nxdomain_cname_null_mx(dns):
    dns.add_a("host.example.test", "127.0.0.1")
    dns.add_cname("alias.example.test", "host.example.test")
    dns.null_mx("nomail.test")
    # The name exists with another type: NODATA.
    r = ask(dns, "host.example.test", "MX")
    assert r.header.rcode == RCODE.NOERROR and not r.rr
    # Empty non-terminal: NODATA too.
    r = ask(dns, "example.test", "A")
    assert r.header.rcode == RCODE.NOERROR and not r.rr
    assert ask(dns, "nothere.test", "A").header.rcode == RCODE.NXDOMAIN
    r = ask(dns, "alias.example.test", "A")
    assert rdatas(r, "CNAME") == ["host.example.test."]
    assert rdatas(r, "A") == ["127.0.0.1"]
    assert rdatas(ask(dns, "nomail.test", "MX"), "MX") == ["0 ."]
    dns.remove("host.example.test")
    assert ask(dns, "host.example.test", "A").header.rcode == RCODE.NXDOMAIN


def test_big_answer_is_truncated_on_udp_only(dns):
    dns.absurd_mx("big.test", count=100)
    r = ask(dns, "big.test", "MX")
    assert r.header.tc == 1 and not r.rr
    r = ask(dns, "big.test", "MX", tcp=True)
    assert r.header.tc == 0 and len(rdatas(r, "MX")) == 100


@pytest.mark.parametrize("mode,rcode", [("servfail", RCODE.SERVFAIL),
                                        ("refused", RCODE.REFUSED),
                                        ("notimp", RCODE.NOTIMP),
                                        ("nxdomain", RCODE.NXDOMAIN)])
def test_error_rcodes(dns, mode, rcode):
    dns.add_mx("bad.test", 10, "mx.bad.test")
    dns.set_behaviour("bad.test", mode)
    assert ask(dns, "bad.test", "MX").header.rcode == rcode
    dns.set_behaviour("bad.test", None)
    assert ask(dns, "bad.test", "MX").header.rcode == RCODE.NOERROR


def test_timeout_per_type(dns):
    dns.add_a("half.test", "127.0.0.1")
    dns.set_behaviour("half.test", "timeout", qtype="AAAA")
    with pytest.raises(socket.timeout):
        ask(dns, "half.test", "AAAA", timeout=0.3)
    with pytest.raises(socket.timeout):
        ask(dns, "half.test", "AAAA", tcp=True, timeout=0.3)
    assert rdatas(ask(dns, "half.test", "A"), "A") == ["127.0.0.1"]


def test_truncate_mode(dns):
    dns.add_mx("tc.test", 10, "mx.tc.test")
    dns.set_behaviour("tc.test", "truncate")
    r = ask(dns, "tc.test", "MX")
    assert r.header.tc == 1 and not r.rr
    # TCP: closed without an answer.
    with pytest.raises((struct.error, OSError, IndexError)):
        ask(dns, "tc.test", "MX", tcp=True, timeout=1)


def test_garbage_and_wrong_id(dns):
    dns.add_mx("junk.test", 10, "mx.junk.test")
    dns.set_behaviour("junk.test", "garbage")
    q = DNSRecord.question("junk.test", "MX")
    raw = q.send(dns.host, dns.port, timeout=2)
    assert raw[:2] == q.pack()[:2]  # same id: a client will try to parse it
    with pytest.raises(Exception):
        DNSRecord.parse(raw)
    dns.set_behaviour("junk.test", "wrongid")
    raw = q.send(dns.host, dns.port, timeout=2)
    assert raw[:2] != q.pack()[:2]
    assert rdatas(DNSRecord.parse(raw), "MX") == ["10 mx.junk.test."]


def test_slow(dns):
    import time
    dns.add_a("slow.test", "127.0.0.1")
    dns.set_behaviour("slow.test", "slow", delay=0.3)
    t0 = time.monotonic()
    assert rdatas(ask(dns, "slow.test", "A"), "A") == ["127.0.0.1"]
    assert time.monotonic() - t0 >= 0.25
    assert dns.wait_for_query("slow.test", "A", timeout=0.1)
