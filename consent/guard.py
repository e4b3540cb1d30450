"""The consent-guarded repository: the only view of the store a consumer system's request gets.

As in Medplum, consent is enforced inside the repository, not in each handler, so no path around it
exists: read, vread, search (with `_include`, `_revinclude`, chains and paging), history, batch entries and
operations all go through `GuardedRepository`, and every resource that would leave is put to the consent
engine first. What the engine refuses looks exactly like what does not exist: a hidden resource is a 404
with the same words, and counts and totals count only what the consumer may see.

Two rules keep consumers' requests on a need-to-know footing and their cost bounded:
- a search of patient records must name the patient (`patient=`, `subject=`, `patient.identifier=`,
  `_id=`, or `identifier=` on Patient); directory types (Organization, Practitioner...) are searched freely;
- chains may follow references by identifier or id only (`patient.identifier=`), since any other chained
  criterion would test the content of a resource the consumer may not be allowed to see.
History is per resource (`[type]/[id]/_history`); type and system history span every patient's record.

Every decision is kept (`decisions`), and every resource that actually left (`shown`: a count or a scan
past the page judges more than it shows), so the caller can audit who was shown, or refused, what.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
from typing import Any

from closer.errors import FhirError
from closer.store.query import Criterion, SearchQuery
from closer.store.repository import HistoryEntry, OutboxEvent, Repository, SearchResult, WriteResult
from consent.engine import ConsentEngine, ConsentRequest, Verdict
from consent.model import ResourceView
from consent.source import DIRECTORY_TYPES

Resource = dict[str, Any]

# Criteria that confine a search to named patients' records (or to named resources).
PATIENT_SCOPING = frozenset({"patient", "subject", "_id"})
# What a chain may end in: looking a resource up by its identifier or id reveals nothing about its content.
CHAIN_LEAVES = frozenset({"identifier", "_id"})
# How many records a compartment lookup reads at most (a patient's current alerts are a handful).
COMPARTMENT_LIMIT = 1000
# How many matches one consumer search may put to the engine before it is refused as too broad.
DEFAULT_SCAN_LIMIT = 2000


@dataclass(frozen=True)
class Decided:
    """One consent decision made while serving a request: what, whose, and the verdict."""

    reference: str  # Type/id/_history/version
    patients: frozenset[str]
    verdict: Verdict


def reference_of(resource: Resource, view: ResourceView | None = None) -> str:
    """Type/id/_history/version: what the audit names as disclosed (`view`: the resource's, if made)."""
    view = view or ResourceView(resource)
    version = (resource.get("meta") or {}).get("versionId")
    return f"{view.reference}/_history/{version}" if version else view.reference


def forbidden(message: str) -> FhirError:
    return FhirError(message, 403, "forbidden")


class GuardedRepository:
    """A read-only Repository for one consumer request: `inner` filtered by `engine` for `request`."""

    def __init__(
        self,
        inner: Repository,
        engine: ConsentEngine,
        request: ConsentRequest,
        *,
        scan_limit: int = DEFAULT_SCAN_LIMIT,
        decisions: list[Decided] | None = None,
        shown: set[str] | None = None,
    ) -> None:
        self.inner = inner
        self.engine = engine
        self.request = request
        self.scan_limit = scan_limit
        self.decisions: list[Decided] = [] if decisions is None else decisions
        self.shown: set[str] = set() if shown is None else shown

    # -- the one gate --------------------------------------------------------------------------------
    def allowed(self, resource: Resource) -> bool:
        """Put one resource to the engine, and remember the verdict for the audit."""
        verdict = self.engine.can_see(self.request, resource)
        view = ResourceView(resource)
        self.decisions.append(Decided(reference_of(resource, view), view.patients, verdict))
        return verdict.permitted

    def show(self, resources: list[Resource]) -> list[Resource]:
        """Note resources as disclosed (they were allowed, and are going out) and hand them back."""
        self.shown.update(reference_of(r) for r in resources)
        return resources

    # -- reads -----------------------------------------------------------------------------------------
    def read(self, resource_type: str, resource_id: str) -> Resource:
        try:
            resource = self.inner.read(resource_type, resource_id)
        except FhirError as exc:
            if exc.status == 410 and not self._last_version_visible(resource_type, resource_id):
                raise _unknown(resource_type, resource_id) from None
            raise
        if not self.allowed(resource):
            raise _unknown(resource_type, resource_id)
        return self.show([resource])[0]

    def vread(self, resource_type: str, resource_id: str, version: str) -> Resource:
        try:
            resource = self.inner.vread(resource_type, resource_id, version)
        except FhirError as exc:
            if exc.status == 410 and not self._version_visible(resource_type, resource_id, int(version) - 1):
                raise _unknown(resource_type, resource_id, version) from None
            if exc.status == 404:
                raise _unknown(resource_type, resource_id, version) from None
            raise
        if not self.allowed(resource):
            raise _unknown(resource_type, resource_id, version)
        return self.show([resource])[0]

    def read_many(self, keys: set[tuple[str, str]]) -> dict[tuple[str, str], tuple[Resource, bool]]:
        found = self.inner.read_many(keys)
        return {
            key: (self.show([res])[0], deleted)
            for key, (res, deleted) in found.items()
            if not deleted and self.allowed(res)
        }

    def _version_visible(self, resource_type: str, resource_id: str, version: int) -> bool:
        """Whether a deletion may be told: only if the version it deleted was visible."""
        if version < 1:
            return False
        try:
            return self.allowed(self.inner.vread(resource_type, resource_id, str(version)))
        except FhirError:
            return False

    def _last_version_visible(self, resource_type: str, resource_id: str) -> bool:
        entries, _ = self.inner.history(resource_type, resource_id, count=1)
        return bool(entries) and self._version_visible(resource_type, resource_id, entries[0].version - 1)

    # -- search ----------------------------------------------------------------------------------------
    def search(self, query: SearchQuery) -> SearchResult:
        check_consumer_search(query)
        wanted = query.offset + query.count
        counting = query.summary == "count" or query.total != "none"
        visible: list[Resource] = []
        scan = replace(query, includes=[], revincludes=[], total="none", summary=None, elements=[], offset=0)
        scan.count = max(query.count, 50)
        scanned = 0
        while True:
            page = self.inner.search(scan)
            scanned += len(page.matches)
            if scanned > self.scan_limit:
                raise FhirError(
                    f"This search matches more than {self.scan_limit} resources; narrow it to one patient's record",
                    400,
                    "too-costly",
                )
            visible.extend(r for r in page.matches if self.allowed(r))
            if not page.has_more or (not counting and len(visible) > wanted):
                break
            scan.offset += scan.count
        matches = [] if query.summary == "count" else visible[query.offset : wanted]
        included = self.included(query, matches)
        total = len(visible) if counting else None
        return SearchResult(self.show(matches), total, self.show(included), has_more=len(visible) > wanted)

    def included(self, query: SearchQuery, matches: list[Resource]) -> list[Resource]:
        """`_include` / `_revinclude` for exactly the page shown, each included resource judged too."""
        if not matches or not (query.includes or query.revincludes):
            return []
        return [r for r in self.inner.included(query, matches) if self.allowed(r)]

    def compartment(
        self,
        identifier: tuple[str, str],
        resource_types: list[str],
        pick: Callable[[list[Resource]], list[Resource]] = list,
    ) -> list[Resource]:
        """The resources of `resource_types` whose `patient` is a Patient with this (system, value)
        identifier (an NHS number names more than one after a merge): `pick` chooses among them (the
        current plan of each kind, say), then each chosen one is judged. The Patients themselves only
        scope the lookup: they are not returned, so they need not be visible, and a Consent that shares
        Flags but not demographics still gets the DNAR flag to a crew."""
        found = self.inner.referring_identified(
            resource_types, "patient", "Patient", identifier, limit=COMPARTMENT_LIMIT
        )
        return self.show([r for r in pick(found) if self.allowed(r)])

    def referring(
        self, source_types: list[str], param: str, target_type: str, target_ids: list[str], *, limit: int | None = None
    ) -> list[Resource]:
        found = self.inner.referring(source_types, param, target_type, target_ids, limit=limit)
        return self.show([r for r in found if self.allowed(r)])

    def referring_identified(
        self,
        source_types: list[str],
        param: str,
        target_type: str,
        identifier: tuple[str, str],
        *,
        limit: int | None = None,
    ) -> list[Resource]:
        found = self.inner.referring_identified(source_types, param, target_type, identifier, limit=limit)
        return self.show([r for r in found if self.allowed(r)])

    def fetch(self, keys: set[tuple[str, str]]) -> list[Resource]:
        """The current resources with these (type, id) keys, each judged, in key order."""
        found = self.read_many(keys)
        return [found[key][0] for key in sorted(found)]

    # -- history ---------------------------------------------------------------------------------------
    def history(
        self,
        resource_type: str | None = None,
        resource_id: str | None = None,
        *,
        since: int | None = None,
        count: int = 20,
        offset: int = 0,
    ) -> tuple[list[HistoryEntry], bool]:
        if resource_type is None or resource_id is None:
            raise forbidden("Consumer systems read the history of one resource at a time ([type]/[id]/_history)")
        entries: list[HistoryEntry] = []
        at, chunk = 0, 100
        while True:
            page, more = self.inner.history(resource_type, resource_id, since=since, count=chunk, offset=at)
            entries.extend(e for e in page if self._entry_visible(e))
            if not more:
                break
            at += chunk
        if not entries and not self._ever_visible(resource_type, resource_id, since):
            raise _unknown(resource_type, resource_id)
        page = entries[offset : offset + count]
        self.shown.update(f"{e.resource_type}/{e.resource_id}/_history/{e.version}" for e in page)
        return page, len(entries) > offset + count

    def _entry_visible(self, entry: HistoryEntry) -> bool:
        if entry.resource is None:
            return self._version_visible(entry.resource_type, entry.resource_id, entry.version - 1)
        return self.allowed(entry.resource)

    def _ever_visible(self, resource_type: str, resource_id: str, since: int | None) -> bool:
        """With `_since`, an empty page is no secret if some version (before it) is visible."""
        if since is None:
            return False
        entries, _ = self.inner.history(resource_type, resource_id, count=1000)
        return any(self._entry_visible(e) for e in entries)

    # -- writes and the change feed are not for consumers -------------------------------------------------
    def new_id(self) -> str:
        raise forbidden("Consumer systems cannot write")

    def create(self, resource: Resource, *, resource_id: str | None = None) -> WriteResult:
        raise forbidden("Consumer systems cannot write")

    def update(self, resource: Resource, *, if_match: str | None = None) -> WriteResult:
        raise forbidden("Consumer systems cannot write")

    def delete(self, resource_type: str, resource_id: str) -> WriteResult | None:
        raise forbidden("Consumer systems cannot write")

    def put_many(self, batch: list[Resource]) -> list[WriteResult]:
        raise forbidden("Consumer systems cannot write")

    def events(self, after_seq: int = 0, limit: int = 100) -> Iterator[OutboxEvent]:
        raise forbidden("Consumer systems cannot read the change feed")

    def transaction(self) -> AbstractContextManager[GuardedRepository]:
        return self._within(self.inner.transaction())

    def savepoint(self) -> AbstractContextManager[GuardedRepository]:
        return self._within(self.inner.savepoint())

    @contextmanager
    def _within(self, scope: AbstractContextManager[Repository]) -> Iterator[GuardedRepository]:
        with scope as inner:
            yield GuardedRepository(
                inner,
                self.engine,
                self.request,
                scan_limit=self.scan_limit,
                decisions=self.decisions,
                shown=self.shown,
            )


def check_consumer_search(query: SearchQuery) -> None:
    """403 unless the search names the patient (for patient records) and chains by identifier only."""
    for criterion in query.criteria:
        _check_chain(criterion)
    if query.resource_type in DIRECTORY_TYPES:
        return
    names = {c.name for c in query.criteria}
    if names & PATIENT_SCOPING or (query.resource_type == "Patient" and "identifier" in names):
        return
    raise forbidden(
        f"Consumer systems search {query.resource_type} within one patient's record: give patient=, "
        "subject=, patient.identifier= or _id="
    )


def _check_chain(criterion: Criterion) -> None:
    link = criterion.chain
    while link is not None and link.chain is not None:
        link = link.chain
    if link is not None and link.name not in CHAIN_LEAVES:
        raise forbidden(
            f"Consumer systems may chain only to an identifier or id ({criterion.name}.identifier=), not to {link.name}"
        )


def _unknown(resource_type: str, resource_id: str, version: str | None = None) -> FhirError:
    """The same 404 the store gives for what does not exist, so a refusal reveals nothing."""
    if version is None:
        return FhirError(f"{resource_type}/{resource_id} is not known", 404, "not-found")
    return FhirError(f"Version {version} of {resource_type}/{resource_id} is not known", 404, "not-found")
