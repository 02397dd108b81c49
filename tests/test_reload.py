"""SIGHUP re-reads konvert.conf (issue 12): live keys take effect without
dropping sessions, listeners open and close, restart-only keys are named
and keep their running values, a broken file keeps the running
configuration."""

import socket

from conftest import free_port
from util import wait_for


def reload_with(srv, **changes):
    srv.overrides.update(changes)
    srv.write_config()
    mark = len(srv.log())
    srv.hup()
    assert wait_for(lambda: "event=reload-config" in srv.log()[mark:], 10), srv.log()[-2000:]
    return srv.log()[mark:]


def refused(port):
    with socket.socket() as s:
        s.settimeout(2)
        return s.connect_ex(("127.0.0.1", port)) != 0


def test_live_keys_take_effect_and_sessions_stay(make_server):
    srv = make_server()
    srv.start()
    with srv.connect() as old:
        old.ehlo()
        text = reload_with(srv, hostname="mx2.test", max_recipients="2")
        assert "result=ok" in text and "hostname" in text and "max_recipients" in text, text
        # The session opened before the reload goes on.
        old.expect("NOOP", "250")
    with srv.connect() as c:
        assert "mx2.test" in c.greeting.line, c.greeting.lines
        c.ehlo()
        c.expect("MAIL FROM:<x@y.test>", "250")
        c.expect("RCPT TO:<alice@example.test>", "250")
        c.expect("RCPT TO:<bob@example.test>", "250")
        assert c.cmd("RCPT TO:<carol@example.test>").line.startswith("452 4.5.3")


def test_listeners_open_and_close(make_server):
    srv = make_server()
    srv.start()
    old_port = srv.submission_port
    new_port = free_port()
    text = reload_with(srv, submission_listen="127.0.0.1:%d" % new_port)
    assert "event=listen-closed listener=submission" in text, text
    assert "event=listen listener=submission addr=127.0.0.1:%d" % new_port in text, text
    assert refused(old_port)
    with srv.connect(new_port) as c:
        assert c.greeting.code == 220
    srv.submission_port = new_port  # for the fixture's checks at the end


def test_restart_only_keys_are_named_and_kept(make_server, tmp_path):
    srv = make_server()
    srv.start()
    text = reload_with(srv, data_dir=str(tmp_path / "elsewhere"), max_message_size="1000")
    assert "a restart is needed for: data_dir" in text, text
    assert "result=ok" in text and "max_message_size" in text
    r = srv.cli("check-config")  # the file itself is fine
    assert r.returncode == 0
    # Mail still lands in the running data_dir.
    with srv.connect() as c:
        assert "250-SIZE 1000" in c.ehlo().lines
        r = c.send_mail("x@y.test", ["alice@example.test"],
                        b"Subject: small\r\n\r\nhi\r\n")
        assert r.code == 250
    assert len(srv.delivered("alice@example.test")) == 1
    assert not (tmp_path / "elsewhere").exists()


def test_broken_file_keeps_running_configuration(make_server):
    srv = make_server()
    srv.start()
    srv.conf_path.write_text(srv.conf_path.read_text() + "max_recipients = lots\n")
    mark = len(srv.log())
    srv.hup()
    assert wait_for(lambda: "event=reload-config result=failed" in srv.log()[mark:], 10)
    assert "keeping the running configuration" in srv.log()[mark:]
    with srv.connect() as c:
        c.ehlo()
        c.expect("MAIL FROM:<x@y.test>", "250")
        for who in ("alice", "bob", "carol"):
            c.expect("RCPT TO:<%s@example.test>" % who, "250")


def test_user_add_takes_effect_in_the_running_server(make_server):
    srv = make_server()
    srv.start()
    with srv.connect() as c:
        c.ehlo()
        c.expect("MAIL FROM:<x@y.test>", "250")
        assert c.cmd("RCPT TO:<newbie@example.test>").line.startswith("550 5.1.1")
    r = srv.add_user("newbie@example.test")
    assert "the running server has the change" in r.stdout, r.stdout
    with srv.connect() as c:
        c.ehlo()
        c.expect("MAIL FROM:<x@y.test>", "250")
        c.expect("RCPT TO:<newbie@example.test>", "250 2.1.5")
    r = srv.cli("user", "del", "newbie@example.test")
    assert r.returncode == 0 and "the running server has the change" in r.stdout
    with srv.connect() as c:
        c.ehlo()
        c.expect("MAIL FROM:<x@y.test>", "250")
        assert c.cmd("RCPT TO:<newbie@example.test>").line.startswith("550 5.1.1")


def test_user_add_without_server_says_so(make_server):
    srv = make_server()
    r = srv.add_user("later@example.test")
    assert "no server is running" in r.stdout, r.stdout
