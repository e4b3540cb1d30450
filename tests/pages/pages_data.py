"""A small synthetic store for the web pages' tests: stratification's hand-made people (tests/stratify
strat_data: one severe and one milder person at North practice Z91001, one at South practice Z93001),
stratified so all three are candidates, the case management teams loaded, and one user per role."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import strat_data

from casemgmt.service import load_teams
from casemgmt.settings import load_settings
from closer.store.sql import SqlRepository
from pages.users import CASE_MANAGER, GP, MDT_ADMIN, add_user
from stratify.models.base import load_model
from stratify.operations import today_in_england
from stratify.runs import run

PASSWORD = "correct horse battery staple"
NORTH, SOUTH = strat_data.PRACTICE_NORTH, strat_data.PRACTICE_SOUTH  # Z91001 (team north-1), Z93001 (south-1)
SEVERE, MILD, WELL = strat_data.SEVERE, strat_data.MILD, strat_data.WELL  # SEVERE and MILD at North, WELL South


@dataclass(frozen=True)
class Person:
    username: str
    role: str
    display_name: str
    practices: tuple[str, ...] = ()
    team: str = ""


GP_NORTH = Person("gp-north", GP, "Dr Asha Patel", practices=(NORTH,))
GP_SOUTH = Person("gp-south", GP, "Dr Ben Okafor", practices=(SOUTH,))
CM_NORTH = Person("cm-north", CASE_MANAGER, "Carol Evans", team="north-1")
ADMIN_NORTH = Person("admin-north", MDT_ADMIN, "Dev Shah", team="north-1")
USERS = (GP_NORTH, GP_SOUTH, CM_NORTH, ADMIN_NORTH)


def today() -> date:
    return today_in_england(datetime.now(UTC))


def review_day() -> date:
    """A next review date the triage and plan checks accept (after today)."""
    return today() + timedelta(days=60)


def seed(repo: SqlRepository) -> None:
    """The people, a stratification run proposing all three, the teams, the users and the case manager's
    Practitioner."""
    strat_data.populate(repo)
    run(repo, strat_data.settings(moderate={"min_probability": 0.0}), strat_data.AS_OF, load_model("default"))
    load_teams(repo, load_settings())
    for person in USERS:
        add_user(
            repo,
            person.username,
            role=person.role,
            password=PASSWORD,
            practices=person.practices,
            team=person.team,
            display_name=person.display_name,
        )
