"""Rule manifests: ``rules/<group>/<slug>.yaml``, validated strictly on load.

A manifest is the rule's identity, documentation and examples.  A semantic
rule says ``check: python`` and is paired with exactly one ``@check`` function;
a declarative rule carries a ``match:`` block and no code.  Loading fails on an
unknown key, a missing field, a duplicate id, an id that does not match the
file's place, or a manifest and a check function that do not pair.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field, fields
from functools import lru_cache
import importlib
from pathlib import Path
from typing import NoReturn

from reviewkit import yamlcache

SEVERITIES = ("error", "warning", "info")
CONFIDENCES = ("high", "medium", "low")
SCOPES = ("series", "patch", "file", "hunk", "function", "line")

_TOP_KEYS = {"id", "title", "severity", "confidence", "scope", "applies-to", "message", "docs",
             "references", "examples", "check", "match", "aliases", "needs-any"}
_REQUIRED = {"id", "title", "severity", "confidence", "scope", "message", "docs", "references",
             "examples"}
_DOC_KEYS = {"what", "why", "fix", "false-positives"}
_MATCH_KEYS = {"added", "removed", "unless-line", "unless-function", "near", "near-lines"}
_EXAMPLE_KEYS = {"name", "expect", "diff", "mbox", "tree", "findings", "mode"}
_ID = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*/[a-z0-9]+(-[a-z0-9]+)*$")


class ManifestError(ValueError):
    """A rule manifest is malformed; the message names the file."""


@dataclass(frozen=True)
class Example:
    name: str
    expect: str  # fire | silent
    diff: str | None = None
    mbox: str | None = None
    tree: dict[str, str] | None = None  # path -> file text: run in tree mode
    findings: tuple[dict, ...] = ()  # for mbox examples: expected {patch, line}


@dataclass(frozen=True)
class Match:
    added: re.Pattern | None = None
    removed: re.Pattern | None = None
    unless_line: re.Pattern | None = None
    unless_function: re.Pattern | None = None
    near: re.Pattern | None = None
    near_lines: int = 2


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    severity: str
    confidence: str
    scope: str
    message: str
    docs: dict[str, str]
    references: tuple[str, ...]
    examples: tuple[Example, ...]
    paths: tuple[str, ...] = ()
    check: str | None = None  # "python" for semantic rules
    match: Match | None = None
    aliases: tuple[str, ...] = ()
    source: str = ""
    excluded: tuple[str, ...] = field(default=())
    # a prefilter: vocabulary categories or names of rules/<group>/_vocab.yaml, one
    # of which must appear in the text the rule reads for it to have anything to say
    # (see reviewkit.engine.prefilter); empty: the rule runs on every patch
    needs_any: tuple[str, ...] = ()

    @property
    def group(self) -> str:
        return self.id.split("/", 1)[0]

    def applies_to(self, path: str | None) -> bool:
        if not self.paths or path is None:
            return not self.paths or path is None
        return _applies(self.paths, self.excluded, path)


@lru_cache(maxsize=8192)
def _applies(paths: tuple[str, ...], excluded: tuple[str, ...], path: str) -> bool:
    if any(fnmatch.fnmatchcase(path, x) for x in excluded):
        return False
    return any(fnmatch.fnmatchcase(path, p) for p in paths)


def rules_dir() -> Path:
    # the package's own directory (as importlib.resources.files finds it, without
    # importing importlib.resources, zipfile and tempfile on every start-up)
    return Path(str(importlib.import_module("reviewkit.rules").__file__)).parent


def _fail(src: str, problem: str) -> NoReturn:
    raise ManifestError(f"{src}: {problem}")


def _regex(src: str, key: str, value) -> re.Pattern | None:
    if value is None:
        return None
    if not isinstance(value, str):
        _fail(src, f"match.{key} must be a regular expression string")
    try:
        return re.compile(value)
    except re.error as exc:
        _fail(src, f"match.{key} is not a valid regular expression: {exc}")


def _example(src: str, n: int, raw) -> Example:
    where = f"examples[{n}]"
    if not isinstance(raw, dict):
        _fail(src, f"{where} must be a mapping")
    unknown = set(raw) - _EXAMPLE_KEYS
    if unknown:
        _fail(src, f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    expect = raw.get("expect")
    if expect not in ("fire", "silent"):
        _fail(src, f"{where}: expect must be 'fire' or 'silent'")
    if bool(raw.get("diff")) == bool(raw.get("mbox")):
        _fail(src, f"{where}: give exactly one of diff or mbox")
    tree = raw.get("tree")
    if tree is not None and (not isinstance(tree, dict)
                             or not all(isinstance(k, str) and isinstance(v, str)
                                        for k, v in tree.items())):
        _fail(src, f"{where}: tree must map paths to file texts")
    findings = raw.get("findings") or ()
    if raw.get("mbox") and expect == "fire" and not findings:
        _fail(src, f"{where}: an mbox example that fires must list its findings")
    if raw.get("diff") and expect == "fire" and "//~" not in raw["diff"]:
        _fail(src, f"{where}: mark the line(s) the rule must fire on with //~")
    if expect == "silent" and ("//~" in (raw.get("diff") or "") or findings):
        _fail(src, f"{where}: a silent example marks no finding")
    return Example(name=str(raw.get("name") or f"example {n}"), expect=expect,
                   diff=raw.get("diff"), mbox=raw.get("mbox"), tree=tree,
                   findings=tuple(findings))


def parse_manifest(data, src: str) -> Rule:
    if not isinstance(data, dict):
        _fail(src, "a manifest is a mapping")
    unknown = set(data) - _TOP_KEYS
    if unknown:
        _fail(src, f"unknown key(s) {', '.join(sorted(unknown))}")
    missing = _REQUIRED - set(data)
    if missing:
        _fail(src, f"missing key(s) {', '.join(sorted(missing))}")
    rid = data["id"]
    if not isinstance(rid, str) or not _ID.match(rid):
        _fail(src, f"id {rid!r} is not group/slug")
    for key, allowed in (("severity", SEVERITIES), ("confidence", CONFIDENCES),
                         ("scope", SCOPES)):
        if data[key] not in allowed:
            _fail(src, f"{key} must be one of {', '.join(allowed)}")
    for key in ("title", "message"):
        if not isinstance(data[key], str) or not data[key].strip():
            _fail(src, f"{key} must be a non-empty string")
    docs = data["docs"]
    if not isinstance(docs, dict) or set(docs) != _DOC_KEYS or not all(
            isinstance(v, str) and v.strip() for v in docs.values()):
        _fail(src, "docs must have exactly what, why, fix and false-positives, each text")
    refs = data["references"]
    if not isinstance(refs, list) or not all(isinstance(r, str) for r in refs):
        _fail(src, "references must be a list of strings")
    applies = data.get("applies-to") or {}
    if not isinstance(applies, dict) or set(applies) - {"paths", "exclude"}:
        _fail(src, "applies-to takes only paths and exclude")
    paths = applies.get("paths") or []
    excluded = applies.get("exclude") or []
    if not isinstance(paths, list) or not isinstance(excluded, list):
        _fail(src, "applies-to.paths and exclude must be lists of globs")
    check = data.get("check")
    raw_match = data.get("match")
    if (check is None) == (raw_match is None):
        _fail(src, "give exactly one of 'check: python' or a 'match:' block")
    if check is not None and check != "python":
        _fail(src, "check must be 'python'")
    match = None
    if raw_match is not None:
        if not isinstance(raw_match, dict) or set(raw_match) - _MATCH_KEYS:
            _fail(src, f"match takes only {', '.join(sorted(_MATCH_KEYS))}")
        if not raw_match.get("added") and not raw_match.get("removed"):
            _fail(src, "match needs 'added' or 'removed'")
        match = Match(added=_regex(src, "added", raw_match.get("added")),
                      removed=_regex(src, "removed", raw_match.get("removed")),
                      unless_line=_regex(src, "unless-line", raw_match.get("unless-line")),
                      unless_function=_regex(src, "unless-function",
                                             raw_match.get("unless-function")),
                      near=_regex(src, "near", raw_match.get("near")),
                      near_lines=int(raw_match.get("near-lines", 2)))
    raw_examples = data["examples"]
    if not isinstance(raw_examples, list):
        _fail(src, "examples must be a list")
    examples = tuple(_example(src, n, e) for n, e in enumerate(raw_examples))
    if not any(e.expect == "fire" for e in examples) or not any(
            e.expect == "silent" for e in examples):
        _fail(src, "examples need at least one that fires and one that stays silent")
    aliases = data.get("aliases") or []
    needs_any = data.get("needs-any") or []
    if not isinstance(needs_any, list) or not all(isinstance(n, str) and n for n in needs_any):
        _fail(src, "needs-any must be a list of vocabulary categories or names")
    if needs_any and check != "python":
        _fail(src, "needs-any is for semantic rules ('check: python')")
    return Rule(id=rid, title=data["title"].strip(), severity=data["severity"],
                confidence=data["confidence"], scope=data["scope"],
                message=" ".join(data["message"].split()),
                docs={k: v.strip() for k, v in docs.items()}, references=tuple(refs),
                examples=examples, paths=tuple(paths), excluded=tuple(excluded), check=check,
                match=match, aliases=tuple(aliases), source=src, needs_any=tuple(needs_any))


def _parse_yaml(text: str):
    import yaml

    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def _manifest_paths(directory: Path) -> list[Path]:
    return [p for p in sorted(directory.glob("*/*.yaml")) if not p.name.startswith("_")]


def _parse_all(paths: list[Path]) -> list[Rule]:
    rules: list[Rule] = []
    seen: dict[str, str] = {}
    for path in paths:
        src = f"{path.parent.name}/{path.name}"
        try:
            # parsed once per content (yamlcache); yaml is imported only on a miss
            data = yamlcache.load(path, _parse_yaml)
        except Exception as exc:
            if type(exc).__module__.split(".")[0] != "yaml":
                raise
            raise ManifestError(f"{src}: not valid YAML: {exc}") from None
        rule = parse_manifest(data, src)
        expected = f"{path.parent.name}/{path.stem}"
        if rule.id != expected:
            _fail(src, f"id {rule.id!r} must match its place ({expected!r})")
        for name in (rule.id, *rule.aliases):
            if name in seen:
                _fail(src, f"duplicate rule id {name!r} (also in {seen[name]})")
            seen[name] = src
        rules.append(rule)
    return rules


_MATCH_PATTERNS = ("added", "removed", "unless_line", "unless_function", "near")


def _rule_data(rule: Rule) -> dict:
    """A validated Rule as plain data (what the compiled manifest cache holds)."""
    data = {f.name: getattr(rule, f.name) for f in fields(Rule)}
    data["examples"] = tuple({f.name: getattr(e, f.name) for f in fields(Example)}
                             for e in rule.examples)
    if rule.match is not None:
        m = rule.match
        data["match"] = {k: getattr(m, k).pattern if getattr(m, k) is not None else None
                         for k in _MATCH_PATTERNS} | {"near_lines": m.near_lines}
    return data


def _rule_from(data: dict) -> Rule:
    data = dict(data)
    data["examples"] = tuple(Example(**e) for e in data["examples"])
    if data["match"] is not None:
        m = dict(data["match"])
        for k in _MATCH_PATTERNS:
            if m[k] is not None:
                m[k] = re.compile(m[k])
        data["match"] = Match(**m)
    return Rule(**data)


def _compiled(paths: list[Path]) -> list[dict]:
    return [_rule_data(r) for r in _parse_all(paths)]


def load_manifests(directory: Path | None = None) -> list[Rule]:
    """The rules of DIRECTORY (default: the rule pack), validated.  The validated
    manifests are kept in the parsed-YAML cache under the hash of every manifest's
    bytes and of this module's code, so an unchanged rule pack loads without being
    parsed or checked again; any change is parsed and validated from the YAML."""
    paths = _manifest_paths(directory or rules_dir())
    try:
        salt = Path(__file__).read_bytes()
    except OSError:  # no source to key on (a zipped install): no cache
        return _parse_all(paths)
    return [_rule_from(d) for d in yamlcache.load_many(paths, _compiled, salt)]
