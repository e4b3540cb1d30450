"""Concurrent writers: every write lands, none fails on a lock, versions stay in sequence."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fhirdata import patient

from closer.store.query import parse_search
from fhir_profiles.nhs_number import generate_nhs_number


def test_threads_writing_at_once_all_commit(repo: Any) -> None:
    rng = random.Random(5)
    numbers = [generate_nhs_number(rng) for _ in range(80)]

    def write(chunk: list[str]) -> list[str]:
        ids = []
        for number in chunk:
            with repo.transaction() as tx:
                ids.append(tx.create(patient(number)).resource["id"])
        return ids

    with ThreadPoolExecutor(8) as pool:
        created = [i for ids in pool.map(write, [numbers[i::8] for i in range(8)]) for i in ids]
    assert len(set(created)) == 80
    query = parse_search("Patient", [("_summary", "count")])
    assert repo.search(query).total == 80


def test_threads_updating_one_resource_get_distinct_versions(repo: Any) -> None:
    first = repo.create(patient(generate_nhs_number(random.Random(9)))).resource

    def bump(n: int) -> str:
        current = repo.read("Patient", first["id"])
        return str(repo.update({**current, "birthDate": f"19{40 + n}-01-01"}).resource["meta"]["versionId"])

    with ThreadPoolExecutor(6) as pool:
        versions = list(pool.map(bump, range(12)))
    assert sorted(int(v) for v in versions) == list(range(2, 14))
    assert repo.read("Patient", first["id"])["meta"]["versionId"] == "13"
