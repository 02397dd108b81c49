"""The README's "Try it" commands work when pasted (issue 12): the demo
server is started the way `make run` starts it (tools/run-demo.sh: the
built-in defaults, ports 2525/5870/4650/1100/9950/1090, state in ./var,
the demo account), and the README's code block runs in bash, unchanged,
with swaks and curl. Skipped when one of the fixed demo ports is taken
(a `make run` of the developer's own, say)."""
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import BIN, ROOT, require_binary

DEMO_PORTS = (2525, 5870, 4650, 1100, 9950, 1090)


def try_it_block():
    """The indented code block of the README's "## Try it" section."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Try it\n", 1)[1].split("\n## ", 1)[0]
    lines = [l[4:] for l in section.splitlines() if l.startswith("    ")]
    assert lines, "no code block under ## Try it"
    return "\n".join(lines) + "\n"


def port_free(port):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def wait_port(port, proc, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the demo server exited"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("port %d never opened" % port)


@pytest.fixture
def demo():
    require_binary()
    for tool in ("swaks", "curl"):
        if shutil.which(tool) is None:
            pytest.skip("%s is not installed" % tool)
    if not all(port_free(p) for p in DEMO_PORTS):
        pytest.skip("a demo port is in use")
    # Not under pytest's tmp_path: as root the server runs as the konvert
    # user, who must be able to reach ./var.
    work = Path(tempfile.mkdtemp(prefix="konvert-readme-", dir="/tmp"))
    work.chmod(0o755)
    (work / "build").mkdir()
    os.symlink(BIN, work / "build" / "konvert")
    log = open(work / "server.log", "wb")
    proc = subprocess.Popen(["sh", str(ROOT / "tools" / "run-demo.sh")], cwd=work,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_port(2525, proc)
        wait_port(1100, proc)
        yield work, proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 15)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)
                proc.wait()
        log.close()
        shutil.rmtree(work, ignore_errors=True)


def test_try_it_commands_work_as_pasted(demo):
    work, proc = demo
    script = try_it_block()
    r = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], cwd=work,
                       capture_output=True, timeout=120)
    out = r.stdout.decode("utf-8", "replace")
    assert r.returncode == 0, (out[-3000:], r.stderr.decode()[-3000:],
                               (work / "server.log").read_text()[-3000:])
    # Four messages went in: swaks and curl on port 25's stand-in, curl on
    # submission (an LF-only file), swaks on smtps.
    md = work / "var" / "mail" / "localhost" / "demo"
    files = [p for sub in ("new", "cur") for p in (md / sub).iterdir()]
    assert len(files) == 4, sorted(p.name for p in files)
    stored = b"".join(p.read_bytes() for p in files)
    assert b"Subject: hi\n" in stored
    assert b"Subject: from a file\n\nwritten with an editor\n" in stored
    # curl pop3://.../1 printed message 1, and the POP3S LIST four lines.
    assert "Return-Path: <" in out
    assert len(re.findall(r"(?m)^[1-4] \d+\r?$", out)) == 4, out[-2000:]
    assert (work / "message.txt").is_file()
