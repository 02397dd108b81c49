"""The configuration keys have one source of truth, the parser's table
(src/config/config.c cfg_keys[], printed with defaults by
`konvert check-config -v`); the README's configuration table, the
konvert.conf(5) man page and the sample konvert.conf must not drift from it.

Defaults compare sensibly: durations and sizes by value (`5m` = `300`,
`25M` = `26214400`), lists word by word; a key the parser leaves empty must
have no code-formatted default in the docs ("unset", "empty", "the system
store"). The man page writes each default on a line `Default: \\fBVALUE\\fR.`
The installed binary's own defaults (INSTALLED) are accepted beside the
in-tree ones where the text documents the installed binary.
"""
import re
import subprocess

import pytest

from conftest import BIN, ROOT, require_binary

README = ROOT / "README.md"
MAN5 = ROOT / "dist" / "konvert.conf.5"
SAMPLE = ROOT / "dist" / "konvert.conf.sample"

# What `make install` builds differently (-DKONVERT_INSTALLED).
INSTALLED = {"data_dir": "/var/lib/konvert"}

_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_SIZE = {"k": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def norm(value):
    """A default as comparable words: durations in seconds, sizes in bytes."""
    words = []
    for w in value.split():
        m = re.fullmatch(r"(\d+)([smhd])", w)
        if m:
            w = str(int(m.group(1)) * _UNIT[m.group(2)])
        m = re.fullmatch(r"(\d+)([kMG])", w)
        if m:
            w = str(int(m.group(1)) * _SIZE[m.group(2)])
        words.append(w)
    return tuple(words)


@pytest.fixture(scope="module")
def parser(tmp_path_factory):
    """{key: default} from `check-config -v` on an empty file."""
    require_binary()
    d = tmp_path_factory.mktemp("docs")
    conf = d / "empty.conf"
    conf.write_text("")
    conf.chmod(0o600)
    r = subprocess.run([str(BIN), "-c", str(conf), "check-config", "-v"], cwd=d,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    keys = {}
    for line in r.stdout.splitlines():
        key, sep, value = line.partition(" = ")
        if not sep:  # "key = " with an empty value
            assert line.endswith(" ="), line
            key, value = line[:-2], ""
        assert re.fullmatch(r"[a-z0-9_]+", key), line
        assert key not in keys, "key printed twice: " + key
        keys[key] = value
    assert len(keys) >= 30, r.stdout
    return keys


def readme_table():
    """{key: default cell} of the README's configuration table."""
    text = README.read_text()
    section = text.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    rows = {}
    in_table = False
    for line in section.splitlines():
        if line.startswith("| key | meaning |"):
            in_table = True
            continue
        if not in_table:
            continue
        if not line.startswith("|"):
            break
        if line.startswith("| ---"):
            continue
        cells = line.strip().strip("|").split("|")
        for key in re.findall(r"`([^`]+)`", cells[0]):
            assert key not in rows, "README lists %s twice" % key
            rows[key] = cells[-1].strip()
    assert rows, "no configuration table in README.md"
    return rows


def man_entries():
    """{key: default text} of the KEYS section of konvert.conf(5)."""
    text = MAN5.read_text()
    section = text.split("\n.SH KEYS\n", 1)[1].split("\n.SH ", 1)[0]
    entries = {}
    for chunk in section.split(".TP\n")[1:]:
        lines = chunk.splitlines()
        m = re.fullmatch(r"\.B (\S+)", lines[0])
        assert m, "entry tag is not '.B key': %r" % lines[0]
        key = m.group(1).replace("\\-", "-")
        body = "\n".join(lines[1:])
        assert key not in entries, "konvert.conf.5 lists %s twice" % key
        assert "Default:" in body, "konvert.conf.5: %s has no Default: line" % key
        entries[key] = body.split("Default:", 1)[1]
    return entries


def man_values(text):
    return [v.replace("\\-", "-").replace("\\&", "").replace("\\e", "\\")
            for v in re.findall(r"\\fB(.*?)\\fR", text)]


def check_default(where, key, value, documented, also=()):
    """value: the parser's; documented: the code-formatted defaults."""
    if value == "":
        assert documented == [], "%s: %s is unset by default, docs say %r" % (
            where, key, documented)
        return
    want = {norm(value)} | {norm(v) for v in also}
    got = {norm(v) for v in documented}
    assert want & got, "%s: default of %s is %r, docs say %r" % (
        where, key, value, documented)


def test_readme_table_matches_parser(parser):
    rows = readme_table()
    extra = sorted(set(rows) - set(parser))
    assert not extra, "README documents keys the parser lacks: %s" % extra
    missing = sorted(set(parser) - set(rows))
    assert not missing, "README's table lacks keys: %s" % missing
    for key, value in parser.items():
        check_default("README", key, value, re.findall(r"`([^`]*)`", rows[key]))


def test_man_page_matches_parser(parser):
    entries = man_entries()
    extra = sorted(set(entries) - set(parser))
    assert not extra, "konvert.conf.5 documents keys the parser lacks: %s" % extra
    missing = sorted(set(parser) - set(entries))
    assert not missing, "konvert.conf.5 lacks keys: %s" % missing
    for key, value in parser.items():
        documented = man_values(entries[key])
        check_default("konvert.conf.5", key, value, documented,
                      also=[INSTALLED[key]] if key in INSTALLED else [])
        # The man page describes the installed binary first of all.
        if key in INSTALLED:
            assert INSTALLED[key] in documented, key


def test_sample_config_matches_parser(parser):
    """Every key once, commented out, with the installed binary's default."""
    seen = {}
    for line in SAMPLE.read_text().splitlines():
        m = re.fullmatch(r"#([a-z0-9_]+) =(?: (.*))?", line)
        if m:
            assert m.group(1) not in seen, "sample lists %s twice" % m.group(1)
            seen[m.group(1)] = m.group(2) or ""
        else:
            assert not re.match(r"\s*[a-z0-9_]+\s*=", line), \
                "the sample must set nothing: %r" % line
    assert sorted(seen) == sorted(parser)
    for key, value in parser.items():
        want = INSTALLED.get(key, value)
        assert norm(seen[key]) == norm(want), "sample: %s = %r, default %r" % (
            key, seen[key], want)
