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


def test_many_files_one_value_keyed_by_every_file_and_the_salt(tmp_path, cache):
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text("x: 1\n")
    b.write_text("y: 2\n")
    calls = []

    def build(paths):
        calls.append(paths)
        return [yaml.safe_load(p.read_text()) for p in paths]

    assert yamlcache.load_many([a, b], build, b"v1") == [{"x": 1}, {"y": 2}]
    assert yamlcache.load_many([a, b], build, b"v1") == [{"x": 1}, {"y": 2}]
    assert len(calls) == 1
    b.write_text("y: 3\n")  # one file edited
    assert yamlcache.load_many([a, b], build, b"v1") == [{"x": 1}, {"y": 3}]
    assert yamlcache.load_many([a, b], build, b"v2") == [{"x": 1}, {"y": 3}]  # other code
    assert yamlcache.load_many([a], build, b"v2") == [{"x": 1}]  # a file fewer
    assert len(calls) == 4


def test_the_rule_pack_from_the_compiled_cache_is_the_parsed_one(tmp_path, cache):
    """load_manifests keeps the validated manifests: the rules it builds from the
    cache equal those parsed and checked from the YAML, and a manifest edited into
    an invalid one fails as ever (the cache never hides it)."""
    import shutil

    from reviewkit.engine import manifest

    parsed = manifest._parse_all(manifest._manifest_paths(manifest.rules_dir()))
    assert manifest.load_manifests() == parsed  # cold
    assert manifest.load_manifests() == parsed  # from the cache
    assert any(r.match is not None for r in parsed) and any(r.examples for r in parsed)
    rules = tmp_path / "rules"
    shutil.copytree(manifest.rules_dir(), rules, ignore=shutil.ignore_patterns("*.py", "__*"))
    assert manifest.load_manifests(rules) == parsed
    victim = next(rules.glob("mm/*.yaml"))
    text = victim.read_text()
    victim.write_text(text.replace("severity:", "severity: fatal\nwas:", 1))
    with pytest.raises(manifest.ManifestError):
        manifest.load_manifests(rules)
    victim.write_text(text.replace("title:", "title: Renamed,", 1))
    assert [r.title for r in manifest.load_manifests(rules)] != [r.title for r in parsed]
