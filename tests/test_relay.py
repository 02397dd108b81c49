"""Relaying (issue 10): remote recipients go through the durable queue to
the domain's MX hosts, found through a real DNS server on loopback
(tests/dns_server.py), and are handed to real SMTP peers (aiosmtpd) on
127.0.0.x. Failures are retried or bounced to the sender as RFC 3464
reports that Python's email package parses."""

import email
import email.policy
import socket
import subprocess
import threading
import time

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from conftest import BIN
from dns_server import DnsServer
from util import dot_stuff, make_msg, wait_for


def free_port_on(addrs):
    """A TCP port free on every address in addrs (relay_port is one port for
    every MX host)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind((addrs[0], 0))
            port = s.getsockname()[1]
        ok = True
        for a in addrs[1:]:
            with socket.socket() as s:
                try:
                    s.bind((a, port))
                except OSError:
                    ok = False
                    break
        if ok:
            return port
    raise RuntimeError("no common free port")


class Peer:
    """An SMTP peer that records what it receives. rcpt_reply maps an
    address to a reply line ("550 5.1.1 no such user"); tempfail_first
    makes the first N transactions get 451 at DATA."""

    def __init__(self, host, port, rcpt_reply=None, tempfail_first=0, auth=None):
        self.messages = []
        self.rcpt_reply = rcpt_reply or {}
        self.tempfail_left = tempfail_first
        self.transactions = 0
        self.ehlos = 0  # one per connection (no STARTTLS here)
        self.lock = threading.Lock()
        kw = {}
        if auth is not None:
            kw = dict(authenticator=self._auth, auth_require_tls=False, auth_required=True)
            self.creds = auth
        self.ctl = Controller(self, hostname=host, port=port, **kw)

    def _auth(self, server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and \
            (auth_data.login.decode(), auth_data.password.decode()) == self.creds
        return AuthResult(success=ok)

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        with self.lock:
            self.ehlos += 1
        session.host_name = hostname
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.rcpt_reply.get(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.transactions += 1
            if self.tempfail_left > 0:
                self.tempfail_left -= 1
                return "451 4.3.0 try again later"
            self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 2.0.0 OK queued"

    def __enter__(self):
        self.ctl.start()
        return self

    def __exit__(self, *exc):
        self.ctl.stop()


@pytest.fixture
def dns():
    with DnsServer() as srv:
        yield srv


@pytest.fixture
def relay_env(make_server, dns):
    """(factory) a started server relaying through dns on a common port."""
    port = free_port_on(["127.0.0.2", "127.0.0.3", "127.0.0.4"])

    def make(config=None, aliases=None):
        cfg = {"dns_servers": dns.dns_servers, "relay_port": str(port),
               "queue_retry": "1s", "relay_tls": "off"}
        cfg.update(config or {})
        srv = make_server(config=cfg, aliases=aliases)
        srv.start()
        return srv

    return make, port


def queue_files(srv):
    env = srv.data_dir / "queue" / "env"
    return sorted(p.name for p in env.iterdir()) if env.is_dir() else []


def send(srv, sender, rcpts, subject="relay test", params=None):
    with srv.connect() as c:
        c.ehlo()
        c.expect("MAIL FROM:<%s>" % sender, "250")
        for r in rcpts:
            line = "RCPT TO:<%s>" % r + ((" " + params[r]) if params and r in params else "")
            c.expect(line, "250 2.1.5")
        msg = make_msg(subject, sender=sender, to=rcpts[0])
        r = c.data(dot_stuff(msg))
        assert r.code == 250, r.lines
        return msg


def bounces(srv, addr):
    out = []
    for p in srv.delivered(addr):
        m = email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
        if m.get_content_type() == "multipart/report":
            out.append(m)
    return out


def dsn_blocks(report):
    """The per-recipient blocks of a delivery-status part, as dicts."""
    status = [p for p in report.walk() if p.get_content_type() == "message/delivery-status"][0]
    blocks = status.get_payload()
    return [dict((k.lower(), str(v)) for k, v in b.items()) for b in blocks[1:]]


def test_relay_through_mx(relay_env, dns):
    make, port = relay_env
    dns.add_mx("far.test", 10, "mx1.far.test")
    dns.add_a("mx1.far.test", "127.0.0.2")
    srv = make()
    with Peer("127.0.0.2", port) as peer:
        send(srv, "alice@example.test", ["bob@far.test"], "hello far")
        assert wait_for(lambda: peer.messages, 15), srv.log()[-3000:]
        frm, rcpts, content = peer.messages[0]
        assert frm == "alice@example.test" and rcpts == ["bob@far.test"]
        # RFC 5321 4.4: only final delivery adds Return-Path.
        assert not content.startswith(b"Return-Path:")
        assert content.startswith(b"Received: from "), content[:200]
        assert b"Subject: hello far" in content
        assert wait_for(lambda: not queue_files(srv), 10), queue_files(srv)
    assert "event=relay" in srv.log() and "result=sent" in srv.log()


def test_mx_order_and_fallback(relay_env, dns):
    make, port = relay_env
    dns.add_mx("far.test", 10, "dead.far.test")
    dns.add_mx("far.test", 20, "mx2.far.test")
    dns.add_a("dead.far.test", "127.0.0.4")  # nothing listens there
    dns.add_a("mx2.far.test", "127.0.0.3")
    srv = make()
    with Peer("127.0.0.3", port) as peer:
        send(srv, "alice@example.test", ["bob@far.test"])
        assert wait_for(lambda: peer.messages, 15), srv.log()[-3000:]
    assert "relay=mx2.far.test" in srv.log()


def test_a_record_fallback(relay_env, dns):
    make, port = relay_env
    dns.add_a("nomx.test", "127.0.0.2")  # no MX: the domain itself (RFC 5321 5.1)
    srv = make()
    with Peer("127.0.0.2", port) as peer:
        send(srv, "alice@example.test", ["x@nomx.test"])
        assert wait_for(lambda: peer.messages, 15), srv.log()[-3000:]


def test_null_mx_bounces_at_once(relay_env, dns):
    make, _ = relay_env
    dns.null_mx("nomail.test")
    srv = make()
    send(srv, "alice@example.test", ["x@nomail.test"])
    assert wait_for(lambda: bounces(srv, "alice@example.test"), 15), srv.log()[-3000:]
    rep = bounces(srv, "alice@example.test")[0]
    assert rep.get_param("report-type") == "delivery-status"
    assert rep["From"].addresses[0].username == "MAILER-DAEMON"
    b = dsn_blocks(rep)
    assert len(b) == 1 and b[0]["action"] == "failed" and b[0]["status"] == "5.1.10", b
    stored = srv.delivered("alice@example.test")[0].read_bytes()
    assert stored.startswith(b"Return-Path: <>\n"), stored[:80]
    assert wait_for(lambda: not queue_files(srv), 10)


def test_partial_bounce_one_of_three(relay_env, dns):
    make, port = relay_env
    dns.add_mx("far.test", 10, "mx1.far.test")
    dns.add_a("mx1.far.test", "127.0.0.2")
    srv = make()
    with Peer("127.0.0.2", port, rcpt_reply={"b@far.test": "550 5.1.1 <b@far.test>: no such user"}) as peer:
        send(srv, "alice@example.test", ["a@far.test", "b@far.test", "c@far.test"])
        assert wait_for(lambda: peer.messages, 15), srv.log()[-3000:]
        assert sorted(peer.messages[0][1]) == ["a@far.test", "c@far.test"]
        assert len(peer.messages) == 1  # one transaction for the destination
        assert wait_for(lambda: bounces(srv, "alice@example.test"), 15), srv.log()[-3000:]
    b = dsn_blocks(bounces(srv, "alice@example.test")[0])
    assert [x["final-recipient"] for x in b] == ["rfc822; b@far.test"], b
    assert b[0]["status"] == "5.1.1"
    assert "550 5.1.1" in b[0]["diagnostic-code"] and b[0]["remote-mta"] == "dns; mx1.far.test"


def test_tempfail_twice_then_accept(relay_env, dns):
    make, port = relay_env
    dns.add_mx("far.test", 10, "mx1.far.test")
    dns.add_a("mx1.far.test", "127.0.0.2")
    srv = make()
    with Peer("127.0.0.2", port, tempfail_first=2) as peer:
        send(srv, "alice@example.test", ["bob@far.test"])
        assert wait_for(lambda: peer.messages, 30), srv.log()[-3000:]
        assert peer.transactions == 3
    assert not bounces(srv, "alice@example.test")


def test_mx_pointing_at_ourselves_is_a_loop(relay_env, dns, make_server):
    make, port = relay_env
    dns.add_mx("loop.test", 10, "mx.loop.test")
    dns.add_a("mx.loop.test", "127.0.0.1")
    srv = make()
    # Point relay_port at our own smtp port: the MX is this host.
    srv.overrides["relay_port"] = str(srv.smtp_port)
    srv.stop()
    srv.write_config()
    srv.start()
    send(srv, "alice@example.test", ["x@loop.test"])
    assert wait_for(lambda: bounces(srv, "alice@example.test"), 15), srv.log()[-3000:]
    b = dsn_blocks(bounces(srv, "alice@example.test")[0])
    assert b[0]["status"] == "5.4.6", b


def test_dns_servfail_defers(relay_env, dns):
    make, _ = relay_env
    dns.set_behaviour("broken.test", "servfail")
    srv = make()
    send(srv, "alice@example.test", ["x@broken.test"])
    assert wait_for(lambda: "result=deferred" in srv.log(), 30), srv.log()[-3000:]
    assert queue_files(srv)
    assert not bounces(srv, "alice@example.test")


def test_smarthost_with_auth(relay_env, dns):
    make, port = relay_env
    srv = make({"smarthost": "127.0.0.3:%d" % port, "smarthost_auth": "relayuser:relaypw"})
    with Peer("127.0.0.3", port, auth=("relayuser", "relaypw")) as peer:
        send(srv, "alice@example.test", ["someone@anywhere.test"])
        assert wait_for(lambda: peer.messages, 15), srv.log()[-3000:]
    # No MX lookup was made for the recipient's domain.
    assert ("anywhere.test", "MX") not in dns.asked()


def test_remote_recipient_still_refused_without_relay_rights(relay_env, dns):
    make, _ = relay_env
    srv = make({"relay_networks": "10.255.255.0/24"})
    with srv.connect() as c:
        c.ehlo()
        c.expect("MAIL FROM:<x@y.test>", "250")
        c.expect("RCPT TO:<bob@far.test>", "554 5.7.1")


def test_forwarding_alias_keeps_local_copy(relay_env, dns):
    make, port = relay_env
    dns.add_mx("far.test", 10, "mx1.far.test")
    dns.add_a("mx1.far.test", "127.0.0.2")
    srv = make(aliases="bob: bob, bob@far.test")
    with Peer("127.0.0.2", port) as peer:
        send(srv, "carol@example.test", ["bob@example.test"])
        assert wait_for(lambda: peer.messages, 15), srv.log()[-3000:]
        assert peer.messages[0][1] == ["bob@far.test"]
    assert len(srv.delivered("bob@example.test")) == 1


def test_etrn_flushes_a_domain(relay_env, dns):
    make, port = relay_env
    dns.add_mx("far.test", 10, "mx1.far.test")
    dns.add_a("mx1.far.test", "127.0.0.2")
    srv = make({"queue_retry": "1h"})
    send(srv, "alice@example.test", ["bob@far.test"])  # nobody listens yet
    assert wait_for(lambda: "result=deferred" in srv.log(), 15), srv.log()[-3000:]
    with Peer("127.0.0.2", port) as peer:
        with srv.connect() as c:
            r = c.ehlo()
            assert any(l[4:].startswith("ETRN") for l in r.lines), r.lines
            c.expect("ETRN far.test", "250 2.0.0")
            c.expect("ETRN @nothing.test", "251 2.0.0")
        assert wait_for(lambda: peer.messages, 15), srv.log()[-3000:]


def test_dsn_success_relayed_notice(relay_env, dns):
    make, port = relay_env
    dns.add_mx("far.test", 10, "mx1.far.test")
    dns.add_a("mx1.far.test", "127.0.0.2")
    srv = make()
    with Peer("127.0.0.2", port) as peer:
        with srv.connect() as c:
            r = c.ehlo()
            assert any(l[4:] == "DSN" for l in r.lines), r.lines
        send(srv, "alice@example.test", ["bob@far.test"], params={"bob@far.test": "NOTIFY=SUCCESS"})
        assert wait_for(lambda: peer.messages, 15)
        # aiosmtpd does not offer DSN: the notice says "relayed".
        assert wait_for(lambda: bounces(srv, "alice@example.test"), 15), srv.log()[-3000:]
    b = dsn_blocks(bounces(srv, "alice@example.test")[0])
    assert b[0]["action"] == "relayed", b


def test_queue_survives_kill_and_restart(relay_env, dns):
    make, port = relay_env
    dns.add_mx("far.test", 10, "mx1.far.test")
    dns.add_a("mx1.far.test", "127.0.0.2")
    srv = make({"queue_retry": "1h"})
    n = 200
    with srv.connect() as c:
        c.ehlo()
        for i in range(n):
            c.expect("MAIL FROM:<alice@example.test>", "250")
            c.expect("RCPT TO:<bob@far.test>", "250 2.1.5")
            r = c.data(dot_stuff(make_msg("durable %d" % i, sender="alice@example.test")))
            assert r.code == 250, r.lines
    srv.kill()
    assert len(queue_files(srv)) == n
    with Peer("127.0.0.2", port) as peer:
        srv.start()
        with srv.connect() as c:
            c.ehlo()
            c.expect("ETRN far.test", "250 2.0.0")
        assert wait_for(lambda: len(peer.messages) >= n, 30), (len(peer.messages), srv.log()[-3000:])
        subjects = [m[2].split(b"Subject: ")[1].split(b"\n")[0] for m in peer.messages]
        assert len(set(subjects)) == n
        assert wait_for(lambda: not queue_files(srv), 10)
        # Nothing was between a remote 250 and our write: no duplicates.
        assert len(peer.messages) == n


def test_require_tls_defers_rather_than_send_in_clear(relay_env, dns):
    make, port = relay_env
    dns.add_mx("far.test", 10, "mx1.far.test")
    dns.add_a("mx1.far.test", "127.0.0.2")
    srv = make({"relay_tls": "require"})
    with Peer("127.0.0.2", port) as peer:  # aiosmtpd here offers no STARTTLS
        send(srv, "alice@example.test", ["bob@far.test"])
        assert wait_for(lambda: "result=deferred" in srv.log(), 15), srv.log()[-3000:]
        assert peer.messages == []
    assert "STARTTLS" in srv.log()
    r = subprocess.run([str(BIN), "-c", str(srv.conf_path), "queue", "list"],
                       capture_output=True, text=True, timeout=30)
    assert "deferred" in r.stdout and "bob@far.test" in r.stdout, r.stdout


def test_delay_warning_notice(relay_env, dns):
    make, _ = relay_env
    dns.add_mx("far.test", 10, "dead.far.test")
    dns.add_a("dead.far.test", "127.0.0.4")  # nothing listens
    srv = make({"delay_warning": "2s"})
    send(srv, "alice@example.test", ["bob@far.test"])
    assert wait_for(lambda: bounces(srv, "alice@example.test"), 20), srv.log()[-3000:]
    rep = bounces(srv, "alice@example.test")[0]
    b = dsn_blocks(rep)
    assert b[0]["action"] == "delayed" and b[0]["status"].startswith("4."), b
    assert "will-retry-until" in b[0]
    assert queue_files(srv)  # still queued


def test_queue_flush_and_delete_through_the_server(relay_env, dns):
    make, port = relay_env
    dns.add_mx("far.test", 10, "mx1.far.test")
    dns.add_a("mx1.far.test", "127.0.0.2")
    srv = make({"queue_retry": "1h"})
    send(srv, "alice@example.test", ["bob@far.test"], "flush me")
    send(srv, "alice@example.test", ["carol@far.test"], "delete me")
    # The first attempt fails; the second message waits behind the held
    # destination.
    assert wait_for(lambda: "result=deferred" in srv.log(), 15), srv.log()[-3000:]
    ids = queue_files(srv)
    assert len(ids) == 2
    env2 = (srv.data_dir / "queue" / "env" / ids[1]).read_text()
    victim = ids[1] if "carol@far.test" in env2 else ids[0]
    cli = lambda *a: subprocess.run([str(BIN), "-c", str(srv.conf_path), "queue"] + list(a),
                                    capture_output=True, text=True, timeout=30)
    r = cli("delete", victim)
    assert r.returncode == 0, r.stderr
    assert wait_for(lambda: victim not in queue_files(srv), 5)
    with Peer("127.0.0.2", port) as peer:
        r = cli("flush", "far.test")
        assert r.returncode == 0, r.stderr + r.stdout
        assert wait_for(lambda: peer.messages, 15), srv.log()[-3000:]
        assert [m[1] for m in peer.messages] == [["bob@far.test"]]


def test_connection_reused_for_the_next_message(relay_env, dns):
    make, port = relay_env
    dns.add_mx("far.test", 10, "mx1.far.test")
    dns.add_a("mx1.far.test", "127.0.0.2")
    srv = make()
    with Peer("127.0.0.2", port) as peer:
        for i in range(3):
            send(srv, "alice@example.test", ["bob@far.test"], "reuse %d" % i)
            assert wait_for(lambda: len(peer.messages) == i + 1, 15), srv.log()[-3000:]
        assert peer.ehlos == 1, peer.ehlos


def test_dsn_success_for_local_delivery(relay_env):
    make, _ = relay_env
    srv = make()
    send(srv, "alice@example.test", ["bob@example.test"], "local dsn",
         params={"bob@example.test": "NOTIFY=SUCCESS ORCPT=rfc822;bob@example.test"})
    assert len(srv.delivered("bob@example.test")) == 1
    assert wait_for(lambda: bounces(srv, "alice@example.test"), 15), srv.log()[-3000:]
    b = dsn_blocks(bounces(srv, "alice@example.test")[0])
    assert b[0]["action"] == "delivered" and b[0]["status"] == "2.0.0", b
    assert b[0]["original-recipient"] == "rfc822; bob@example.test", b
    assert wait_for(lambda: not queue_files(srv), 10)
    # Without NOTIFY=SUCCESS nothing is sent back.
    send(srv, "alice@example.test", ["carol@example.test"], "no dsn")
    time.sleep(1.5)
    assert len(bounces(srv, "alice@example.test")) == 1


def test_notify_never_means_no_bounce(relay_env, dns):
    make, _ = relay_env
    dns.null_mx("nomail.test")
    srv = make()
    send(srv, "alice@example.test", ["x@nomail.test", "y@nomail.test"],
         params={"x@nomail.test": "NOTIFY=NEVER"})
    assert wait_for(lambda: bounces(srv, "alice@example.test"), 15), srv.log()[-3000:]
    time.sleep(1)
    reps = bounces(srv, "alice@example.test")
    assert len(reps) == 1
    assert [b["final-recipient"] for b in dsn_blocks(reps[0])] == ["rfc822; y@nomail.test"]


def test_too_many_received_headers_is_a_loop(relay_env, dns):
    make, port = relay_env
    dns.add_mx("far.test", 10, "mx1.far.test")
    dns.add_a("mx1.far.test", "127.0.0.2")
    srv = make()
    hops = ["Received: from hop%d.test by hop%d.test; Mon, 7 Dec 2026 10:00:00 +0000" % (i, i + 1)
            for i in range(101)]
    with Peer("127.0.0.2", port) as peer:
        with srv.connect() as c:
            c.ehlo()
            c.expect("MAIL FROM:<alice@example.test>", "250")
            c.expect("RCPT TO:<bob@far.test>", "250 2.1.5")
            r = c.data(dot_stuff(make_msg("looping", sender="alice@example.test", extra=hops)))
            assert r.code == 250
        assert wait_for(lambda: bounces(srv, "alice@example.test"), 15), srv.log()[-3000:]
        assert peer.messages == []
    b = dsn_blocks(bounces(srv, "alice@example.test")[0])
    assert b[0]["status"] == "5.4.6", b


def test_delivery_log_lines_carry_what_an_admin_greps_for(relay_env, dns):
    """Local and relayed delivery lines name the queue id, Message-ID,
    sender, recipient(s), size, delay and result."""
    import re
    make, port = relay_env
    dns.add_mx("far.test", 10, "mx1.far.test")
    dns.add_a("mx1.far.test", "127.0.0.2")
    srv = make()
    with Peer("127.0.0.2", port) as peer:
        with srv.connect() as c:
            c.ehlo()
            msg = make_msg("logged", sender="alice@example.test", to="bob@far.test",
                           msgid="where-is-my-mail@example.test")
            r = c.send_mail("alice@example.test", ["bob@far.test", "carol@example.test"], msg)
            assert r.code == 250
        assert wait_for(lambda: peer.messages, 15), srv.log()[-3000:]
    assert wait_for(lambda: "event=relay" in srv.log(), 10)
    log = srv.log()
    assert re.search(r"event=delivered id=\S+ msgid=<where-is-my-mail@example\.test> "
                     r"from=<alice@example\.test> rcpts=2 mailboxes=1 size=\d+ delay_ms=\d+ result=ok",
                     log), log[-2000:]
    assert re.search(r"event=relay id=\S+ msgid=<where-is-my-mail@example\.test> "
                     r"from=<alice@example\.test> to=<bob@far\.test> size=\d+ delay=\d+s "
                     r"result=sent relay=mx1\.far\.test", log), log[-2000:]


def test_delivered_to_per_mailbox_not_relayed(relay_env, dns):
    """Delivered-To (issue 12), as Postfix's local(8) writes it: each local
    copy names its own mailbox (after alias expansion), directly below
    Return-Path; the relayed copy has neither line."""
    make, port = relay_env
    dns.add_mx("far.test", 10, "mx1.far.test")
    dns.add_a("mx1.far.test", "127.0.0.2")
    srv = make(aliases="team: carol, dave")
    with Peer("127.0.0.2", port) as peer:
        send(srv, "alice@example.test", ["bob@example.test", "team@example.test", "x@far.test"],
             "delivered-to")
        assert wait_for(lambda: peer.messages, 15), srv.log()[-3000:]
        content = peer.messages[0][2]
        assert content.startswith(b"Received: from "), content[:200]
        assert b"Delivered-To" not in content
    bodies = {}
    for who in ("bob", "carol", "dave"):
        files = srv.delivered(who + "@example.test")
        assert len(files) == 1, who
        raw = files[0].read_bytes()
        assert raw.startswith(b"Return-Path: <alice@example.test>\nDelivered-To: %s@example.test\n"
                              b"Received: from " % who.encode()), raw[:200]
        assert raw.count(b"Delivered-To:") == 1
        # The name's S= and W= are this copy's sizes.
        name = files[0].name
        assert (",S=%d,W=%d" % (len(raw), len(raw) + raw.count(b"\n"))) in name, name
        bodies[who] = raw.split(b"\n", 2)[2]
    assert bodies["bob"] == bodies["carol"] == bodies["dave"]
