"""Generates docs/facts.md: where each fact the gate's rules read comes from, and which rules read it.

The rows (producer, API fields, event keys, projection columns) are `campaign_gate.domain.lineage`;
the rule ids are derived here from the code, so the document cannot drift from it:

- `resolve()` in `rules.py` turns `RecipientFacts` (and some `CampaignFacts`) fields into each
  `RecipientView` attribute; `make_context()` turns `CampaignFacts` fields into each `Context` one;
- each rule's evaluate function (with the shared predicates and helpers it calls) reads view
  attributes (`v.x`), context attributes (`ctx.x`) and campaign fields (`ctx.campaign.x`).

Both are read with `ast`, following local variables, comprehensions, aliases (`c = ctx.campaign`)
and parameters annotated with a nested record type (`ConsentRecord` → `consents`). A view attribute
named `*_ref` is evidence, not a condition. `python -m infra.facts` rewrites the file; a test fails
when it is out of date.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import sys
import typing
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path

from campaign_gate.domain import facts as facts_module
from campaign_gate.domain import lineage, rules
from campaign_gate.domain.facts import CampaignFacts, RecipientFacts

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "docs" / "facts.md"

#: A fact path: ("R" | "C", field[, subfield]).
Path_ = tuple[str, ...]
ROOTS = {"R": RecipientFacts, "C": CampaignFacts}
CLASS_NAMES = {"R": "RecipientFacts", "C": "CampaignFacts"}


def _record_type(hint: typing.Any) -> type | None:
    """Returns the record class a field holds (itself, optional, or a tuple of it), if it is a dataclass."""
    for arg in (hint, *typing.get_args(hint)):
        if isinstance(arg, type) and dataclasses.is_dataclass(arg):
            return arg
        for inner in typing.get_args(arg):
            if isinstance(inner, type) and dataclasses.is_dataclass(inner):
                return inner
    return None


def nested_records() -> dict[tuple[str, str], type]:
    """Returns (root, field) → the record class of each nested-record field of the two fact classes."""
    out = {}
    for root, cls in ROOTS.items():
        hints = typing.get_type_hints(cls, vars(facts_module))
        for f in dataclasses.fields(cls):
            record = _record_type(hints[f.name])
            if record is not None:
                out[(root, f.name)] = record
    return out


NESTED = nested_records()
#: A record class → the fact field it comes from (for parameters annotated with it).
CLASS_TO_FIELD = {cls.__name__: key for key, cls in NESTED.items()}


def _record_fields(cls: type) -> dict[str, set[str]]:
    """Returns each readable attribute of a record → the fields it reads (a property reads several)."""
    out: dict[str, set[str]] = {f.name: {f.name} for f in dataclasses.fields(cls)}
    for name, member in vars(cls).items():
        if isinstance(member, property) and member.fget is not None:
            tree = ast.parse(inspect.cleandoc("\n" + inspect.getsource(member.fget)))
            out[name] = {
                n.attr
                for n in ast.walk(tree)
                if isinstance(n, ast.Attribute)
                and isinstance(n.value, ast.Name)
                and n.value.id == "self"
                and n.attr in out
            }
    return out


class _Function:
    """The reads of one function: paths per local name, and the paths its body and return read."""

    def __init__(self, node: ast.FunctionDef, roots: dict[str, Path_]) -> None:
        node = _ScopeComprehensions().visit(_copy(node))
        self.node = node
        self.roots = dict(roots)
        self.locals: dict[str, set[Path_]] = defaultdict(set)
        self.calls: set[str] = set()
        for arg in node.args.args:
            if arg.arg not in self.roots and arg.annotation is not None:
                name = ast.unparse(arg.annotation).split("|")[0].strip()
                if name in CLASS_TO_FIELD:
                    self.locals[arg.arg].add(CLASS_TO_FIELD[name])
        self._bind(node.body, frozenset())
        self._settle()

    def _bind(self, body: Iterable[ast.stmt], guard: frozenset[Path_]) -> None:
        for stmt in body:
            if isinstance(stmt, ast.Assign | ast.AnnAssign) and stmt.value is not None:
                targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
                for target in targets:
                    if isinstance(target, ast.Tuple) and isinstance(stmt.value, ast.Tuple):
                        for t, v in zip(target.elts, stmt.value.elts, strict=False):
                            self._assign(t, v, guard)
                    else:
                        self._assign(target, stmt.value, guard)
            elif isinstance(stmt, ast.If):
                inner = guard | frozenset(self.raw(stmt.test))
                self._bind(stmt.body, inner)
                self._bind(stmt.orelse, inner)
            elif isinstance(stmt, ast.For):
                reads = set(self.raw(stmt.iter))
                for name in ast.walk(stmt.target):
                    if isinstance(name, ast.Name):
                        self.locals[name.id] |= reads
                self._bind(stmt.body, guard)
            elif isinstance(stmt, ast.FunctionDef):
                self._bind(stmt.body, guard)
                self.locals[stmt.name] |= {p for s in stmt.body for p in self.raw(s)}
            elif isinstance(stmt, ast.With | ast.Try):
                self._bind(stmt.body, guard)
        for node in ast.walk(ast.Module(body=list(body), type_ignores=[])):
            if isinstance(node, ast.comprehension):
                reads = set(self.raw(node.iter))
                for name in ast.walk(node.target):
                    if isinstance(name, ast.Name):
                        self.locals[name.id] |= reads

    def _assign(self, target: ast.expr, value: ast.expr, guard: frozenset[Path_]) -> None:
        reads = set(self.raw(value)) | guard
        for name in ast.walk(target):
            if isinstance(name, ast.Name):
                if isinstance(value, ast.Attribute | ast.Name) and (chain := self._chain(value)) is not None:
                    self.locals[name.id].add(chain)
                self.locals[name.id] |= reads

    def _chain(self, node: ast.expr) -> Path_ | None:
        """Returns a root-based path for `root.a.b` (or `alias.b`), else None."""
        parts: list[str] = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if (
            parts
            and isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("max", "min")
            and node.args
        ):
            # Because `max(records, key=…).field` reads a field of one of the records.
            node = node.args[0]
        if not isinstance(node, ast.Name):
            return None
        if node.id in self.roots:
            return self.roots[node.id] + tuple(reversed(parts))
        return ("L", node.id, *reversed(parts))

    def raw(self, node: ast.AST) -> Iterator[Path_]:
        """Yields the unresolved paths an expression or statement reads."""
        if isinstance(node, ast.Attribute | ast.Name):
            chain = self._chain(node)
            if chain is not None:
                yield chain
                return
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            self.calls.add(node.func.id)
        if isinstance(node, ast.Name):
            return
        for child in ast.iter_child_nodes(node):
            yield from self.raw(child)

    def _settle(self) -> None:
        # Locals reference locals: resolve to a fixed point (a cycle just stops growing).
        changed = True
        while changed:
            changed = False
            for name, paths in list(self.locals.items()):
                resolved = set().union(*(self.resolve(p, seen={name}) for p in paths)) if paths else set()
                if not resolved <= paths:
                    self.locals[name] = paths | resolved
                    changed = True

    def resolve(self, path: Path_, *, seen: set[str] | None = None) -> set[Path_]:
        """Resolves a path through local names to root-based paths (locals dropped)."""
        if path[0] != "L":
            return {_extend(path[:1], path[1:])}
        name, attrs = path[1], path[2:]
        if name in (seen or set()):
            return set()
        if name in MODULE_FUNCTIONS:
            self.calls.add(name)
            return set()
        out: set[Path_] = set()
        for base in self.locals.get(name, ()):
            for b in self.resolve(base, seen=(seen or set()) | {name}):
                out.add(_extend(b, attrs))
        return out

    def reads(self, node: ast.AST) -> set[Path_]:
        """Returns the root-based paths a node reads."""
        return {p for raw in self.raw(node) for p in self.resolve(raw)}


def _copy(node: ast.FunctionDef) -> ast.FunctionDef:
    copied = ast.parse(ast.unparse(node)).body[0]
    if not isinstance(copied, ast.FunctionDef):
        raise TypeError(f"unparsing {node.name} did not give back a function definition")
    return copied


class _ScopeComprehensions(ast.NodeTransformer):
    """Renames each comprehension's variables apart (`k@3`), as Python scopes them, so that two
    comprehensions reusing a name do not mix what they iterate over."""

    def __init__(self) -> None:
        self.count = 0

    def _scoped(self, node: ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp) -> ast.AST:
        self.generic_visit(node)
        self.count += 1
        names = {n.id for gen in node.generators for n in ast.walk(gen.target) if isinstance(n, ast.Name)}
        for n in ast.walk(node):
            if isinstance(n, ast.Name) and n.id in names:
                n.id = f"{n.id}@{self.count}"
        return node

    visit_ListComp = visit_SetComp = visit_GeneratorExp = visit_DictComp = _scoped


def _extend(base: Path_, attrs: tuple[str, ...]) -> Path_:
    """Extends a root path by attributes, stopping below a nested record's own fields."""
    path = base
    for attr in attrs:
        if path[0] in ROOTS and len(path) == 2 and (path[0], path[1]) in NESTED:
            fields = _record_fields(NESTED[(path[0], path[1])])
            if attr in fields:
                return path + (sorted(fields[attr])[0],) if len(fields[attr]) == 1 else path + (attr,)
            return path
        if path[0] in ROOTS and len(path) >= 2:
            return path
        path = path + (attr,)
    return path


_TREE = ast.parse(Path(inspect.getfile(rules)).read_text())
MODULE_FUNCTIONS = {n.name: n for n in _TREE.body if isinstance(n, ast.FunctionDef)}


def _expand_properties(paths: set[Path_]) -> set[Path_]:
    """Replaces a nested record's property (`consents.withdrawn`) by the fields it reads."""
    out: set[Path_] = set()
    for p in paths:
        if p[0] in ROOTS and len(p) == 3 and (p[0], p[1]) in NESTED:
            fields = _record_fields(NESTED[(p[0], p[1])])
            out |= {(p[0], p[1], f) for f in fields.get(p[2], {p[2]})}
        else:
            out.add(p)
    return out


def _constructor_keywords(function: str, class_name: str, roots: dict[str, Path_]) -> dict[str, set[Path_]]:
    """Returns, for the `class_name(...)` call a function returns, each keyword → the fact paths it reads."""
    fn = _Function(MODULE_FUNCTIONS[function], roots)
    out: dict[str, set[Path_]] = {}
    for node in ast.walk(fn.node):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == class_name:
            for kw in node.keywords:
                assert kw.arg is not None
                paths = fn.reads(kw.value)
                # A module function used in the expression (a sort key) reads its parameters' records.
                for callee in _callees(kw.value):
                    paths |= _function_paths(callee, {})
                out[kw.arg] = _expand_properties({p for p in paths if p[0] in ROOTS})
    return out


def _callees(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and n.id in MODULE_FUNCTIONS}


def _function_paths(name: str, roots: dict[str, Path_]) -> set[Path_]:
    fn = _Function(MODULE_FUNCTIONS[name], roots)
    return {p for p in fn.reads(fn.node) if p[0] in ROOTS}


def view_sources() -> dict[str, set[Path_]]:
    """Returns each RecipientView attribute → the fact paths `resolve()` builds it from."""
    return _constructor_keywords(
        "resolve", "RecipientView", {"recipient": ("R",), "r": ("R",), "campaign": ("C",), "c": ("C",)}
    )


def context_sources() -> dict[str, set[Path_]]:
    """Returns each Context attribute → the campaign fields `make_context()` builds it from."""
    return _constructor_keywords("make_context", "Context", {"campaign": ("C",)})


def _rule_reads(name: str, done: dict[str, set[Path_]], stack: frozenset[str] = frozenset()) -> set[Path_]:
    """Returns what a rule function and the module functions it calls read: ("V", a), ("X", a), C paths."""
    if name in done:
        return done[name]
    node = MODULE_FUNCTIONS[name]
    params = [a.arg for a in node.args.args]
    roots: dict[str, Path_] = {}
    for p in params:
        annotation = ast.unparse(next(a.annotation for a in node.args.args if a.arg == p) or ast.Constant(""))
        if "RecipientView" in annotation:
            roots[p] = ("V",)
        elif annotation == "Context":
            roots[p] = ("X",)
    fn = _Function(node, roots)
    out: set[Path_] = set()
    for path in fn.reads(node):
        if path[0] == "X" and len(path) >= 2 and path[1] == "campaign":
            out.add(_extend(("C",), path[2:]) if len(path) > 2 else ("C",))
        elif path[0] in ("V", "X") and len(path) >= 2:
            out.add(path[:2])
        elif path[0] in ROOTS:
            out.add(path)
    for callee in fn.calls | _callees(node):
        if callee in MODULE_FUNCTIONS and callee != name and callee not in stack:
            out |= _rule_reads(callee, done, stack | {name})
    done[name] = out
    return out


@dataclasses.dataclass
class Readers:
    """Which rules read a fact: in a condition, or only as evidence."""

    conditions: set[str] = dataclasses.field(default_factory=set)
    evidence: set[str] = dataclasses.field(default_factory=set)


def _fact_name(path: Path_) -> str:
    return ".".join((CLASS_NAMES[path[0]], *path[1:]))


def readers() -> dict[str, Readers]:
    """Returns each fact path (`RecipientFacts.consents.positive_act`) → the rule ids that read it."""
    view, context = view_sources(), context_sources()
    done: dict[str, set[Path_]] = {}
    out: dict[str, Readers] = defaultdict(Readers)
    for rule in rules.RULES:
        for p in _rule_reads(rule.evaluate.__name__, done):
            evidence = p[0] == "V" and p[1].endswith("_ref")
            if p[0] == "V":
                sources = view.get(p[1], set())
            elif p[0] == "X":
                sources = context.get(p[1], set())
            else:
                sources = {p}
            for source in _expand_properties(sources):
                if len(source) < 2:
                    continue
                target = out[_fact_name(source)]
                (target.evidence if evidence else target.conditions).add(rule.id)
    for r in out.values():
        r.evidence -= r.conditions
    return out


def fact_fields() -> list[str]:
    """Returns every field and nested-record field of RecipientFacts and CampaignFacts, in order."""
    out = []
    for root, cls in ROOTS.items():
        for f in dataclasses.fields(cls):
            out.append(f"{CLASS_NAMES[root]}.{f.name}")
            if (root, f.name) in NESTED:
                out += [
                    f"{CLASS_NAMES[root]}.{f.name}.{sub}"
                    for sub in _record_fields(NESTED[(root, f.name)])
                    if sub in {x.name for x in dataclasses.fields(NESTED[(root, f.name)])}
                ]
    return out


def rule_ids_of(fact: str, table: dict[str, Readers]) -> Readers:
    """Returns the readers of a fact row: its own path, and for a whole nested field, its sub-fields' too."""
    found = Readers(
        set(table[fact].conditions) if fact in table else set(),
        set(table[fact].evidence) if fact in table else set(),
    )
    has_sub_rows = any(r.fact.startswith(fact + ".") for r in lineage.LINEAGE)
    if not has_sub_rows:
        for path, readers_ in table.items():
            if path.startswith(fact + "."):
                found.conditions |= readers_.conditions
                found.evidence |= readers_.evidence
    found.evidence -= found.conditions
    return found


def _order(ids: Iterable[str]) -> list[str]:
    position = {rule_id: i for i, rule_id in enumerate(rules.RULE_IDS)}
    return sorted(ids, key=lambda i: position.get(i, len(position)))


def _cell(values: Iterable[object]) -> str:
    return "<br>".join(str(v) for v in values) or "—"


def render() -> str:
    """Returns the Markdown text of docs/facts.md."""
    table = readers()
    lines = [
        "<!-- Generated by `python -m infra.facts` (`make facts`); do not edit by hand. -->",
        "# Where each fact comes from",
        "",
        "Every fact campaign-gate's rules read, from the API field where a person or a system enters it to "
        "the "
        "rule that reads it. The rows are `services/campaign-gate/src/campaign_gate/domain/lineage.py`; the "
        "rule ids are derived from `rules.py` (what `resolve()` builds each recipient-view attribute from, "
        "and "
        "what each rule and the predicates it calls read). `tests/contract/test_fact_lineage.py` checks "
        "every "
        "API field against the producer's OpenAPI schema, every event key against the producer's real event, "
        "every column against the gate's tables, and that no fact a rule reads lacks a producer.",
        "",
        "A rule in *italics* cites the fact only as evidence in its finding.",
        "",
    ]
    for root in ("RecipientFacts", "CampaignFacts"):
        lines += [
            f"## {root}",
            "",
            "| Fact | Producer | Entered at (API field) | Carried by (event `key`) or held by the gate "
            "| Projection column | Rules |",
            "|---|---|---|---|---|---|",
        ]
        for r in lineage.LINEAGE:
            if not r.fact.startswith(root + "."):
                continue
            found = rule_ids_of(r.fact, table)
            rule_cell = (
                ", ".join(_order(found.conditions) + [f"*{i}*" for i in _order(found.evidence)]) or "none"
            )
            fact = f"`{r.fact.removeprefix(root + '.')}`" + (f"<br>{r.how}" if r.how else "")
            carried = _cell(r.carried) if r.carried else f"gate: {r.gate_owned}"
            lines.append(
                f"| {fact} | {r.producer} | {_cell(r.entered)} | {carried} | "
                f"{_cell(f'`{c}`' for c in r.columns)} | {rule_cell} |"
            )
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    TARGET.write_text(render())
    print(f"wrote {TARGET.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
