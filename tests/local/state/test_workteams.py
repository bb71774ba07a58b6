"""The workteams repository against a real SQLite file."""

from __future__ import annotations

import pytest

from gtlabel.local.state import Database, State
from gtlabel.local.state.records import Team


def _team(name: str, t: float = 1.0) -> Team:
    return Team(name=name, arn=f"arn:aws:sagemaker:us-east-1:123456789012:workteam/private-crowd/{name}",
                description=f"team {name}", members=[{"CognitoMemberDefinition": {"UserGroup": name}}],
                extra={"Tags": [{"Key": "k", "Value": "v"}]}, created=t, updated=t)


def test_insert_get_and_find_by_arn(state: State) -> None:
    teams = state.teams
    assert teams.get("a") is None and teams.count() == 0
    teams.insert(_team("Alpha"))
    teams.insert(_team("beta", 2.0))
    got = teams.get("Alpha")
    assert got == _team("Alpha")  # every field round-trips, JSON columns included
    assert teams.by_arn(_team("beta").arn) == _team("beta", 2.0)
    assert teams.by_arn("arn:aws:sagemaker:us-east-1:123456789012:workteam/private-crowd/none") is None
    assert teams.exists("Alpha") and not teams.exists("alpha") and teams.exists("ALPHA", ignore_case=True)
    assert teams.count() == 2 and sorted(t.name for t in teams.all()) == ["Alpha", "beta"]


def test_update_and_delete(state: State) -> None:
    teams = state.teams
    teams.insert(_team("a"))
    teams.update("a", members=[], description="new", extra={"NotificationConfiguration": {}}, updated=9.0)
    got = teams.get("a")
    assert got is not None
    assert (got.members, got.description, got.extra, got.created, got.updated) == (
        [], "new", {"NotificationConfiguration": {}}, 1.0, 9.0)
    teams.delete("a")
    assert teams.get("a") is None and teams.count() == 0


def test_the_rows_survive_reopening_the_file(state: State) -> None:
    state.teams.insert(_team("kept"))
    path = state.db.path
    state.db.close()
    again = Database(path)
    try:
        assert State(again).teams.get("kept") == _team("kept")
    finally:
        again.close()


def test_a_failed_transaction_keeps_no_team(state: State) -> None:
    with pytest.raises(RuntimeError), state.tx():
        state.teams.insert(_team("half"))
        raise RuntimeError("refused after the insert")
    assert state.teams.get("half") is None
