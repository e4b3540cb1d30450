"""Properties of the engine over generated Consents: a deny can only take away, and no active Consent means
no access. Each generated Consent is valid R4 (checked), and every example is decided over a grid of
consumers, purposes, moments and resources."""

from __future__ import annotations

import copy
import itertools
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consent.engine import ConsentEngine, Consumer, Decision, PatientConsentService
from consent.model import ETREAT, TREAT
from tests.consent.consent_data import (
    AE,
    AMBULANCE,
    END_OF_LIFE,
    GP,
    PARAMEDIC,
    actor_ods,
    actor_ref,
    actor_role,
    allergy,
    care_plan,
    consent,
    data,
    emergency_sharing,
    flag,
    period,
    provision,
    request,
    validated,
)

JSON = dict[str, Any]

ACTORS = [
    actor_ods("RYA"),
    actor_ref("Organization/RXW"),
    actor_role(PARAMEDIC),
    actor_ref("Group/trusts"),  # undecidable: a permit never applies, a deny always may
    actor_ref("Organization/M82001"),
]
PURPOSES = ["TREAT", "ETREAT"]
CLASSES = ["Flag", "AllergyIntolerance", "CarePlan"]
DATA = [data("CarePlan/cp1"), data("CarePlan/cp1", "related"), data("CarePlan/cp2", "dependents")]
PERIODS = [None, period("2024-01-01", "2025-12-31"), period("2025-06-01"), period(end="2024-12-31")]
STATUSES = ["active", "active", "active", "inactive", "rejected", "entered-in-error", "draft", "proposed"]

CONSUMERS = [AMBULANCE, AE, GP, Consumer(ods_code="RYA")]
MOMENTS = [datetime(2025, 3, 1, tzinfo=UTC), datetime(2026, 6, 1, tzinfo=UTC)]
RESOURCES = [flag(), allergy(), care_plan("cp1", category=END_OF_LIFE), care_plan("cp2")]
GRID = [
    (request(consumer, purpose, moment=moment), resource)
    for consumer, purpose, moment, resource in itertools.product(CONSUMERS, [ETREAT, TREAT], MOMENTS, RESOURCES)
]


def _some(pool: list[Any], most: int = 2) -> st.SearchStrategy[list[Any]]:
    return st.lists(st.sampled_from(range(len(pool))), max_size=most, unique=True).map(lambda ix: [pool[i] for i in ix])


def _node(kind: st.SearchStrategy[str], children: st.SearchStrategy[list[JSON]]) -> st.SearchStrategy[JSON]:
    """One provision with random criteria over the pools, and the given children."""
    return st.builds(
        lambda k, actors, purposes, classes, codes, data_refs, during, kids: provision(
            k,
            actors=actors,
            purposes=purposes,
            classes=classes,
            codes=codes,
            data_refs=data_refs,
            during=during,
            provisions=kids,
        ),
        kind,
        _some(ACTORS),
        _some(PURPOSES, 1),
        _some(CLASSES),
        st.sampled_from([[], [END_OF_LIFE]]),
        st.one_of(st.just([]), st.just([]), st.just([]), _some(DATA, 1)),
        st.sampled_from(PERIODS),
        children,
    )


def trees(kind: str | None = None, only: str | None = None, depth: int = 3) -> st.SearchStrategy[JSON]:
    """Provision trees up to `depth` levels; `kind` fixes the root's type, `only` every node's. Built once
    at import, bottom up, so hypothesis does not rebuild strategies per draw."""
    any_kind = st.sampled_from(["permit", "deny"]) if only is None else st.just(only)
    level: st.SearchStrategy[JSON] = _node(any_kind, st.just([]))
    for _ in range(depth - 2):
        level = _node(any_kind, st.lists(level, max_size=2))
    root_kind = st.just(kind) if kind is not None else any_kind
    return _node(root_kind, st.lists(level, max_size=2)) if depth > 1 else _node(root_kind, st.just([]))


ANY_TREE = trees()
DENY_BRANCH = trees(only="deny", depth=2)
DENY_TREE = trees(only="deny")


@st.composite
def consents(draw: st.DrawFn) -> list[JSON]:
    count = draw(st.integers(1, 3))
    return [
        consent(
            f"c{i}",
            draw(ANY_TREE),
            status=draw(st.sampled_from(STATUSES)),
            patient=draw(st.sampled_from(["p1", "p1", "p1", "p2"])),
            date_time=draw(st.sampled_from(["2024-01-01", "2025-06-01", None])),
        )
        for i in range(count)
    ]


def decisions(resources: list[JSON]) -> list[Decision]:
    engine = ConsentEngine([PatientConsentService.of(resources)])
    return [engine.can_see(req, resource).decision for req, resource in GRID]


def nodes(root: JSON) -> list[JSON]:
    """Every provision in a tree, parents before children."""
    found = [root]
    for child in root.get("provision", []):
        found.extend(nodes(child))
    return found


def test_the_grid_tells_decisions_apart() -> None:
    """The properties mean something only if the grid holds both answers for a realistic Consent."""
    assert set(decisions([emergency_sharing()])) == {Decision.AUTHORIZED, Decision.REJECT}


FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(consents(), st.data())
def test_adding_a_nested_deny_never_grants_more(before: list[JSON], draw: st.DataObject) -> None:
    """A deny (with only denies inside it) put anywhere in any tree never turns a REJECT into AUTHORIZED."""
    after = copy.deepcopy(before)
    target = draw.draw(st.sampled_from(after))
    node = draw.draw(st.sampled_from(nodes(target["provision"])))
    deny = draw.draw(DENY_BRANCH)
    children = node.setdefault("provision", [])
    children.insert(draw.draw(st.integers(0, len(children))), deny)
    validated(target)
    for was, now in zip(decisions(before), decisions(after), strict=True):
        assert now is not Decision.PROCEED
        assert not (was is Decision.REJECT and now is Decision.AUTHORIZED)


@FAST
@given(consents())
def test_without_active_consents_everything_is_denied(resources: list[JSON]) -> None:
    inactive = [c for c in resources if c["status"] != "active"]
    assert set(decisions(inactive)) == {Decision.REJECT}
    withdrawn = [{**c, "status": "inactive"} for c in resources]
    assert set(decisions(withdrawn)) == {Decision.REJECT}


@FAST
@given(consents(), DENY_TREE)
def test_another_consent_of_denies_only_never_grants_more(resources: list[JSON], root: JSON) -> None:
    """Only denies: a deny Consent with a nested permit does grant that permit's narrower scope."""
    with_deny = [*resources, consent("extra-deny", root)]
    for was, now in zip(decisions(resources), decisions(with_deny), strict=True):
        assert not (was is Decision.REJECT and now is Decision.AUTHORIZED)


@FAST
@given(consents(), st.randoms(use_true_random=False))
def test_the_order_of_consents_does_not_change_the_decision(resources: list[JSON], rnd: Any) -> None:
    shuffled = list(resources)
    rnd.shuffle(shuffled)
    assert decisions(shuffled) == decisions(resources)
