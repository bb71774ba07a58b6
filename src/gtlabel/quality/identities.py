"""Who the workers are: a username beside each Ground Truth worker id, where the workforce knows it.

Ground Truth names workers by ids (``private.us-east-1.3e78...``). A private workforce's answers carry
``workerMetadata.identityData``: the worker's Cognito ``sub`` and the ``issuer`` (the user pool's URL,
``https://cognito-idp.<region>.amazonaws.com/<pool id>``). The workteam's Cognito user pool maps each ``sub`` to a
username (``cognito-idp ListUsers``). The local service (``gtlabel serve``) answers ``ListUsers`` for its own
workers, so the same lookup names them there.

The lookup is optional and never fails a report: where a pool cannot be read (no permission, no route, no such
pool), its workers keep their ids only and a warning is logged. Public (Mechanical Turk) and vendor workers carry
no identity data and keep their ids.

Pure part: :func:`identities` and :func:`pools_of`. I/O rim: :func:`pool_usernames`, :func:`workteam_pools`,
:func:`job_pools`, :func:`lookup_usernames` (``cognito_client=None``: a default client).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from gtlabel.aws import Arn, is_public_workteam, paginate
from gtlabel.quality.workers import WorkerAnswer

__all__ = ["identities", "job_pools", "lookup_usernames", "pool_usernames", "pools_of", "workteam_pools"]

T = TypeVar("T")

log = logging.getLogger(__name__)

_ISSUER = re.compile(r"https://cognito-idp\.[a-z0-9-]+\.amazonaws\.com/(?P<pool>[\w-]+_[0-9a-zA-Z]+)/?")
_MAX_USER_PAGES = 200  # 60 users a page: 12,000 users per pool at most


# ----------------------------------------------------------------------------------------------- pure
def identities(answers: Iterable[WorkerAnswer]) -> dict[str, tuple[str, str | None]]:
    """worker id -> (Cognito ``sub``, ``issuer``) for every worker whose answers carry identity data."""
    out: dict[str, tuple[str, str | None]] = {}
    for a in answers:
        if a.sub and a.worker_id not in out:
            out[a.worker_id] = (a.sub, a.issuer)
    return out


def pools_of(issuers: Iterable[str | None]) -> list[str]:
    """The user pool ids named by Cognito issuer URLs (other issuers name none), in first-seen order."""
    pools: dict[str, None] = {}
    for issuer in issuers:
        m = _ISSUER.fullmatch(issuer or "")
        if m:
            pools[m.group("pool")] = None
    return list(pools)


# ----------------------------------------------------------------------------------------------- I/O rim
def pool_usernames(cognito_client: Any, pool_id: str) -> dict[str, str]:
    """``sub`` -> username of every user of a Cognito user pool (``ListUsers``, every page, bounded)."""
    out: dict[str, str] = {}
    for user in paginate(cognito_client, "list_users", "Users", max_pages=_MAX_USER_PAGES, UserPoolId=pool_id):
        for attr in user.get("Attributes", []):
            if attr.get("Name") == "sub" and attr.get("Value"):
                out[str(attr["Value"])] = str(user.get("Username", ""))
    return out


def workteam_pools(sm_client: Any, workteam_arn: str) -> list[str]:
    """The Cognito user pools of a private workteam (``DescribeWorkteam``'s member definitions)."""
    arn = Arn.parse(workteam_arn)
    name = arn.resource_name if arn is not None else workteam_arn
    team = sm_client.describe_workteam(WorkteamName=name)["Workteam"]
    pools: dict[str, None] = {}
    for member in team.get("MemberDefinitions", []):
        pool = member.get("CognitoMemberDefinition", {}).get("UserPool")
        if pool:
            pools[str(pool)] = None
    return list(pools)


def job_pools(sm_client: Any, job_names: Iterable[str]) -> list[str]:
    """The user pools of the workteams of these labeling jobs (``DescribeLabelingJob`` -> ``DescribeWorkteam``);
    a job or team that cannot be described is logged and skipped."""
    pools: dict[str, None] = {}
    for job in dict.fromkeys(job_names):
        desc = _tolerant(f"describe labeling job {job}", lambda j: sm_client.describe_labeling_job(LabelingJobName=j),
                         job)
        team = (desc or {}).get("HumanTaskConfig", {}).get("WorkteamArn")
        if team and not is_public_workteam(team):
            pools.update(dict.fromkeys(_tolerant(f"describe workteam {team}", workteam_pools, sm_client, team) or ()))
    return list(pools)


def _tolerant(what: str, fn: Callable[..., T], *args: Any) -> T | None:
    try:
        return fn(*args)
    except (BotoCoreError, ClientError) as exc:
        log.warning("worker usernames: could not %s (%s); those workers are shown by id only", what, exc)
        return None


def lookup_client(service: str) -> Any:
    """A boto3 client for the lookup (``sagemaker`` or ``cognito-idp``; endpoints and credentials as boto3 finds
    them, e.g. ``AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER`` for the local service), with short time-outs."""
    # boto3 and botocore.config load here, on the first lookup: most of a second of import time that
    # `gtlabel` commands (and reports without worker names) never need
    import boto3
    from botocore.config import Config

    # a report never waits long on the lookup: short time-outs, one retry
    config = Config(connect_timeout=5, read_timeout=15, retries={"max_attempts": 2, "mode": "standard"})
    return boto3.client(service, config=config)  # type: ignore[call-overload]


def lookup_usernames(answers: Iterable[WorkerAnswer], *, cognito_client: Any | None = None,
                     user_pools: Iterable[str] = (),
                     find_pools: Callable[[], Iterable[str]] | None = None) -> dict[str, str]:
    """worker id -> username for the workers whose user pool can be read.

    The pools asked are ``user_pools`` and those the answers' issuers name; where these name none (the local
    service's issuer is its own URL), ``find_pools()`` (e.g. :func:`job_pools`). Failures are logged and skipped:
    the result may be partial or empty. Nothing is asked when no answer carries identity data."""
    ids = identities(answers)
    if not ids:
        return {}
    pools = list(dict.fromkeys([*user_pools, *pools_of(issuer for _, issuer in ids.values())]))
    if not pools and find_pools is not None:
        pools = list(find_pools())
    by_sub: dict[str, str] = {}
    if pools and cognito_client is None:
        cognito_client = _tolerant("make a Cognito client", lookup_client, "cognito-idp")
    for pool in pools if cognito_client is not None else ():
        by_sub.update(_tolerant(f"list the users of pool {pool}", pool_usernames, cognito_client, pool) or {})
    return {wid: by_sub[sub] for wid, (sub, _) in ids.items() if sub in by_sub}
