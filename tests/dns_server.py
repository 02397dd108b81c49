"""A small authoritative DNS server for the pytest suites (python3-dnslib).

It listens on 127.0.0.1 on one free port for both UDP and TCP, answers from
records the test sets, and misbehaves on request, so that konvert's resolver
(`dns_servers = 127.0.0.1:PORT`) can be driven through every case of issue
10 "Bad input": SERVFAIL, no answer at all, truncated answers, malformed
answers, absurd records.

Answers are authoritative (AA): a name with records of the asked type gets
them (CNAMEs inside the zone are followed); a name that exists with other
types, or only has names below it, gets NOERROR with no answer (NODATA); any
other name gets NXDOMAIN. UDP answers longer than 512 bytes (or the EDNS size
the query offers) come back truncated (TC, no records), as a real server
does, so the client retries over TCP.

Behaviours, per name (and optionally per query type), set with
``set_behaviour(name, mode, qtype=None, delay=0)``:

    "servfail"  RCODE 2          "refused"  RCODE 5
    "notimp"    RCODE 4          "nxdomain" RCODE 3 even when records exist
    "timeout"   never answer (UDP dropped; a TCP connection is held open)
    "truncate"  UDP: TC bit and no records; TCP: the connection is closed
                without an answer (a "truncated answer, TCP blocked" path)
    "garbage"   an answer with the right id and question that breaks off in
                its first record
    "wrongid"   a well-formed answer with another id (a spoof; ignored)
    "slow"      the normal answer after ``delay`` seconds

DNSSEC is pretended, not done: ``sign(zone)`` makes every answer for a name
at or below zone carry the AD bit, as a validating resolver on loopback
would (konvert's ``dnssec = yes`` trusts that bit and nothing else).

Example fixture (tests/conftest.py wires the real one)::

    import pytest
    from dns_server import DnsServer

    @pytest.fixture
    def dns_server():
        with DnsServer() as srv:          # 127.0.0.1, a free UDP+TCP port
            yield srv

    def test_mx_order(dns_server, tmp_path):
        dns_server.add_mx("example.test", 10, "mx1.example.test")
        dns_server.add_mx("example.test", 20, "mx2.example.test")
        dns_server.add_a("mx1.example.test", "127.0.0.2")
        dns_server.add_aaaa("mx2.example.test", "::1")
        dns_server.null_mx("nomail.test")
        dns_server.set_behaviour("broken.test", "servfail")
        conf = f"dns_servers = {dns_server.dns_servers}\\nrelay_port = 2525\\n"
        ...
        assert ("example.test", "MX") in dns_server.asked()

Thread safety: the server answers from its own threads; the setters take a
lock and may be called while it runs.
"""

import socket
import socketserver
import struct
import threading
import time

from dnslib import DNSRecord, QTYPE, RCODE, RR

__all__ = ["DnsServer"]

_MODES = {"servfail", "refused", "notimp", "nxdomain", "timeout", "truncate",
          "garbage", "wrongid", "slow"}


def _norm(name):
    return str(name).rstrip(".").lower()


class _UDPServer(socketserver.ThreadingMixIn, socketserver.UDPServer):
    daemon_threads = True
    allow_reuse_address = False


class _TCPServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = False


class _UDPHandler(socketserver.BaseRequestHandler):
    def handle(self):
        data, sock = self.request
        reply, _ = self.server.owner._answer(data, "udp")
        if reply is not None:
            sock.sendto(reply, self.client_address)


class _TCPHandler(socketserver.BaseRequestHandler):
    def handle(self):
        conn = self.request
        conn.settimeout(10)
        owner = self.server.owner
        try:
            while True:  # RFC 7766: several queries may share a connection
                head = self._read(conn, 2)
                if head is None:
                    return
                (length,) = struct.unpack("!H", head)
                data = self._read(conn, length)
                if data is None:
                    return
                reply, mode = owner._answer(data, "tcp")
                if reply is None:
                    if mode == "timeout":
                        owner._stop.wait(30)
                    return  # "truncate" (and junk queries): close
                conn.sendall(struct.pack("!H", len(reply)) + reply)
        except OSError:
            return

    @staticmethod
    def _read(conn, n):
        buf = b""
        while len(buf) < n:
            chunk = conn.recv(n - len(buf))
            if not chunk:
                return None
            buf += chunk
        return buf


class DnsServer:
    """An authoritative DNS server on 127.0.0.1 for one test."""

    def __init__(self, host="127.0.0.1", ttl=0):
        self.host = host
        # TTL of added records: 0 by default, so that konvert's answer cache
        # (which keeps answers for their TTL) never hides a record a test
        # changes; the benchmarks pass a real TTL.
        self.ttl = ttl
        self.port = None
        self._lock = threading.Lock()
        self._records = {}       # name -> list of RR
        self._behaviour = {}     # (name, qtype or None) -> (mode, delay)
        self._signed = set()     # zones whose answers carry AD
        self._queries = []       # (name, qtype, proto)
        self._stop = threading.Event()
        self._udp = self._tcp = None
        self._threads = []

    # ---- lifecycle ----

    def start(self):
        """Binds UDP and TCP on the same free port and serves in threads."""
        for _ in range(50):
            udp = _UDPServer((self.host, 0), _UDPHandler)
            port = udp.server_address[1]
            try:
                tcp = _TCPServer((self.host, port), _TCPHandler)
            except OSError:
                udp.server_close()
                continue
            break
        else:
            raise RuntimeError("no free port for both UDP and TCP")
        udp.owner = tcp.owner = self
        self._udp, self._tcp, self.port = udp, tcp, port
        for srv in (udp, tcp):
            t = threading.Thread(target=srv.serve_forever,
                                 kwargs={"poll_interval": 0.05}, daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self):
        self._stop.set()
        for srv in (self._udp, self._tcp):
            if srv is not None:
                srv.shutdown()
                srv.server_close()
        for t in self._threads:
            t.join(timeout=2)
        self._threads = []

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def dns_servers(self):
        """The value for konvert's dns_servers key."""
        return f"{self.host}:{self.port}"

    # ---- records ----

    def add(self, name, rtype, rdata, ttl=None):
        """Adds one record from zone-file text: add("x.test", "MX", "10 mx.x.test")."""
        ttl = self.ttl if ttl is None else ttl
        rr = RR.fromZone(f"{_norm(name)}. {ttl} IN {rtype} {rdata}")[0]
        with self._lock:
            self._records.setdefault(_norm(name), []).append(rr)

    def add_mx(self, domain, preference, exchange):
        exchange = "." if exchange in ("", ".") else _norm(exchange) + "."
        self.add(domain, "MX", f"{int(preference)} {exchange}")

    def null_mx(self, domain):
        """RFC 7505: the single record "MX 0 ."."""
        self.remove(domain, "MX")
        self.add_mx(domain, 0, ".")

    def add_a(self, name, *addrs):
        for a in addrs:
            self.add(name, "A", a)

    def add_aaaa(self, name, *addrs):
        for a in addrs:
            self.add(name, "AAAA", a)

    def add_cname(self, name, target):
        self.add(name, "CNAME", _norm(target) + ".")

    def add_txt(self, name, *strings):
        """One TXT record made of the given character-strings."""
        quoted = " ".join('"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'
                          for s in strings)
        self.add(name, "TXT", quoted)

    def sign(self, zone):
        """Answers at or below zone carry the AD bit from now on."""
        with self._lock:
            self._signed.add(_norm(zone))

    def _is_signed(self, name):
        return any(name == z or name.endswith("." + z) for z in self._signed)

    def add_tlsa(self, name, usage, selector, mtype, data_hex):
        """name like "_25._tcp.mx.example.test"."""
        self.add(name, "TLSA", f"{usage} {selector} {mtype} {data_hex}")

    def absurd_mx(self, domain, count=100, with_addresses=True, base="127.0.0.1"):
        """count MX records mxN.domain at preferences 1..count (each with an
        A record when with_addresses): far more than any client should try;
        the UDP answer is truncated, the TCP one carries them all."""
        for i in range(count):
            self.add_mx(domain, i + 1, f"mx{i}.{_norm(domain)}")
            if with_addresses:
                self.add_a(f"mx{i}.{_norm(domain)}", base)

    def remove(self, name, rtype=None):
        with self._lock:
            rrs = self._records.get(_norm(name), [])
            if rtype is None:
                rrs = []
            else:
                rrs = [rr for rr in rrs if QTYPE[rr.rtype] != rtype]
            if rrs:
                self._records[_norm(name)] = rrs
            else:
                self._records.pop(_norm(name), None)

    def clear(self):
        with self._lock:
            self._records.clear()
            self._behaviour.clear()
            self._queries.clear()

    # ---- misbehaviour ----

    def set_behaviour(self, name, mode, qtype=None, delay=0.0):
        """Makes queries for name (of qtype, or all types) misbehave; mode
        None restores normal answers."""
        key = (_norm(name), qtype)
        with self._lock:
            if mode is None:
                self._behaviour.pop(key, None)
                return
            if mode not in _MODES:
                raise ValueError(f"unknown mode {mode!r}")
            self._behaviour[key] = (mode, float(delay))

    # ---- what was asked ----

    def asked(self):
        """(name, type) pairs asked so far, in order, repeats included."""
        with self._lock:
            return [(n, t) for n, t, _ in self._queries]

    def queries(self):
        """(name, type, "udp"|"tcp") triples asked so far."""
        with self._lock:
            return list(self._queries)

    def wait_for_query(self, name, qtype=None, timeout=5.0):
        name = _norm(name)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(n == name and (qtype is None or t == qtype)
                   for n, t in self.asked()):
                return True
            time.sleep(0.02)
        return False

    # ---- answering ----

    def _exists(self, name):
        suffix = "." + name
        return any(n == name or n.endswith(suffix) for n in self._records)

    def _answer(self, data, proto):
        """Returns (reply bytes or None to stay silent, behaviour mode)."""
        try:
            req = DNSRecord.parse(data)
        except Exception:  # junk in: no answer, as a real server
            return None, None
        qname = _norm(req.q.qname)
        qtype = QTYPE.get(req.q.qtype, str(req.q.qtype))
        with self._lock:
            self._queries.append((qname, qtype, proto))
            mode, delay = self._behaviour.get(
                (qname, qtype), self._behaviour.get((qname, None), (None, 0.0)))
            reply = req.reply(ra=1, aa=1)
            if mode in ("servfail", "refused", "notimp", "nxdomain"):
                reply.header.rcode = getattr(RCODE, mode.upper())
            elif mode not in ("timeout", "garbage"):
                self._fill(reply, qname, qtype)
            # dnslib's reply() copies the query's flags, AD included (which
            # konvert sets, RFC 6840 5.7): AD only where "signed".
            reply.header.ad = 1 if self._is_signed(qname) else 0
        if mode == "timeout":
            return None, mode
        if mode == "slow" and delay > 0:
            self._stop.wait(delay)
        if mode == "truncate":
            if proto == "tcp":
                return None, mode
            reply = req.reply(ra=1, aa=1)
            reply.header.tc = 1
        if mode == "garbage":
            # Header (NOERROR, one answer), the question echoed, then a
            # record that breaks off inside its owner name.
            wire = req.reply(ra=1, aa=1).pack()
            hdr = bytearray(wire[:12])
            hdr[6:8] = b"\x00\x01"
            return bytes(hdr) + wire[12:] + b"\xc0", mode
        out = reply.pack()
        if mode == "wrongid":
            out = struct.pack("!H", (req.header.id + 1) & 0xFFFF) + out[2:]
        if proto == "udp" and len(out) > self._udp_limit(req):
            reply = req.reply(ra=1, aa=1)
            reply.header.tc = 1
            out = reply.pack()
        return out, mode

    @staticmethod
    def _udp_limit(req):
        for rr in req.ar:
            if rr.rtype == QTYPE.OPT:
                return max(512, int(rr.rclass))
        return 512

    def _fill(self, reply, qname, qtype):
        name = qname
        for _ in range(8):  # CNAME chain inside our data, bounded
            rrs = self._records.get(name, [])
            hits = [rr for rr in rrs if QTYPE[rr.rtype] == qtype or qtype == "ANY"]
            if hits:
                for rr in hits:
                    reply.add_answer(rr)
                return
            cnames = [rr for rr in rrs if rr.rtype == QTYPE.CNAME]
            if not cnames:
                break
            reply.add_answer(cnames[0])
            name = _norm(cnames[0].rdata.label)
        if not reply.rr and not self._exists(qname):
            reply.header.rcode = RCODE.NXDOMAIN
