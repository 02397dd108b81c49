"""SRS for forwarding aliases (issue 11): mail that a local alias forwards
outside leaves with its envelope sender rewritten into our domain
(SRS0=HASH=TT=origin=user@example.test), so SPF at the next hop checks our
domain; a bounce to that address goes back to the original sender; a forged
or tampered SRS address is refused, so the rewriting relays nothing else."""

import re

from test_relay import Peer, dns, relay_env, send  # noqa: F401
from util import dot_stuff, make_msg, wait_for

SRS_RE = re.compile(r"^SRS0=([A-Za-z0-9+/]{4})=([A-Z2-7]{2})=origin\.test=bob@example\.test$")


def forward_one(make, dns, port):
    dns.add_mx("far.test", 10, "mx1.far.test")
    dns.add_a("mx1.far.test", "127.0.0.2")
    srv = make(aliases="fwd: someone@far.test")
    with Peer("127.0.0.2", port) as peer:
        send(srv, "bob@origin.test", ["fwd@example.test"])
        assert wait_for(lambda: peer.messages, 15), srv.log()[-3000:]
    return srv, peer.messages[0]


def test_forwarded_mail_gets_an_srs_sender(relay_env, dns):
    make, port = relay_env
    srv, (mail_from, rcpts, content) = forward_one(make, dns, port)
    assert rcpts == ["someone@far.test"]
    assert SRS_RE.match(mail_from), mail_from
    # Only the envelope changes: the message keeps its own From.
    assert b"From: <bob@origin.test>" in content
    assert "event=srs" in srv.log() and "result=rewritten" in srv.log()


def test_local_sender_and_plain_relay_keep_their_sender(relay_env, dns):
    make, port = relay_env
    dns.add_mx("far.test", 10, "mx1.far.test")
    dns.add_a("mx1.far.test", "127.0.0.2")
    srv = make(aliases="fwd: someone@far.test")
    with Peer("127.0.0.2", port) as peer:
        send(srv, "alice@example.test", ["fwd@example.test"])
        send(srv, "bob@origin.test", ["someone@far.test"])  # relaying, not forwarding
        assert wait_for(lambda: len(peer.messages) == 2, 15), srv.log()[-3000:]
    senders = sorted(m[0] for m in peer.messages)
    assert senders == ["alice@example.test", "bob@origin.test"]


def test_bounce_to_srs_address_returns_to_sender(relay_env, dns):
    make, port = relay_env
    srv, (srs_addr, _, _) = forward_one(make, dns, port)
    dns.add_mx("origin.test", 10, "mx1.origin.test")
    dns.add_a("mx1.origin.test", "127.0.0.3")
    with Peer("127.0.0.3", port) as origin:
        with srv.connect() as c:
            c.ehlo("mx1.far.test")
            c.expect("MAIL FROM:<>", "250")
            c.expect("RCPT TO:<%s>" % srs_addr, "250 2.1.5")
            r = c.data(dot_stuff(make_msg("bounce", sender="MAILER-DAEMON@far.test",
                                          to=srs_addr)))
            assert r.code == 250, r.lines
        assert wait_for(lambda: origin.messages, 15), srv.log()[-3000:]
    assert origin.messages[0][1] == ["bob@origin.test"]
    assert "result=srs-return" in srv.log()


def test_tampered_or_forged_srs_address_is_refused(relay_env, dns):
    make, port = relay_env
    srv, (srs_addr, _, _) = forward_one(make, dns, port)
    m = SRS_RE.match(srs_addr)
    good_hash = m.group(1)
    bad_hash = ("AAAA" if good_hash.upper() != "AAAA" else "BBBB")
    forged = [
        srs_addr.replace(good_hash, bad_hash, 1),  # wrong hash
        srs_addr.replace("=bob@", "=eve@", 1),  # another user, same hash
        srs_addr.replace("origin.test", "victim.test", 1),  # another host
        "SRS0=abcd=AA=victim.test=eve@example.test",  # made up
    ]
    with srv.connect() as c:
        c.ehlo("mx1.far.test")
        c.expect("MAIL FROM:<>", "250")
        for a in forged:
            r = c.cmd("RCPT TO:<%s>" % a)
            assert r.line.startswith("550 5.1.1"), (a, r.lines)
        # The genuine one is still good (case of the hash does not matter).
        genuine = srs_addr.replace(good_hash, good_hash.swapcase(), 1)
        c.expect("RCPT TO:<%s>" % genuine, "250 2.1.5")


def test_srs_address_takes_only_bounces(relay_env, dns):
    make, port = relay_env
    srv, (srs_addr, _, _) = forward_one(make, dns, port)
    with srv.connect() as c:
        c.ehlo("spammer.test")
        c.expect("MAIL FROM:<eve@spammer.test>", "250")
        r = c.cmd("RCPT TO:<%s>" % srs_addr)
        assert r.line.startswith("550 5.7.1"), r.lines
