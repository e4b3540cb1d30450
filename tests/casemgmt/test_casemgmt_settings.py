"""Case management settings: the packaged file covers the synthetic county, and bad files are refused
with a message naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from casemgmt.settings import SettingsError, load_settings, parse_settings
from stratify.settings import load_settings as load_stratify_settings


def test_packaged_settings_serve_every_practice_once() -> None:
    cm = load_settings()
    served = [p for team in cm.teams.values() for p in team.practices]
    assert len(served) == len(set(served)) == 36
    assert {t.locality for t in cm.teams.values()} == set(cm.out_of_hours) == {"North", "Central", "South"}
    assert cm.team_of_practice("z92005") is not None and cm.team_of_practice("Z99999") is None
    assert (cm.review_notice_days, cm.improvement.months_without_emergency_admission, cm.improvement.max_tier) == (
        7,
        6,
        "mild",
    )


def test_path_override_through_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "cm.toml"
    path.write_text(
        'review_notice_days = 3\n[teams.one]\nname = "One"\ncode = "Z1"\nphone = "1"\npractices = ["Z91001"]\n'
    )
    monkeypatch.setenv("CLOSER_CASEMGMT_SETTINGS", str(path))
    cm = load_settings()
    assert cm.review_notice_days == 3 and list(cm.teams) == ["one"] and cm.source == str(path)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"teams": {"a": {"name": "A", "code": "Z1", "phone": "1", "practices": ["Z91001", "Z92001"]}}}, "span"),
        ({"teams": {"a": {"name": "A", "code": "Z1", "phone": "1", "practices": ["Q00000"]}}}, "not in the"),
        (
            {
                "teams": {
                    "a": {"name": "A", "code": "Z1", "phone": "1", "practices": ["Z91001"]},
                    "b": {"name": "B", "code": "Z2", "phone": "1", "practices": ["Z91001"]},
                }
            },
            "already served",
        ),
        ({"teams": {"a": {"code": "Z1", "phone": "1", "practices": ["Z91001"]}}}, "teams.a.name"),
        ({"discharge": {"improvement": {"max_tier": "tiny"}}}, "max_tier"),
        ({"out_of_hours": {"West": {"name": "W", "code": "Z", "phone": "1"}}}, "not a locality"),
    ],
)
def test_bad_settings_name_the_key(raw: dict, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        parse_settings(raw, load_stratify_settings(), "test.toml")
