"""The parsed-YAML cache: used only for the same bytes, only from the user's own files."""

from __future__ import annotations

import os

import pytest
import yaml

from reviewkit import yamlcache


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "reviewkit" / "yaml"


def _counting():
    calls = []

    def parse(text):
        calls.append(text)
        return yaml.safe_load(text)
    return parse, calls


def test_parsed_once_then_from_the_cache(tmp_path, cache):
    f = tmp_path / "rule.yaml"
    f.write_text("id: a/b\nlist: [1, 2]\n")
    parse, calls = _counting()
    assert yamlcache.load(f, parse) == {"id": "a/b", "list": [1, 2]}
    assert yamlcache.load(f, parse) == {"id": "a/b", "list": [1, 2]}
    assert len(calls) == 1
    assert [p.stat().st_mode & 0o777 for p in cache.iterdir()] == [0o600]
    assert cache.stat().st_mode & 0o777 == 0o700


def test_an_edited_file_is_parsed_again(tmp_path, cache):
    f = tmp_path / "rule.yaml"
    f.write_text("severity: warning\n")
    parse, calls = _counting()
    yamlcache.load(f, parse)
    st = f.stat()
    f.write_text("severity: error!\n")
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))  # same mtime: the content decides
    assert yamlcache.load(f, parse) == {"severity": "error!"}
    assert len(calls) == 2


def test_a_broken_or_writable_cache_entry_is_not_trusted(tmp_path, cache):
    f = tmp_path / "rule.yaml"
    f.write_text("a: 1\n")
    parse, calls = _counting()
    yamlcache.load(f, parse)
    (entry,) = cache.iterdir()
    entry.write_bytes(entry.read_bytes()[:-3])  # truncated
    assert yamlcache.load(f, parse) == {"a": 1} and len(calls) == 2
    (entry,) = cache.iterdir()
    blob = entry.read_bytes()
    import marshal
    head = blob[:blob.index(b"\n", len(b"reviewkit-yaml-1\n")) + 1]
    entry.write_bytes(head + marshal.dumps({"a": "forged"}))
    entry.chmod(0o666)  # anyone could have written it
    assert yamlcache.load(f, parse) == {"a": 1} and len(calls) == 3


def test_yaml_errors_come_from_the_parser_with_their_line(tmp_path, cache):
    f = tmp_path / "rule.yaml"
    f.write_text("a: 1\nb: [unclosed\n")
    with pytest.raises(yaml.YAMLError) as exc:
        yamlcache.load(f, yaml.safe_load)
    assert "line" in str(exc.value)
    assert not cache.exists() or not list(cache.iterdir())
