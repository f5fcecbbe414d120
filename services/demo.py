"""The demo organization loaded by ``dutyledger dev`` on an empty database.

One city committee, 3 general branches, 10 branches and 40 people (every org has a head), plus one
account per role. Deterministic ids so the README's curl examples work on every machine."""

from __future__ import annotations

from pydantic import BaseModel
from sqlmodel import Session

from services.accounts.models import AccountIn, Role
from services.accounts.store import create_account
from services.org.contracts import OrgIn, OrgTreeIn, PersonIn
from services.org.store import import_tree

_SURNAMES = ["Li", "Wang", "Zhang", "Liu", "Chen", "Yang", "Zhao", "Huang", "Zhou", "Wu"]


_GIVEN = ["Wei", "Fang", "Min", "Jing", "Lei", "Yan", "Qiang", "Xiu", "Jun", "Hong", "Ping", "Tao"]


GENERAL_BRANCHES = {"gb-1": 3, "gb-2": 3, "gb-3": 4}  # general branch -> number of branches


class DemoAccount(BaseModel):
    label: str = ""
    role: Role
    scope_org_id: str | None
    person_id: str | None
    token: str


class DemoResult(BaseModel):
    orgs: int
    people: int
    accounts: list[DemoAccount]


def demo_tree() -> OrgTreeIn:
    people: list[PersonIn] = []
    orgs: list[OrgIn] = []
    counter = 0

    def person(org_id: str, title: str) -> str:
        nonlocal counter
        name = f"{_SURNAMES[counter % len(_SURNAMES)]} {_GIVEN[(counter * 7) % len(_GIVEN)]}"
        pid = f"p-{counter + 1:03d}"
        people.append(
            PersonIn(id=pid, name=name, title=title, email=f"{pid}@demo.example.org", org_id=org_id)
        )
        counter += 1
        return pid

    # Orgs are created before their people reference them, so people point at org ids in the file.
    orgs.append(OrgIn(id="city", name="City Committee", kind="committee"))
    for g, (gb, branches) in enumerate(GENERAL_BRANCHES.items(), start=1):
        orgs.append(
            OrgIn(id=gb, name=f"General Branch {g}", kind="general_branch", parent_id="city")
        )
        for b in range(1, branches + 1):
            orgs.append(OrgIn(id=f"{gb}-b{b}", name=f"Branch {g}.{b}", kind="branch", parent_id=gb))
    heads: dict[str, str] = {}
    deputies: dict[str, str] = {}  # in charge of direct responsibilities
    heads["city"] = person("city", "Secretary")
    deputies["city"] = person("city", "Deputy secretary")
    for _ in range(2):
        person("city", "Committee member")
    for o in orgs[1:]:
        heads[o.id] = person(o.id, "Secretary")
        person(o.id, "Member")
        if o.kind == "general_branch":
            deputies[o.id] = person(o.id, "Deputy secretary")
    while counter < 40:
        person("gb-3-b4", "Member")
    for o in orgs:
        o.head_person_id = heads[o.id]
        o.deputy_person_id = deputies.get(o.id)
    return OrgTreeIn(people=people, orgs=orgs)


def _heads_and_deputies(tree: OrgTreeIn) -> list[AccountIn]:
    """Every other head, so a newcomer can walk the whole cascade (the console lists them): the
    heads of general branches oversee their branch's rectifications, branch heads are members;
    and the deputies, who answer for their org's direct responsibilities."""
    names = {p.id: p.name for p in tree.people}
    specs = []
    for o in tree.orgs:
        if o.deputy_person_id is not None:
            specs.append(
                AccountIn(
                    role=Role.member,
                    scope_org_id=o.id,
                    person_id=o.deputy_person_id,
                    label=f"{names[o.deputy_person_id]}, deputy of {o.name}",
                )
            )
        if o.parent_id is None or o.id == "gb-1-b1" or o.head_person_id is None:
            continue
        role = Role.committee if o.kind == "general_branch" else Role.member
        specs.append(
            AccountIn(
                role=role,
                scope_org_id=o.id,
                person_id=o.head_person_id,
                label=f"{names[o.head_person_id]}, head of {o.name}",
            )
        )
    return specs


def load_demo(session: Session) -> DemoResult:
    tree = demo_tree()
    import_tree(session, tree)
    specs = [
        AccountIn(role=Role.admin, label="demo admin"),
        AccountIn(
            role=Role.committee, scope_org_id="city", person_id="p-001", label="demo committee"
        ),
        AccountIn(
            role=Role.member,
            scope_org_id="gb-1-b1",
            person_id=tree.orgs[2].head_person_id,
            label="demo member (head of branch 1.1)",
        ),
        AccountIn(role=Role.auditor, scope_org_id="city", label="demo auditor"),
    ]
    specs += _heads_and_deputies(tree)
    member = next(p for p in tree.people if p.org_id == "gb-1-b1" and p.title == "Member")
    specs.append(
        AccountIn(
            role=Role.member,
            scope_org_id="gb-1-b1",
            person_id=member.id,
            label=f"{member.name}, member of Branch 1.1",
        )
    )
    accounts = []
    for spec in specs:
        created = create_account(session, spec)
        accounts.append(
            DemoAccount(
                label=spec.label,
                role=created.role,
                scope_org_id=created.scope_org_id,
                person_id=created.person_id,
                token=created.token,
            )
        )
    return DemoResult(orgs=len(tree.orgs), people=len(tree.people), accounts=accounts)


LEVEL_KINDS = ("committee", "general_branch", "branch", "group")


def synthetic_tree(n: int, depth: int = 4, root: str = "t") -> OrgTreeIn:
    """A tree of ``n`` orgs on ``depth`` levels (breadth first, the smallest even fan-out that
    reaches ``n``), each with a head ``h-<org>``: for load tests and benchmarks."""
    fanout = 1
    while sum(fanout**k for k in range(depth)) < n:
        fanout += 1
    orgs: list[OrgIn] = []
    people: list[PersonIn] = []

    def add(org_id: str, parent: str | None, level: int) -> None:
        head = f"h-{org_id}"
        kind = LEVEL_KINDS[min(level, len(LEVEL_KINDS) - 1)]
        people.append(PersonIn(id=head, name=f"Head of {org_id}", org_id=None))
        orgs.append(OrgIn(id=org_id, name=org_id, kind=kind, parent_id=parent, head_person_id=head))

    add(root, None, 0)
    level_ids = [root]
    for level in range(1, depth):
        nxt: list[str] = []
        for parent in level_ids:
            for k in range(fanout):
                if len(orgs) >= n:
                    break
                child = f"{parent}-{k}"
                add(child, parent, level)
                nxt.append(child)
        level_ids = nxt
    for p in people:  # each head belongs to the org it heads
        p.org_id = p.id.removeprefix("h-")
    return OrgTreeIn(people=people, orgs=orgs)
