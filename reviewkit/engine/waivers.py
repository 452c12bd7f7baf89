"""Per-series waivers: hide a finding on re-review, with a reason on record.

    # waivers.yaml
    - rule: mm/zap-details-skip-helper-sense
      path: include/linux/mm.h
      function: zap_skip_check_mapping
      reason: naming agreed with the maintainer; renamed in v5

``rule`` and ``reason`` are required; ``path``, ``function``, ``line`` and
``patch`` narrow the match (``function`` survives line shifts between
revisions better than ``line``).  A waiver that matches nothing is reported.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path

from reviewkit.errors import InputError
from reviewkit.report import Finding

_KEYS = {"rule", "reason", "path", "function", "line", "patch"}


@dataclass(frozen=True)
class Waiver:
    rule: str
    reason: str
    path: str | None = None
    function: str | None = None
    line: int | None = None
    patch: int | None = None

    def matches(self, f: Finding) -> bool:
        if not fnmatch.fnmatchcase(f.rule, self.rule):
            return False
        for key in ("path", "function", "line", "patch"):
            want = getattr(self, key)
            if want is not None and getattr(f, key) != want:
                return False
        return True

    def describe(self) -> str:
        where = ", ".join(f"{k}={getattr(self, k)}" for k in ("path", "function", "line", "patch")
                          if getattr(self, k) is not None)
        return f"{self.rule}" + (f" ({where})" if where else "")


def _lines(text: str) -> list[int]:
    """The 1-based line where each entry of the top-level list (or of ``waivers:``) starts."""
    import yaml  # only with a waivers file: yaml costs 10 ms of every start-up

    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return []
    if isinstance(node, yaml.MappingNode):
        node = next((v for k, v in node.value if getattr(k, "value", None) == "waivers"), None)
    if not isinstance(node, yaml.SequenceNode):
        return []
    return [item.start_mark.line + 1 for item in node.value]


def load_waivers(path: Path, rule_ids: "set[str] | None" = None) -> list[Waiver]:
    """The waivers in PATH.  Every error names the file and the line: bad YAML, a
    malformed entry, and (given ``rule_ids``, the known ids and aliases) a rule
    that names no rule; a typo would otherwise waive nothing, silently."""
    from reviewkit.config import load_yaml, read_bounded

    label = str(path)
    data = load_yaml(path, label, "waivers")  # bounded, safe; errors carry the line
    if data is None:
        return []
    if isinstance(data, dict) and "waivers" in data:
        data = data["waivers"]
    if not isinstance(data, list):
        raise InputError(label, "waivers must be a list of {rule, reason, ...} entries")
    lines = _lines(read_bounded(path, label, "waivers"))
    out = []
    for n, entry in enumerate(data, 1):
        where = f"{label}:{lines[n - 1]}" if len(lines) >= n else label
        if not isinstance(entry, dict):
            raise InputError(where, f"waiver {n} is not a mapping")
        unknown = set(entry) - _KEYS
        if unknown:
            raise InputError(where, f"waiver {n}: unknown key(s) {', '.join(sorted(unknown))}")
        if not entry.get("rule") or not str(entry.get("reason") or "").strip():
            raise InputError(where, f"waiver {n}: 'rule' and a non-empty 'reason' are required")
        for key in ("rule", "reason", "path", "function"):
            if entry.get(key) is not None and not isinstance(entry[key], (str, int, float)):
                raise InputError(where, f"waiver {n}: {key} must be text")
        rule = str(entry["rule"])
        if rule_ids is not None and not any(fnmatch.fnmatchcase(r, rule) for r in rule_ids):
            raise InputError(where, f"waiver {n}: {rule!r} names no rule "
                                    "(see 'reviewkit rules list')")
        try:
            out.append(Waiver(rule=rule, reason=str(entry["reason"]).strip(),
                              path=_text(entry.get("path")),
                              function=_text(entry.get("function")),
                              line=int(entry["line"]) if entry.get("line") is not None else None,
                              patch=int(entry["patch"]) if entry.get("patch") is not None
                              else None))
        except (TypeError, ValueError):
            raise InputError(where, f"waiver {n}: line and patch must be numbers") from None
    return out


def _text(value) -> str | None:
    return None if value is None else str(value)


def apply_waivers(findings: list[Finding], waivers: list[Waiver]
                  ) -> tuple[list[Finding], list[tuple[Finding, Waiver]], list[Waiver]]:
    """(kept findings, waived findings with their waiver, waivers that matched nothing)."""
    kept, waived = [], []
    used: set[int] = set()
    for f in findings:
        w = next((w for w in waivers if w.matches(f)), None)
        if w is None:
            kept.append(f)
        else:
            waived.append((f, w))
            used.add(id(w))
    stale = [w for w in waivers if id(w) not in used]
    return kept, waived, stale
