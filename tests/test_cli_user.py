"""`konvert user add|passwd|del|list` (SPEC.md "Command line", "Files under
data_dir"): exit codes, the users file format, error cases."""

import subprocess

import pytest

from conftest import BIN, run_cli


@pytest.fixture
def srv(make_server):
    """A configured server (not started) with no accounts."""
    return make_server(users=False)


def users_file(srv):
    return (srv.data_dir / "users").read_text()


def listed(srv):
    r = srv.cli("user", "list")
    assert r.returncode == 0, r.stderr
    return [l for l in r.stdout.splitlines() if l.strip()]


def test_add_and_list(srv):
    r = srv.cli("user", "add", "alice@example.test", "--password-stdin", stdin="s3cret-alice\n")
    assert r.returncode == 0, r.stderr
    srv.add_user("bob@other.test", "s3cret-bob")
    assert sorted(listed(srv)) == ["alice@example.test", "bob@other.test"]
    text = users_file(srv)
    assert "s3cret" not in text
    lines = text.splitlines()
    assert len(lines) == 2
    for line, addr in zip(sorted(lines), ["alice@example.test", "bob@other.test"]):
        assert line.startswith(addr + ":$y$"), line  # yescrypt by default


def test_list_empty(srv):
    assert listed(srv) == []


def test_conf_after_subcommand(srv):
    r = run_cli(srv.conf_path, "user", "add", "carol@example.test", "--password-stdin", stdin="pw\n",
                conf_first=False)
    assert r.returncode == 0, r.stderr
    r = run_cli(srv.conf_path, "user", "list", conf_first=False)
    assert r.returncode == 0 and r.stdout.split() == ["carol@example.test"], (r.stdout, r.stderr)


def test_add_stores_lower_case_and_rejects_duplicate(srv):
    srv.add_user("Dave@Example.TEST", "pw")
    assert listed(srv) == ["dave@example.test"]
    for again in ("dave@example.test", "DAVE@example.test"):
        r = srv.cli("user", "add", again, "--password-stdin", stdin="other\n")
        assert r.returncode == 1, (again, r.returncode, r.stderr)
        assert r.stderr.strip(), "no error message"
    assert listed(srv) == ["dave@example.test"]


@pytest.mark.parametrize("addr", ["alice@nowhere.test", "alice@example.test.evil", "alice@test"])
def test_add_unknown_domain(srv, addr):
    r = srv.cli("user", "add", addr, "--password-stdin", stdin="pw\n")
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert r.stderr.strip()
    assert listed(srv) == []


@pytest.mark.parametrize("addr", ["not-an-address", "@example.test", "alice@", "a b@example.test",
                                  "alice@@example.test", "al:ice@example.test",
                                  "a" * 65 + "@example.test", ""])
def test_add_bad_address(srv, addr):
    r = srv.cli("user", "add", addr, "--password-stdin", stdin="pw\n")
    assert r.returncode == 1, (addr, r.returncode, r.stderr)
    assert r.stderr.strip()
    assert listed(srv) == []


def test_del(srv):
    srv.add_user("alice@example.test", "pw")
    srv.add_user("bob@example.test", "pw")
    r = srv.cli("user", "del", "ALICE@example.test")
    assert r.returncode == 0, r.stderr
    assert listed(srv) == ["bob@example.test"]
    r = srv.cli("user", "del", "alice@example.test")
    assert r.returncode != 0, "deleting a missing account must fail"
    assert r.stderr.strip()
    assert listed(srv) == ["bob@example.test"]


def test_passwd(srv):
    srv.add_user("alice@example.test", "first")
    before = users_file(srv)
    r = srv.cli("user", "passwd", "alice@example.test", "--password-stdin", stdin="second\n")
    assert r.returncode == 0, r.stderr
    after = users_file(srv)
    assert before != after and after.startswith("alice@example.test:$y$")
    assert listed(srv) == ["alice@example.test"]
    r = srv.cli("user", "passwd", "nobody@example.test", "--password-stdin", stdin="x\n")
    assert r.returncode != 0


def test_hand_written_line(srv):
    """SPEC: a line with only ADDRESS:HASH written by hand works."""
    h = subprocess.run(["openssl", "passwd", "-6", "handmade"], capture_output=True, text=True, check=True)
    (srv.data_dir / "users").write_text("zed@example.test:%s\n" % h.stdout.strip())
    assert listed(srv) == ["zed@example.test"]
    srv.add_user("amy@example.test", "pw")
    assert sorted(listed(srv)) == ["amy@example.test", "zed@example.test"]
    assert "zed@example.test:" + h.stdout.strip() in users_file(srv)
    srv.start()
    with srv.connect() as c:
        c.ehlo()
        c.expect("MAIL FROM:<x@y.test>", "250 2.1.0")
        c.expect("RCPT TO:<zed@example.test>", "250 2.1.5")
        c.expect("RCPT TO:<amy@example.test>", "250 2.1.5")


def test_missing_config_file_is_an_error(srv, tmp_path):
    r = run_cli(tmp_path / "does-not-exist.conf", "user", "list")
    assert r.returncode != 0 and "does-not-exist.conf" in r.stderr


def test_unknown_config_key_names_file_and_line(srv):
    text = srv.conf_path.read_text() + "no_such_key = 1\n"
    srv.conf_path.write_text(text)
    line_no = len(text.splitlines())
    r = srv.cli("user", "list")
    assert r.returncode != 0
    assert "%s:%d" % (srv.conf_path, line_no) in r.stderr, r.stderr


def test_serve_refuses_bad_config(srv):
    """SPEC: a malformed value is an error naming file and line, and the
    server does not start."""
    text = srv.conf_path.read_text() + "max_recipients = lots\n"
    srv.conf_path.write_text(text)
    r = subprocess.run([str(BIN), "serve", "-c", str(srv.conf_path)], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode != 0
    assert "%s:%d" % (srv.conf_path, len(text.splitlines())) in r.stderr, r.stderr

