"""The kernel vocabulary: which names are kernel API, by category, with the
releases they exist in (``rules/<group>/_vocab.yaml``).

    from reviewkit.analysis.vocab import vocab
    V = vocab()                       # the mm vocabulary
    V["dirty-page"]                   # frozenset of names
    V.has("entry-mkdirty", "pte_mkdirty")
    V.category_of("folio_put")        # ("page-put",)
    V.releases_of("pin_user_pages")   # what undoes it (the pairs section)
    V.entry("pte_mkwrite").note       # 'takes (pte, vma) since 6.6'

Asking for a category that the file does not define raises KeyError, so a
misspelt category cannot silently match nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import NoReturn

from reviewkit import yamlcache


class VocabError(ValueError):
    """The vocabulary file is malformed; the message names it."""


@dataclass(frozen=True)
class Entry:
    name: str
    category: str
    since: str
    until: str | None = None
    note: str | None = None
    pages: int | None = None  # GUP/pin calls: index of the page-array argument

    def exists_in(self, release: str) -> bool:
        """Whether the name exists in kernel ``release`` (e.g. "6.1")."""
        v = _version(release)
        return _version(self.since) <= v and (self.until is None or v < _version(self.until))


def _version(release: str) -> tuple[int, ...]:
    return tuple(int(x) for x in release.split("."))


class Vocabulary:
    def __init__(self, entries: list[Entry], docs: dict[str, str],
                 pairs: dict[str, tuple[str, ...]], source: str):
        self.source = source
        self.docs = docs
        self._by_cat: dict[str, frozenset[str]] = {}
        self._entries: dict[tuple[str, str], Entry] = {}
        cats: dict[str, set[str]] = {c: set() for c in docs}
        for e in entries:
            cats[e.category].add(e.name)
            self._entries[(e.category, e.name)] = e
        self._by_cat = {c: frozenset(n) for c, n in cats.items()}
        self.pairs = pairs
        self._all = frozenset(n for names in self._by_cat.values() for n in names)

    def __getitem__(self, category: str) -> frozenset[str]:
        return self._by_cat[category]

    def union(self, *categories: str) -> frozenset[str]:
        out: set[str] = set()
        for c in categories:
            out |= self._by_cat[c]
        return frozenset(out)

    def has(self, category: str, name: str | None) -> bool:
        return name is not None and name in self._by_cat[category]

    @property
    def categories(self) -> tuple[str, ...]:
        return tuple(self._by_cat)

    def is_api(self, name: str) -> bool:
        return name in self._all

    @property
    def names(self) -> frozenset[str]:
        """Every name of every category."""
        return self._all

    def category_of(self, name: str) -> tuple[str, ...]:
        return tuple(c for c, names in self._by_cat.items() if name in names)

    def entry(self, name: str, category: str | None = None) -> Entry:
        for (c, n), e in self._entries.items():
            if n == name and (category is None or c == category):
                return e
        raise KeyError(name)

    def entries(self) -> list[Entry]:
        return list(self._entries.values())

    def releases_of(self, acquire: str) -> tuple[str, ...]:
        return self.pairs.get(acquire, ())


def _fail(src: str, problem: str) -> NoReturn:
    raise VocabError(f"{src}: {problem}")


def _parse(text: str):
    import yaml

    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def load_vocabulary(path: Path) -> Vocabulary:
    src = f"{path.parent.name}/{path.name}"
    try:
        data = yamlcache.load(path, _parse)
    except OSError as exc:
        raise VocabError(f"{src}: cannot be read: {exc}") from None
    except Exception as exc:  # yaml.YAMLError: yaml is imported only on a cache miss
        if type(exc).__module__.split(".")[0] != "yaml":
            raise
        raise VocabError(f"{src}: cannot be read: {exc}") from None
    if not isinstance(data, dict) or set(data) - {"version", "categories", "pairs"}:
        _fail(src, "takes version, categories and pairs")
    cats = data.get("categories")
    if not isinstance(cats, dict) or not cats:
        _fail(src, "categories must be a non-empty mapping")
    entries: list[Entry] = []
    docs: dict[str, str] = {}
    for cat, body in cats.items():
        if not isinstance(body, dict) or set(body) != {"doc", "names"}:
            _fail(src, f"category {cat!r} takes exactly doc and names")
        docs[cat] = str(body["doc"])
        names = body["names"]
        if not isinstance(names, dict) or not names:
            _fail(src, f"category {cat!r}: names must be a non-empty mapping")
        for name, meta in names.items():
            if not isinstance(meta, dict) or "since" not in meta or set(meta) - {
                    "since", "until", "note", "pages"}:
                _fail(src, f"{cat}.{name}: give since (and optionally until, note)")
            for key in ("since", "until"):
                if key in meta:
                    try:
                        _version(str(meta[key]))
                    except ValueError:
                        _fail(src, f"{cat}.{name}: {key} {meta[key]!r} is not a release")
            entries.append(Entry(name=str(name), category=str(cat), since=str(meta["since"]),
                                 until=str(meta["until"]) if "until" in meta else None,
                                 note=meta.get("note"),
                                 pages=int(meta["pages"]) if "pages" in meta else None))
    pairs_raw = data.get("pairs") or {}
    if not isinstance(pairs_raw, dict):
        _fail(src, "pairs must map a name to a list of names")
    known = {e.name for e in entries}
    pairs: dict[str, tuple[str, ...]] = {}
    for acq, rels in pairs_raw.items():
        if not isinstance(rels, list) or not rels:
            _fail(src, f"pairs.{acq}: a non-empty list")
        for n in [acq, *rels]:
            if n not in known:
                _fail(src, f"pairs.{acq}: {n} is in no category")
        pairs[str(acq)] = tuple(str(r) for r in rels)
    return Vocabulary(entries, docs, pairs, src)


@lru_cache(maxsize=8)
def vocab(group: str = "mm") -> Vocabulary:
    """The vocabulary of a rule group (``rules/<group>/_vocab.yaml``)."""
    from reviewkit.engine.manifest import rules_dir

    return load_vocabulary(rules_dir() / group / "_vocab.yaml")
