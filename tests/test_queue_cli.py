"""`konvert queue list|show|flush|delete`, `mailq` and `sendmail -bp`
(SPEC.md "Command line", issue 10) against queue files that the test writes
itself in the queue_env format (src/queue/INTERNALS.md: escaped values,
fixed key order, a sha256 line over everything before it). The server is
not started: list/show read the files, delete removes them when no server
answers on data_dir/control.sock, and a tiny Python stand-in for that
socket checks the client side of the control protocol."""

import hashlib
import os
import re
import socket
import subprocess
import threading
import time

import pytest

from conftest import BIN

MSG_RE = re.compile(r"^([0-9A-Z]{16})  +(\S+) +(\d+)  <(.*)>$")
ERR_RE = re.compile(r"^([0-9A-Z]{16})  error: (.*)$")
RCPT_RE = re.compile(r"^  (pending|deferred|delivered|failed) +tries=(\d+) +next=(\S+) +<(.*)>$")
REPLY_RE = re.compile(r"^ +reply(?: from (\S+))?: (.*)$")
SUM_RE = re.compile(r"^-- (\d+) messages?, (\d+) recipients?(?:, (\d+) unreadable)?$")

ID1 = "0000000000000001"
ID2 = "0000000000000002"
ID3 = "0000000000000003"


# ---- writing queue files -------------------------------------------------

def esc(value):
    """queue_env escaping: 0x21..0x7e except '%' as is, every other byte %XX."""
    out = []
    for b in value.encode("utf-8") if isinstance(value, str) else value:
        if 0x21 <= b <= 0x7E and b != 0x25:
            out.append(chr(b))
        else:
            out.append("%%%02X" % b)
    return "".join(out)


def encode_env(env):
    lines = [("konvert-queue", "1"), ("id", env["id"]), ("sender", env.get("sender", ""))]
    if env.get("envid") is not None:
        lines.append(("envid", env["envid"]))
    lines += [
        ("ret", env.get("ret", "unset")),
        ("body", env.get("body", "7bit")),
        ("smtputf8", "1" if env.get("smtputf8") else "0"),
        ("created", str(env["created"])),
        ("size", str(env["size"])),
        ("skip", str(env.get("skip", 0))),
        ("bounce", "1" if env.get("bounce") else "0"),
        ("bounce-depth", str(env.get("bounce_depth", 0))),
        ("rcpts", str(len(env["rcpts"]))),
    ]
    for r in env["rcpts"]:
        lines.append(("rcpt", r["addr"]))
        if r.get("orcpt") is not None:
            lines.append(("orcpt", r["orcpt"]))
        lines += [
            ("notify", r.get("notify", "-")),
            ("state", r.get("state", "pending")),
            ("attempts", str(r.get("attempts", 0))),
            ("next-try", str(r.get("next_try", 0))),
        ]
        if r.get("reply") is not None:
            lines.append(("reply", r["reply"]))
        if r.get("mta") is not None:
            lines.append(("mta", r["mta"]))
        lines += [
            ("delay-notified", "1" if r.get("delay_notified") else "0"),
            ("dsn-sent", "1" if r.get("dsn_sent") else "0"),
        ]
    body = "".join("%s %s\n" % (k, esc(v)) for k, v in lines).encode("ascii")
    return body + b"sha256 " + hashlib.sha256(body).hexdigest().encode("ascii") + b"\n"


def queue_dirs(data_dir):
    q = data_dir / "queue"
    for sub in ("msg", "env", "corrupt"):
        (q / sub).mkdir(parents=True, exist_ok=True)
    return q


def put_message(data_dir, env, message):
    """Writes msg/ID and env/ID; size (and skip, from a Return-Path first
    line) are filled in from message."""
    q = queue_dirs(data_dir)
    raw = message.encode("utf-8")
    env = dict(env)
    env["size"] = len(raw)
    if raw.startswith(b"Return-Path:"):
        env.setdefault("skip", raw.index(b"\n") + 1)
    (q / "msg" / env["id"]).write_bytes(raw)
    (q / "env" / env["id"]).write_bytes(encode_env(env))
    return env


MESSAGE1 = ("Return-Path: <alice@example.test>\n"
            "Received: from localhost by mx.test\n"
            "\twith ESMTP id 0000000000000001\n"
            "From: Alice <alice@example.test>\n"
            "Subject: queued\n"
            "\n"
            "Subject: this is the body, not a header\n")
MESSAGE2 = "From: MAILER-DAEMON@mx.test\nSubject: bounce\n\nbody\n"


def standard_queue(data_dir, now):
    """Two messages: one with four recipients in every state, one bounce
    (null sender) with one recipient."""
    e1 = put_message(data_dir, {
        "id": ID1,
        "sender": "alice@example.test",
        "envid": "env+2Did",
        "ret": "hdrs",
        "body": "8bitmime",
        "created": now - (2 * 3600 + 13 * 60 + 30),
        "rcpts": [
            {"addr": "bob@elsewhere.example", "state": "deferred", "attempts": 3,
             "next_try": now + 14 * 60 + 30, "notify": "success,failure",
             "orcpt": "rfc822;bob@elsewhere.example",
             "reply": "451 4.7.1 Try again later\nsecond line", "mta": "mx1.elsewhere.example"},
            {"addr": "carol@example.org", "state": "pending", "attempts": 0, "next_try": now - 5},
            {"addr": "dave@example.test", "state": "delivered", "attempts": 1, "next_try": now - 60,
             "reply": "250 ok", "dsn_sent": True},
            {"addr": "jörg@example.org", "state": "failed", "attempts": 2, "next_try": 0,
             "reply": "550 5.1.1 " + "x" * 300},
        ],
    }, MESSAGE1)
    e2 = put_message(data_dir, {
        "id": ID2,
        "sender": "",
        "created": now - 50,
        "bounce": True,
        "bounce_depth": 1,
        "rcpts": [{"addr": "erin@other.test", "state": "pending", "next_try": now}],
    }, MESSAGE2)
    return e1, e2


def parse_list(text):
    """-> (messages, summary): messages as dicts in output order."""
    lines = text.splitlines()
    assert lines[0].startswith("Queue ID"), text
    msgs, summary, cur = [], None, None
    for line in lines[1:]:
        if not line:
            continue
        m = MSG_RE.match(line)
        if m:
            cur = {"id": m[1], "age": m[2], "size": int(m[3]), "sender": m[4], "rcpts": []}
            msgs.append(cur)
            continue
        m = ERR_RE.match(line)
        if m:
            cur = {"id": m[1], "error": m[2], "rcpts": []}
            msgs.append(cur)
            continue
        m = RCPT_RE.match(line)
        if m:
            cur["rcpts"].append({"state": m[1], "tries": int(m[2]), "next": m[3], "addr": m[4]})
            continue
        m = REPLY_RE.match(line)
        if m:
            cur["rcpts"][-1]["mta"] = m[1]
            cur["rcpts"][-1]["reply"] = m[2]
            continue
        m = SUM_RE.match(line)
        assert m and summary is None, "unexpected line %r in:\n%s" % (line, text)
        summary = (int(m[1]), int(m[2]), int(m[3] or 0))
    assert summary is not None, text
    return msgs, summary


# ---- fixtures ------------------------------------------------------------------

@pytest.fixture
def srv(make_server):
    return make_server(users=False)


def run(argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, **kw)


def q(srv, *args):
    return srv.cli("queue", *args)


# ---- list ------------------------------------------------------------------

def test_empty_queue_without_directory(srv):
    assert not (srv.data_dir / "queue").exists()
    r = q(srv, "list")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "Mail queue is empty\n"
    # Looking created nothing (as root that would be a root-owned dir).
    assert not (srv.data_dir / "queue").exists()


def test_empty_queue_with_directories(srv):
    queue_dirs(srv.data_dir)
    r = q(srv, "list")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "Mail queue is empty\n"


def test_list(srv):
    now = int(time.time())
    e1, e2 = standard_queue(srv.data_dir, now)
    r = q(srv, "list")
    assert r.returncode == 0, r.stderr
    msgs, summary = parse_list(r.stdout)
    assert summary == (2, 5, 0)
    assert [m["id"] for m in msgs] == [ID1, ID2]
    m1, m2 = msgs
    assert m1["age"] == "2h13m"
    assert m1["size"] == e1["size"]
    assert m1["sender"] == "alice@example.test"
    r1 = m1["rcpts"]
    assert [x["addr"] for x in r1] == ["bob@elsewhere.example", "carol@example.org",
                                       "dave@example.test", "jörg@example.org"]
    assert [x["state"] for x in r1] == ["deferred", "pending", "delivered", "failed"]
    assert [x["tries"] for x in r1] == [3, 0, 1, 2]
    assert [x["next"] for x in r1] == ["14m", "now", "-", "-"]
    # The reply: one line, from the host that gave it.
    assert r1[0]["reply"] == "451 4.7.1 Try again later..."
    assert r1[0]["mta"] == "mx1.elsewhere.example"
    assert "reply" not in r1[1]
    assert r1[2]["reply"] == "250 ok" and r1[2]["mta"] is None
    assert r1[3]["reply"].startswith("550 5.1.1 xxx") and r1[3]["reply"].endswith("...")
    assert len(r1[3]["reply"]) <= 210
    # A slow machine may cross a second or two between writing and listing.
    assert m2["sender"] == "" and m2["age"] in ("50s", "51s", "52s") and m2["size"] == e2["size"]
    assert m2["rcpts"] == [{"state": "pending", "tries": 0, "next": "now",
                            "addr": "erin@other.test"}]


def test_list_is_the_same_as_mailq_and_sendmail_bp(srv, tmp_path):
    now = int(time.time())
    standard_queue(srv.data_dir, now)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for name in ("mailq", "sendmail"):
        os.symlink(BIN, bindir / name)
    listed = q(srv, "list")
    mailq = run([str(bindir / "mailq"), "-c", str(srv.conf_path)])
    bp = run([str(bindir / "sendmail"), "-c", str(srv.conf_path), "-bp"])
    sub_bp = srv.cli("sendmail", "-bp")
    # Ages and next-try times move on between the runs (a slow machine
    # crosses a second): compare with the durations blanked out.
    def same(text):
        return re.sub(r"\b\d+[smhd](\d+[mh])?\b", "T", text)

    for r in (listed, mailq, bp, sub_bp):
        assert r.returncode == 0, r.stderr
        assert same(r.stdout) == same(listed.stdout)
    assert parse_list(mailq.stdout)[1] == (2, 5, 0)
    # mailq takes no arguments of its own.
    r = run([str(bindir / "mailq"), "-c", str(srv.conf_path), "extra"])
    assert r.returncode == 2


def test_mailq_empty(srv, tmp_path):
    os.symlink(BIN, tmp_path / "mailq")
    r = run([str(tmp_path / "mailq"), "-c", str(srv.conf_path)])
    assert r.returncode == 0, r.stderr
    assert r.stdout == "Mail queue is empty\n"


def test_corrupt_envelope_is_listed_with_its_error(srv):
    now = int(time.time())
    standard_queue(srv.data_dir, now)
    env3 = put_message(srv.data_dir, {
        "id": ID3, "sender": "x@example.test", "created": now,
        "rcpts": [{"addr": "y@example.org"}]}, "Subject: x\n\ny\n")
    path = srv.data_dir / "queue" / "env" / ID3
    data = bytearray(path.read_bytes())
    data[data.index(b"y@example.org")] = ord("z")  # the seal no longer matches
    path.write_bytes(bytes(data))
    r = q(srv, "list")
    assert r.returncode == 0, r.stderr
    msgs, summary = parse_list(r.stdout)
    assert summary == (3, 5, 1)
    assert [m["id"] for m in msgs] == [ID1, ID2, ID3]
    assert "checksum mismatch" in msgs[2]["error"]
    assert msgs[2]["rcpts"] == []
    assert env3["size"] > 0
    # A cut-off envelope too.
    path.write_bytes(bytes(data[: len(data) // 2]))
    msgs, summary = parse_list(q(srv, "list").stdout)
    assert "truncated" in msgs[2]["error"]
    # show names the problem and fails.
    r = q(srv, "show", ID3)
    assert r.returncode == 1
    assert "truncated" in r.stderr


# ---- show ------------------------------------------------------------------

def test_show(srv):
    now = int(time.time())
    e1, _ = standard_queue(srv.data_dir, now)
    r = q(srv, "show", ID1)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    head, _, rest = out.partition("\nrecipient 1: ")
    fields = dict(line.split(": ", 1) for line in head.splitlines())
    assert fields["id"] == ID1
    assert fields["sender"] == "<alice@example.test>"
    assert fields["envid"] == "env+2Did"
    assert fields["ret"] == "hdrs"
    assert fields["body"] == "8bitmime"
    assert fields["smtputf8"] == "no"
    assert fields["created"].endswith("(2h13m ago)")
    assert fields["size"] == str(e1["size"])
    assert fields["skip"] == str(e1["skip"])
    assert fields["bounce"] == "no"
    assert fields["bounce-depth"] == "0"
    assert fields["recipients"] == "4"
    blocks = ("recipient 1: " + rest).split("\n\n")
    rcpt_blocks, header = blocks[:4], blocks[4]
    b1 = rcpt_blocks[0].splitlines()
    assert b1[0] == "recipient 1: <bob@elsewhere.example>"
    f1 = dict(l.strip().split(": ", 1) for l in b1[1:])
    assert f1["orcpt"] == "rfc822;bob@elsewhere.example"
    assert f1["notify"] == "success,failure"
    assert f1["state"] == "deferred"
    assert f1["attempts"] == "3"
    assert f1["next-try"].endswith("(in 14m)")
    assert f1["last-reply"] == "451 4.7.1 Try again later\\x0asecond line"
    assert f1["remote-mta"] == "mx1.elsewhere.example"
    assert f1["delay-notified"] == "no" and f1["dsn-sent"] == "no"
    f3 = dict(l.strip().split(": ", 1) for l in rcpt_blocks[2].splitlines()[1:])
    assert f3["state"] == "delivered" and f3["dsn-sent"] == "yes" and f3["orcpt"] == "-"
    assert f3["notify"] == "-" and "(" not in f3["next-try"]
    f2 = dict(l.strip().split(": ", 1) for l in rcpt_blocks[1].splitlines()[1:])
    assert f2["next-try"].endswith("(due now)")
    assert rcpt_blocks[3].splitlines()[0] == "recipient 4: <jörg@example.org>"
    # The header as relayed: no Return-Path, folded lines kept, no body.
    assert header == ("header:\n"
                      "Received: from localhost by mx.test\n"
                      "\twith ESMTP id 0000000000000001\n"
                      "From: Alice <alice@example.test>\n"
                      "Subject: queued\n")


def test_show_null_sender_and_missing_message_file(srv):
    now = int(time.time())
    standard_queue(srv.data_dir, now)
    r = q(srv, "show", ID2)
    assert r.returncode == 0, r.stderr
    assert "sender: <>\n" in r.stdout
    assert "bounce: yes\nbounce-depth: 1\n" in r.stdout
    assert r.stdout.endswith("header:\nFrom: MAILER-DAEMON@mx.test\nSubject: bounce\n")
    (srv.data_dir / "queue" / "msg" / ID2).unlink()
    r = q(srv, "show", ID2)
    assert r.returncode == 0, r.stderr
    assert "header:\n(" in r.stdout


def test_show_unknown_and_bad_ids(srv):
    r = q(srv, "show", ID1)  # no queue at all
    assert r.returncode == 1 and ID1 in r.stderr
    standard_queue(srv.data_dir, int(time.time()))
    r = q(srv, "show", "FFFFFFFFFFFFFFFF")
    assert r.returncode == 1 and "FFFFFFFFFFFFFFFF" in r.stderr
    for bad in ("0000000000000001x", "../../../etc/pas", "abc"):
        r = q(srv, "show", bad)
        assert r.returncode == 1, bad
        assert r.stderr.strip()


# ---- delete / flush without a server ------------------------------------------

def test_delete_without_server(srv):
    standard_queue(srv.data_dir, int(time.time()))
    qd = srv.data_dir / "queue"
    r = q(srv, "delete", ID1)
    assert r.returncode == 0, r.stderr
    assert not (qd / "env" / ID1).exists()
    assert not (qd / "msg" / ID1).exists()
    assert (qd / "env" / ID2).exists() and (qd / "msg" / ID2).exists()
    msgs, summary = parse_list(q(srv, "list").stdout)
    assert [m["id"] for m in msgs] == [ID2] and summary == (1, 1, 0)
    r = q(srv, "delete", ID1)
    assert r.returncode == 1 and ID1 in r.stderr
    r = q(srv, "delete", "not-an-id")
    assert r.returncode == 1
    # A corrupt envelope can be deleted too.
    (qd / "env" / ID2).write_bytes(b"garbage\n")
    r = q(srv, "delete", ID2)
    assert r.returncode == 0, r.stderr
    assert q(srv, "list").stdout == "Mail queue is empty\n"


def test_delete_without_queue_creates_nothing(srv):
    r = q(srv, "delete", ID1)
    assert r.returncode == 1 and ID1 in r.stderr
    assert not (srv.data_dir / "queue").exists()


def test_flush_without_server(srv):
    r = q(srv, "flush")
    assert r.returncode == 0, r.stderr
    assert "konvert is not running; the queue is tried when it starts" in r.stdout
    r = q(srv, "flush", "example.org")
    assert r.returncode == 0, r.stderr
    r = q(srv, "flush", "bad domain\nDELETE 0000000000000001")
    assert r.returncode == 1


def test_stale_socket_counts_as_no_server(srv):
    standard_queue(srv.data_dir, int(time.time()))
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(srv.data_dir / "control.sock"))
    s.close()  # bound, never listening: ECONNREFUSED
    r = q(srv, "flush")
    assert r.returncode == 0 and "not running" in r.stdout
    r = q(srv, "delete", ID1)
    assert r.returncode == 0, r.stderr
    assert not (srv.data_dir / "queue" / "env" / ID1).exists()


# ---- flush / delete through the control socket ----------------------------------

class FakeControl:
    """Answers each connection on data_dir/control.sock with a fixed line
    and records the command lines it got."""

    def __init__(self, path, answer):
        self.answer = answer
        self.got = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        self.sock.listen(4)
        self.sock.settimeout(10)
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with c:
                data = b""
                while b"\n" not in data:
                    chunk = c.recv(600)
                    if not chunk:
                        break
                    data += chunk
                self.got.append(data.decode())
                c.sendall(self.answer.encode())

    def close(self):
        self.sock.close()
        self.thread.join(5)


@pytest.mark.parametrize("args, sent, answer, rc, out", [
    (("flush",), "FLUSH\n", "OK flushing 3 messages\n", 0, "flushing 3 messages"),
    (("flush", "Example.ORG"), "FLUSH Example.ORG\n", "OK flushing\n", 0, "flushing"),
    (("flush", "@example.org"), "FLUSH example.org\n", "OK flushing\n", 0, "flushing"),
    (("delete", ID1), "DELETE %s\n" % ID1, "OK deleted\n", 0, "deleted"),
    (("delete", ID1), "DELETE %s\n" % ID1, "ERR no message %s in the queue\n" % ID1, 1,
     "no message %s in the queue" % ID1),
    (("flush",), "FLUSH\n", "ERR permission denied\n", 1, "permission denied"),
    (("flush",), "FLUSH\n", "what?\n", 1, "unexpected answer"),
])
def test_commands_through_control_socket(srv, args, sent, answer, rc, out):
    standard_queue(srv.data_dir, int(time.time()))
    fake = FakeControl(srv.data_dir / "control.sock", answer)
    try:
        r = q(srv, *args)
    finally:
        fake.close()
    assert fake.got == [sent]
    assert r.returncode == rc, (r.stdout, r.stderr)
    assert out in (r.stdout if rc == 0 else r.stderr)
    # With a server running, delete leaves the files to the server.
    assert (srv.data_dir / "queue" / "env" / ID1).exists()


# ---- usage ----------------------------------------------------------------------

@pytest.mark.parametrize("args", [(), ("bogus",), ("show",), ("delete",), ("list", "x"),
                                  ("show", ID1, ID2), ("flush", "a", "b"), ("list", "-v")])
def test_usage(srv, args):
    r = q(srv, *args)
    assert r.returncode == 2, (args, r.stdout, r.stderr)
    assert "usage" in r.stderr


def test_help(srv):
    r = q(srv, "--help")
    assert r.returncode == 0 and "queue show ID" in r.stdout
    r = srv.cli("--help")
    assert r.returncode == 0 and "queue delete ID" in r.stdout
