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
