"""konvert check-config: validates a configuration without starting."""
import subprocess

from conftest import BIN


def run(*args):
    return subprocess.run([str(BIN), *args], capture_output=True, text=True, timeout=30)


def test_good_file(tmp_path):
    conf = tmp_path / "k.conf"
    conf.write_text("hostname = mx.test\ndomains = example.test\n")
    r = run("-c", str(conf), "check-config")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "%s: ok\n" % conf
    r = run("-c", str(conf), "check-config", "-v")
    assert r.returncode == 0
    assert "hostname = mx.test\n" in r.stdout
    assert "domains = example.test\n" in r.stdout
    assert "max_recipients = 100\n" in r.stdout


def test_all_errors_reported(tmp_path):
    conf = tmp_path / "bad.conf"
    conf.write_text("bogus = 1\n# comment\nmax_recipients = x\nhostname = a\nhostname = b\n")
    r = run("check-config", "-c", str(conf))
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert lines[0].startswith("%s:1: " % conf) and "bogus" in lines[0]
    assert lines[1].startswith("%s:3: " % conf) and "max_recipients" in lines[1]
    assert lines[2].startswith("%s:5: " % conf) and "hostname" in lines[2]


def test_missing_file(tmp_path):
    r = run("-c", str(tmp_path / "nope.conf"), "check-config")
    assert r.returncode == 1
    assert "nope.conf" in r.stderr


def test_usage():
    r = run("check-config", "extra")
    assert r.returncode == 2


def test_tls_trust_file_must_load(tmp_path):
    conf = tmp_path / "k.conf"
    bad = tmp_path / "not-a-bundle.pem"
    bad.write_text("this is not PEM\n")
    conf.write_text("hostname = mx.test\ndomains = example.test\ndata_dir = %s\n"
                    "tls_trust_file = %s\n" % (tmp_path / "var", bad))
    r = run("-c", str(conf), "check-config")
    assert r.returncode == 1
    assert "tls_trust_file: %s: cannot load CA certificates" % bad in r.stderr
