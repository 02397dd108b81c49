"""make install / make uninstall into a DESTDIR, checked file by file.

With DESTDIR set the Makefile neither creates the system user nor chowns
anything, so this runs as root or not. The install build reuses the objects
of the make BUILD directory (default build/; $KONVERT_BUILD selects another
plain, non-SAN one, e.g. build/h_inst) and compiles only config.c again,
with -DKONVERT_INSTALLED.
"""
import os
import shutil
import stat
import subprocess

import pytest

from conftest import ROOT

BUILD = os.environ.get("KONVERT_BUILD", "")
JOBS = str(os.cpu_count() or 2)
LINKS = {"usr/sbin/sendmail": "konvert", "usr/sbin/mailq": "konvert",
         "usr/lib/sendmail": "../sbin/sendmail"}
FILES = ["usr/sbin/konvert", "usr/share/man/man8/konvert.8",
         "usr/share/man/man5/konvert.conf.5", "lib/systemd/system/konvert.service",
         "usr/share/doc/konvert/konvert.conf.sample"]
CONF = "etc/konvert/konvert.conf"


def make(target, destdir):
    argv = ["make", "--no-print-directory", "-j" + JOBS, target,
            "DESTDIR=%s" % destdir, "PREFIX=/usr"]
    if BUILD:
        argv.append("BUILD=" + BUILD)
    # Run from make check: its MAKEFLAGS (jobserver, command-line variables)
    # are not this make's.
    env = {k: v for k, v in os.environ.items()
           if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "DESTDIR", "PREFIX")}
    r = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


@pytest.fixture(scope="module")
def dest(tmp_path_factory):
    d = tmp_path_factory.mktemp("destdir")
    out = make("install", d)
    assert "system user konvert not created" in out, out
    return d


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if k != "KONVERT_CONF"}
    env.update(extra)
    return env


def test_binary_and_links(dest):
    binary = dest / "usr/sbin/konvert"
    st = binary.lstat()
    assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o755
    for link, target in LINKS.items():
        p = dest / link
        assert p.is_symlink(), link
        assert os.readlink(p) == target, link
        assert p.resolve() == binary.resolve(), link


def test_config_sample_and_state_dir(dest):
    conf = dest / CONF
    assert conf.read_text() == (ROOT / "dist/konvert.conf.sample").read_text()
    # Readable by everyone (sendmail reads it), writable by root only
    # (serve refuses a group- or world-writable file).
    assert stat.S_IMODE(conf.stat().st_mode) == 0o644
    sample = dest / "usr/share/doc/konvert/konvert.conf.sample"
    assert sample.read_text() == conf.read_text()
    state = dest / "var/lib/konvert"
    assert state.is_dir() and stat.S_IMODE(state.stat().st_mode) == 0o750


def test_unit_file(dest):
    unit = (dest / "lib/systemd/system/konvert.service").read_text()
    assert unit == (ROOT / "dist/konvert.service").read_text()
    lines = set(unit.splitlines())
    for want in ["Type=simple",
                 "ExecStart=/usr/sbin/konvert serve -c /etc/konvert/konvert.conf",
                 "ExecReload=/bin/kill -HUP $MAINPID", "Restart=on-failure",
                 "NoNewPrivileges=yes", "ProtectSystem=strict",
                 "ReadWritePaths=/var/lib/konvert", "PrivateTmp=yes", "ProtectHome=yes",
                 "CapabilityBoundingSet=CAP_NET_BIND_SERVICE CAP_SETUID CAP_SETGID "
                 "CAP_CHOWN CAP_FOWNER CAP_DAC_OVERRIDE",
                 "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX"]:
        assert want in lines, want


def test_unit_verifies(dest, tmp_path):
    """systemd-analyze verify on the unit, its ExecStart pointed at the
    binary in DESTDIR and man pointed at DESTDIR's pages (Documentation=)."""
    if shutil.which("systemd-analyze") is None:
        pytest.skip("no systemd-analyze")
    unit = (dest / "lib/systemd/system/konvert.service").read_text()
    copy = tmp_path / "konvert.service"
    copy.write_text(unit.replace("/usr/sbin/konvert", str(dest / "usr/sbin/konvert")))
    if shutil.which("man") is None:
        # verify runs man for each Documentation= page.
        copy.write_text("\n".join(line for line in copy.read_text().splitlines()
                                  if not line.startswith("Documentation=man:")))
    env = dict(os.environ, MANPATH=str(dest / "usr/share/man"))
    r = subprocess.run(["systemd-analyze", "verify", str(copy)], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stderr == "", r.stdout + r.stderr
    r = subprocess.run(["systemd-analyze", "security", "--offline=yes", str(copy)],
                       capture_output=True, text=True, timeout=60)
    if r.returncode == 0 and "Overall exposure level" in r.stdout:
        print(r.stdout.strip().splitlines()[-1])


def test_man_pages_render(dest):
    for page in ["usr/share/man/man8/konvert.8", "usr/share/man/man5/konvert.conf.5"]:
        path = dest / page
        assert path.read_text() == (ROOT / "dist" / path.name).read_text()
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
        if shutil.which("groff") is None:
            continue
        r = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", str(path)],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0 and r.stderr == "", page + ": " + r.stderr


def test_installed_defaults(dest, tmp_path):
    """No $KONVERT_CONF: the installed binary reads /etc/konvert/konvert.conf
    when it exists, never ./konvert.conf, and defaults data_dir to
    /var/lib/konvert."""
    decoy = tmp_path / "konvert.conf"
    decoy.write_text("data_dir = %s\n" % (tmp_path / "decoy"))
    decoy.chmod(0o600)
    expected = "/var/lib/konvert"
    host_conf = "/etc/konvert/konvert.conf"
    if os.path.exists(host_conf):  # a real installation on this machine
        for line in open(host_conf):
            key, sep, value = line.partition("=")
            if sep and key.strip() == "data_dir":
                expected = value.strip()
    r = subprocess.run([str(dest / "usr/sbin/konvert"), "check-config", "-v"],
                       cwd=tmp_path, env=clean_env(), capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    assert "data_dir = %s\n" % expected in r.stdout
    # The same through the sample the install put in DESTDIR.
    r = subprocess.run([str(dest / "usr/sbin/konvert"), "check-config", "-v"],
                       cwd=tmp_path, env=clean_env(KONVERT_CONF=str(dest / CONF)),
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert "data_dir = /var/lib/konvert\n" in r.stdout


def test_mailq_link_lists_the_queue(dest, tmp_path):
    conf = tmp_path / "k.conf"
    conf.write_text("data_dir = %s\n" % (tmp_path / "var"))
    conf.chmod(0o600)
    env = clean_env(KONVERT_CONF=str(conf))
    mailq = subprocess.run([str(dest / "usr/sbin/mailq")], env=env, cwd=tmp_path,
                           capture_output=True, text=True, timeout=30)
    listed = subprocess.run([str(dest / "usr/sbin/konvert"), "queue", "list"], env=env,
                            cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert (mailq.returncode, mailq.stdout) == (listed.returncode, listed.stdout)
    assert mailq.returncode == 0, mailq.stderr
    r = subprocess.run([str(dest / "usr/sbin/mailq"), "extra"], env=env, cwd=tmp_path,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "usage: mailq" in r.stderr


def test_reinstall_keeps_edited_config(dest):
    conf = dest / CONF
    edited = conf.read_text() + "hostname = mx.example.org\n"
    conf.write_text(edited)
    out = make("install", dest)
    assert "kept %s" % conf in out, out
    assert conf.read_text() == edited
    for link in LINKS:
        assert (dest / link).is_symlink()


def test_uninstall_keeps_mail_and_config(dest):
    (dest / "var/lib/konvert/users").write_text("")
    make("uninstall", dest)
    for f in FILES + list(LINKS):
        assert not os.path.lexists(dest / f), f
    assert not (dest / "usr/share/doc/konvert").exists()
    assert (dest / CONF).is_file()
    assert (dest / "var/lib/konvert/users").is_file()


def test_other_mtas_sendmail_left_alone(tmp_path):
    """An existing sendmail that is not konvert is neither replaced nor
    removed, and /usr/lib/sendmail is not pointed at it."""
    sbin = tmp_path / "usr/sbin"
    sbin.mkdir(parents=True)
    (sbin / "sendmail").write_text("#!/bin/sh\n")
    out = make("install", tmp_path)
    assert "%s belongs to another program" % (sbin / "sendmail") in out, out
    assert (sbin / "sendmail").read_text() == "#!/bin/sh\n"
    assert not os.path.lexists(tmp_path / "usr/lib/sendmail")
    assert os.readlink(sbin / "mailq") == "konvert"
    make("uninstall", tmp_path)
    assert (sbin / "sendmail").read_text() == "#!/bin/sh\n"
    assert not os.path.lexists(sbin / "mailq")


def test_make_deb(tmp_path):
    """make deb: a package that provides mail-transport-agent, keeps
    konvert.conf as a conffile, depends on the libraries the binary links,
    and has maintainer scripts that make the system user and the state
    directory (not shipped: the postinst makes it owned by konvert)."""
    if shutil.which("dpkg-deb") is None:
        pytest.skip("dpkg-deb is not installed")
    out = make("deb", "")
    deb = [l.split()[-1] for l in out.splitlines() if l.startswith("built ")][0]
    debp = ROOT / deb
    info = subprocess.run(["dpkg-deb", "-f", str(debp)], capture_output=True, text=True,
                          check=True).stdout
    fields = dict(l.split(": ", 1) for l in info.splitlines() if ": " in l and not l.startswith(" "))
    assert fields["Package"] == "konvert"
    assert fields["Provides"] == "mail-transport-agent"
    assert fields["Conflicts"] == "mail-transport-agent"
    deps = [d.strip() for d in fields["Depends"].split(",")]
    for need in ("libssl3", "libc-ares2", "publicsuffix", "adduser"):
        assert need in deps, deps
    assert any(d.startswith("libevent") for d in deps), deps
    ctl = tmp_path / "ctl"
    subprocess.run(["dpkg-deb", "-e", str(debp), str(ctl)], check=True)
    assert (ctl / "conffiles").read_text().split() == ["/etc/konvert/konvert.conf"]
    for script in ("postinst", "prerm", "postrm"):
        assert os.access(ctl / script, os.X_OK)
        subprocess.run(["sh", "-n", str(ctl / script)], check=True)
    assert "adduser --system" in (ctl / "postinst").read_text()
    root = tmp_path / "root"
    subprocess.run(["dpkg-deb", "-x", str(debp), str(root)], check=True)
    for f in FILES + [CONF]:
        assert (root / f).is_file(), f
    for link, target in LINKS.items():
        assert os.readlink(root / link) == target
    assert not (root / "var").exists()
    listing = subprocess.run(["dpkg-deb", "-c", str(debp)], capture_output=True, text=True,
                             check=True).stdout
    assert all(" root/root " in l for l in listing.splitlines()), listing
    v = subprocess.run([str(root / "usr/sbin/konvert"), "version"], capture_output=True,
                       text=True, timeout=10)
    assert v.returncode == 0 and v.stdout.startswith("konvert ")
