"""konvert sendmail (and the binary called as sendmail / mailq): the
command-line submission path scripts, cron and mutt use. The message goes
over the server's local socket through the same checks and the same
durable path as SMTP."""

import os
import subprocess

import pytest

from conftest import BIN
from util import header_value, wait_for


def sendmail(srv, args, stdin, argv0=None, tmp=None):
    if argv0 is not None:
        link = tmp / argv0
        if not link.exists():
            os.symlink(BIN, link)
        cmd = [str(link), "-c", str(srv.conf_path)] + args
    else:
        cmd = [str(BIN), "-c", str(srv.conf_path), "sendmail"] + args
    return subprocess.run(cmd, input=stdin, capture_output=True, timeout=30)


MSG = (b"From: Alice <alice@example.test>\n"
       b"To: bob@example.test\n"
       b"Cc: Carol <carol@example.test>\n"
       b"Bcc: dave@example.test\n"
       b"Subject: from the command line\n"
       b"\n"
       b"hello\n"
       b".\n"
       b"a line after a lone dot\n")


def test_t_i_reads_recipients_and_drops_bcc(make_server):
    srv = make_server()
    srv.start()
    r = sendmail(srv, ["-t", "-i"], MSG)
    assert r.returncode == 0, r.stderr
    for who in ("bob", "carol", "dave"):
        files = srv.delivered("%s@example.test" % who)
        assert len(files) == 1, who
        data = files[0].read_bytes()
        assert b"Bcc:" not in data
        assert b"a line after a lone dot" in data  # -i: "." is data
        # The Received line says it came from the local command line.
        assert b"Received: by mx.test (konvert, from userid %d" % os.getuid() in data, data[:300]
    assert srv.delivered("alice@example.test") == []


def test_lone_dot_ends_input_without_i(make_server):
    srv = make_server()
    srv.start()
    r = sendmail(srv, ["bob@example.test"], MSG)
    assert r.returncode == 0, r.stderr
    data = srv.delivered("bob@example.test")[0].read_bytes()
    assert b"hello" in data and b"a line after a lone dot" not in data


def test_f_sender_and_added_headers(make_server):
    srv = make_server()
    srv.start()
    r = sendmail(srv, ["-f", "cron@example.test", "-F", "Cron Daemon", "alice"],
                 b"Subject: nightly\n\nall good\n")
    assert r.returncode == 0, r.stderr
    files = srv.delivered("alice@example.test")  # bare name: first local domain
    assert len(files) == 1
    data = files[0].read_bytes()
    assert data.startswith(b"Return-Path: <cron@example.test>\n")
    content = data.split(b"\n", 1)[1]
    assert header_value(content, "From") == '"Cron Daemon" <cron@example.test>'
    assert header_value(content, "Date") and header_value(content, "Message-ID")


def test_called_as_sendmail_and_bs(make_server, tmp_path):
    srv = make_server()
    srv.start()
    r = sendmail(srv, ["-oi", "bob@example.test"], b"Subject: argv0\n\nx\n", argv0="sendmail",
                 tmp=tmp_path)
    assert r.returncode == 0, r.stderr
    session = (b"EHLO me\r\nMAIL FROM:<alice@example.test>\r\nRCPT TO:<carol@example.test>\r\n"
               b"DATA\r\nSubject: bs\r\n\r\nvia -bs\r\n.\r\nQUIT\r\n")
    r = sendmail(srv, ["-bs"], session)
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode()
    assert out.startswith("220 ") and "250 2.0.0" in out and "221" in out, out
    assert len(srv.delivered("carol@example.test")) == 1


def test_exit_codes(make_server):
    srv = make_server()
    # Not running: try later (EX_TEMPFAIL).
    r = sendmail(srv, ["bob@example.test"], b"Subject: x\n\nx\n")
    assert r.returncode == 75 and b"is it running" in r.stderr, r.stderr
    srv.start()
    r = sendmail(srv, ["nobody@example.test"], b"Subject: x\n\nx\n")
    assert r.returncode == 67, r.stderr  # EX_NOUSER
    assert b"550 5.1.1" in r.stderr
    r = sendmail(srv, [], b"Subject: x\n\nx\n")
    assert r.returncode == 64  # EX_USAGE: no recipients
    r = sendmail(srv, ["-q"], b"")
    assert r.returncode == 64
    # A remote recipient is queued like any relayed mail.
    r = sendmail(srv, ["someone@far.test"], b"Subject: out\n\nx\n")
    assert r.returncode == 0, r.stderr
    assert wait_for(lambda: list((srv.data_dir / "queue" / "env").iterdir()), 5)
