"""The Prometheus endpoint (issue 12): metrics_listen serves GET /metrics in
the text format; counters move with real traffic."""

import re
import socket
import urllib.request

from conftest import free_port
from util import make_msg

LINE_RE = re.compile(r'^([a-z_]+)(\{[^}]*\})? (\d+(\.\d+)?)$')


def scrape(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = r.read().decode()
    series = {}
    for line in text.splitlines():
        if line.startswith("#") or not line:
            continue
        m = LINE_RE.match(line)
        assert m, line
        series[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return series


def test_metrics_endpoint_counts_traffic(make_server):
    port = free_port()
    srv = make_server(config={"metrics_listen": "127.0.0.1:%d" % port})
    srv.start()
    before = scrape(port)
    assert before['konvert_messages_received_total{listener="smtp"}'] == 0
    with srv.connect() as c:
        c.ehlo()
        r = c.send_mail("x@y.test", ["alice@example.test", "bob@example.test"], make_msg("m"))
        assert r.code == 250
        during = scrape(port)
        assert during['konvert_sessions{listener="smtp"}'] >= 1
    after = scrape(port)
    assert after['konvert_messages_received_total{listener="smtp"}'] == 1
    assert after['konvert_deliveries_total{result="delivered",where="local"}'] == 2
    assert after['konvert_connections_total{listener="smtp"}'] >= 2  # readiness probe too
    assert after["konvert_queue_messages"] == 0
    assert 'konvert_delivery_seconds_bucket{le="+Inf"}' in after
    # Only GET/HEAD; anything else is refused.
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"POST /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.1 405")


def test_metrics_off_by_default(make_server):
    srv = make_server()
    srv.start()
    assert "listener=metrics" not in srv.log()


def test_expired_message_counts_as_bounced(make_server):
    """A queued message past queue_lifetime bounces: one event=expire log
    line and one bounced remote delivery in the metrics (issue 12)."""
    import time
    from test_queue_cli import put_message
    from util import wait_for

    port = free_port()
    srv = make_server(config={"metrics_listen": "127.0.0.1:%d" % port, "queue_lifetime": "1d"})
    now = int(time.time())
    put_message(srv.data_dir, {
        "id": "00000000000000E1", "sender": "alice@example.test", "created": now - 2 * 86400,
        "rcpts": [{"addr": "far@elsewhere.example", "state": "deferred", "attempts": 4,
                   "next_try": now + 3600, "reply": "451 4.4.1 no answer"}],
    }, "Return-Path: <alice@example.test>\nSubject: old\n\nbody\n")
    srv.start()
    assert wait_for(lambda: "event=expire id=00000000000000E1" in srv.log(), timeout=15), srv.log()
    line = [l for l in srv.log().splitlines() if "event=expire" in l][0]
    assert "to=<far@elsewhere.example>" in line and "result=bounced" in line
    series = scrape(port)
    assert series['konvert_deliveries_total{result="bounced",where="remote"}'] == 1
    # The sender gets the failure notice in her mailbox.
    assert wait_for(lambda: srv.delivered("alice@example.test"), timeout=15)
