"""Writing the org tree: create one org or person, or import a whole tree (JSON or CSV), all or
nothing, naming every refused row and field.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError
from sqlmodel import Session, col, select

from services.core.clock import utcnow
from services.core.errors import Conflict, Invalid
from services.org.contracts import ImportResult, OrgIn, OrgTreeIn, PersonIn
from services.org.models import Org, OrgHead, Person
from services.org.queries import get_org


def _row_error(row: int, field: str, message: str, section: str = "orgs") -> dict[str, Any]:
    return {"section": section, "row": row, "field": field, "message": message}


def _validation_errors(exc: ValidationError, row: int, section: str) -> list[dict[str, Any]]:
    return [
        _row_error(row, ".".join(str(p) for p in e["loc"]) or "row", e["msg"], section)
        for e in exc.errors()
    ]


def parse_csv(text: str) -> OrgTreeIn:
    """The CSV form: one org per row, columns id,name,kind,parent_id,head_person_id and
    optionally deputy_person_id (header row)."""
    reader = csv.DictReader(io.StringIO(text))
    wanted = {"id", "name", "kind", "parent_id", "head_person_id", "deputy_person_id"}
    header = set(reader.fieldnames or [])
    if "head" in header and "head_person_id" not in header:
        header = (header - {"head"}) | {"head_person_id"}
    missing = {"id", "name", "kind"} - header
    if missing:
        raise Invalid(
            "CSV header is missing columns",
            errors=[_row_error(0, m, "column is missing from the header") for m in sorted(missing)],
        )
    unknown = header - wanted
    if unknown:
        raise Invalid(
            "CSV header has unknown columns",
            errors=[_row_error(0, u, "unknown column") for u in sorted(unknown)],
        )
    orgs: list[OrgIn] = []
    errors: list[dict[str, Any]] = []
    for n, raw in enumerate(reader, start=1):
        if None in raw:  # more cells than header columns
            errors.append(_row_error(n, "row", "row has more cells than the header"))
            continue
        record = {
            ("head_person_id" if k == "head" else k): (v.strip() if v else None)
            for k, v in raw.items()
        }
        try:
            orgs.append(OrgIn.model_validate(record))
        except ValidationError as exc:
            errors.extend(_validation_errors(exc, n, "orgs"))
    if errors:
        raise Invalid("the CSV has malformed rows; nothing was imported", errors=errors)
    return OrgTreeIn(orgs=orgs)


def parse_json(data: Any) -> OrgTreeIn:
    if not isinstance(data, dict):
        raise Invalid(
            "expected an object with 'people' and 'orgs'",
            errors=[_row_error(0, "body", "not an object")],
        )
    errors: list[dict[str, Any]] = []
    unknown = set(data) - {"people", "orgs"}
    errors.extend(_row_error(0, k, "unknown key", "body") for k in sorted(unknown))
    parsed: dict[str, list[Any]] = {"people": [], "orgs": []}
    models: dict[str, type[BaseModel]] = {"people": PersonIn, "orgs": OrgIn}
    for section, model in models.items():
        rows = data.get(section, [])
        if not isinstance(rows, list):
            errors.append(_row_error(0, section, "must be a list", "body"))
            continue
        for n, raw in enumerate(rows, start=1):
            try:
                parsed[section].append(model.model_validate(raw))
            except ValidationError as exc:
                errors.extend(_validation_errors(exc, n, section))
    if errors:
        raise Invalid("the document has malformed rows; nothing was imported", errors=errors)
    return OrgTreeIn(people=parsed["people"], orgs=parsed["orgs"])


OrgRows = dict[str, tuple[int, OrgIn]]  # org id -> (row number, org)


def import_tree(session: Session, tree: OrgTreeIn, by: str = "import") -> ImportResult:
    """Validate the whole tree against itself and the DB, then write it in the caller's transaction.

    Refuses (naming row and field) duplicate ids, unknown parents, cycles, unknown heads and people
    attached to unknown orgs. Nothing is written unless everything is valid.
    """
    errors: list[dict[str, Any]] = []
    file_orgs, file_people = _rows(tree, errors)
    db_orgs = _reference_errors(session, tree, file_orgs, file_people, errors)
    paths = _paths(file_orgs, db_orgs, errors)
    if errors:
        errors.sort(key=lambda e: (e["section"] != "people", e["row"]))
        raise Invalid("the org tree was refused; nothing was imported", errors=errors)
    for p in tree.people:
        session.add(Person(**p.model_dump()))
    for oid, (_, o) in sorted(file_orgs.items(), key=lambda kv: paths[kv[0]].count("/")):
        path = paths[oid]
        session.add(Org(**o.model_dump(), path=path, depth=path.count("/") - 2))
    session.flush()
    now = utcnow()
    for _, o in file_orgs.values():
        if o.head_person_id is not None:  # the first line of the org's history of heads
            session.add(OrgHead(org_id=o.id, person_id=o.head_person_id, since=now, changed_by=by))
    session.flush()
    return ImportResult(orgs_created=len(file_orgs), people_created=len(tree.people))


def _rows(tree: OrgTreeIn, errors: list[dict[str, Any]]) -> tuple[OrgRows, dict[str, int]]:
    """Orgs and people of the file by id, with their row numbers; duplicates are errors."""
    file_orgs: OrgRows = {}
    for n, o in enumerate(tree.orgs, start=1):
        if o.id in file_orgs:
            errors.append(
                _row_error(n, "id", f"duplicate id {o.id!r} (also row {file_orgs[o.id][0]})")
            )
        else:
            file_orgs[o.id] = (n, o)
    file_people: dict[str, int] = {}
    for n, p in enumerate(tree.people, start=1):
        if p.id in file_people:
            errors.append(
                _row_error(
                    n, "id", f"duplicate id {p.id!r} (also row {file_people[p.id]})", "people"
                )
            )
        else:
            file_people[p.id] = n
    return file_orgs, file_people


def _reference_errors(
    session: Session,
    tree: OrgTreeIn,
    file_orgs: OrgRows,
    file_people: dict[str, int],
    errors: list[dict[str, Any]],
) -> dict[str, Org]:
    """Ids that exist already, and parents, orgs and heads that exist nowhere; returns the
    orgs of the database the file attaches to."""
    for oid in _existing(session, Org, list(file_orgs)):
        errors.append(_row_error(file_orgs[oid][0], "id", f"org {oid!r} already exists"))
    for pid in _existing(session, Person, list(file_people)):
        errors.append(
            _row_error(file_people[pid], "id", f"person {pid!r} already exists", "people")
        )
    referenced_parents = {o.parent_id for _, o in file_orgs.values() if o.parent_id} - set(
        file_orgs
    )
    referenced_parents |= {p.org_id for p in tree.people if p.org_id} - set(file_orgs)
    db_orgs = {
        o.id: o for o in session.exec(select(Org).where(col(Org.id).in_(referenced_parents))).all()
    }
    referenced_heads = {
        p for _, o in file_orgs.values() for p in (o.head_person_id, o.deputy_person_id) if p
    }
    known_people = set(file_people) | _existing(
        session, Person, list(referenced_heads - set(file_people))
    )
    for n, p in enumerate(tree.people, start=1):
        if p.org_id and p.org_id not in file_orgs and p.org_id not in db_orgs:
            errors.append(_row_error(n, "org_id", f"unknown org {p.org_id!r}", "people"))
    people_orgs = {p.id: p.org_id for p in tree.people}
    known_orgs = set(file_orgs) | set(db_orgs)
    for n, o in file_orgs.values():
        errors.extend(_org_row_errors(n, o, known_orgs, known_people, people_orgs))
    return db_orgs


def _org_row_errors(
    n: int,
    o: OrgIn,
    known_orgs: set[str],
    known_people: set[str],
    people_orgs: dict[str, str | None],
) -> list[dict[str, Any]]:
    errors = []
    if o.parent_id and o.parent_id not in known_orgs:
        errors.append(_row_error(n, "parent_id", f"unknown parent {o.parent_id!r}"))
    if o.parent_id == o.id:
        errors.append(_row_error(n, "parent_id", "an org cannot be its own parent"))
    for field, person in (
        ("head_person_id", o.head_person_id),
        ("deputy_person_id", o.deputy_person_id),
    ):
        if person and person not in known_people:
            errors.append(_row_error(n, field, f"unknown person {person!r}"))
    deputy = o.deputy_person_id
    if deputy in people_orgs and people_orgs[deputy] != o.id:
        # The person in charge of the org's direct items belongs to it (so they see them).
        errors.append(_row_error(n, "deputy_person_id", f"{deputy!r} is not in {o.id!r}"))
    return errors


def _paths(
    file_orgs: OrgRows, db_orgs: dict[str, Org], errors: list[dict[str, Any]]
) -> dict[str, str]:
    """Each file org's path, resolved up its parents; a revisit means a cycle (an error)."""
    paths: dict[str, str] = {}
    cyclic: set[str] = set()
    for oid in file_orgs:
        trail: list[str] = []
        cur: str | None = oid
        while cur is not None and cur in file_orgs and cur not in paths:
            if cur in trail:
                cyclic.update(trail[trail.index(cur) :])
                break
            trail.append(cur)
            cur = file_orgs[cur][1].parent_id
        else:
            base = "/"
            if cur is not None:
                base = paths.get(cur) or (db_orgs[cur].path if cur in db_orgs else "")
            if base:
                for node in reversed(trail):
                    base = f"{base}{node}/"
                    paths[node] = base
    for oid in sorted(cyclic, key=lambda i: file_orgs[i][0]):
        if file_orgs[oid][1].parent_id != oid:
            errors.append(
                _row_error(file_orgs[oid][0], "parent_id", f"org {oid!r} is part of a cycle")
            )
    return paths


def _existing(session: Session, table: type[Org] | type[Person], ids: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for chunk in _chunks(ids, 500):
        found.update(session.exec(select(table.id).where(col(table.id).in_(chunk))).all())
    return found


def _chunks(items: Sequence[str], size: int) -> Iterable[Sequence[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def create_org(session: Session, org: OrgIn, by: str = "import") -> Org:
    try:
        import_tree(session, OrgTreeIn(orgs=[org]), by)
    except Invalid as exc:
        errs = exc.extra.get("errors", [])
        if any("already exists" in e["message"] for e in errs):
            raise Conflict(f"org {org.id!r} already exists", field="id") from None
        raise Invalid(
            "the org was refused",
            errors=[{"field": e["field"], "message": e["message"]} for e in errs],
        ) from None
    return get_org(session, org.id)


def create_person(session: Session, person: PersonIn) -> Person:
    if session.get(Person, person.id) is not None:
        raise Conflict(f"person {person.id!r} already exists", field="id")
    if person.org_id and session.get(Org, person.org_id) is None:
        raise Invalid(
            "unknown org", errors=[{"field": "org_id", "message": f"unknown org {person.org_id!r}"}]
        )
    row = Person(**person.model_dump())
    session.add(row)
    session.flush()
    return row
