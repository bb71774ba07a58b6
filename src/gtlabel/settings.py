"""One settings object for gtlabel: :class:`Settings`, read from ``GTLABEL_*`` environment variables.

Precedence (highest first): an explicit argument to a function (``role_arn=``, ``processes=``, ...) > the
``GTLABEL_<FIELD>`` environment variable > the default here. An empty variable counts as unset.

Refresh rule (the only one): :func:`get_settings` returns the settings of the environment *as it is at the
call*. The object is cached while none of the variables (:func:`variables`, upper case) changes; setting,
changing or unsetting one is seen by the next call (a test's ``monkeypatch.setenv``, a notebook's ``os.environ[...] = ...``), with nothing to
reload. Code reads settings when it needs a value and never keeps them in module globals. Worker processes
inherit the environment, so they see the same settings. To inject settings without the environment, pass
explicit arguments, or build ``Settings(...)`` directly (keyword arguments win over the environment).

A value that does not parse (``GTLABEL_QUORUM=abc``) is a :class:`~gtlabel.errors.ConfigError` naming the
variable, raised by the first :func:`get_settings` that sees it.

AWS endpoints, credentials, profiles and regions are *not* settings of ours: boto3 reads them exactly as it
always does (``AWS_PROFILE``, ``AWS_REGION``/``AWS_DEFAULT_REGION``, ``AWS_ENDPOINT_URL``,
``AWS_ENDPOINT_URL_S3``, ``AWS_ENDPOINT_URL_SAGEMAKER``, ...); :func:`gtlabel.storage.use_endpoint` points
gtlabel's own S3 calls elsewhere for a block of code.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from gtlabel.errors import ConfigError

__all__ = ["ENV_PREFIX", "Settings", "get_settings", "variables"]

ENV_PREFIX = "GTLABEL_"


class Settings(BaseSettings):
    """Every ``GTLABEL_*`` setting (the variable is the field name in upper case after ``GTLABEL_``)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, case_sensitive=False, extra="ignore",
                                      env_ignore_empty=True, frozen=True)

    # --- labeling jobs
    role_arn: str | None = Field(
        default=None, description="IAM execution role for labeling jobs and pipelines when none is given.")
    region: str | None = Field(
        default=None, description="Region for labeling jobs and pipelines; else boto3's (AWS_REGION, profile).")
    workteam_arn: str | None = Field(
        default=None, description="The private workteam to label with (gtlabel serve hands out its default team "
                                  "here; the notebooks read it).")
    facts_dir: Path | None = Field(
        default=None, description="A folder whose ground-truth-*.json files replace the packaged facts (prices, "
                                  "limits, region accounts) of the same name.")
    # --- storage
    kms_key_id: str | None = Field(
        default=None, description="KMS key (id, ARN or alias) used for SSE-KMS on every object gtlabel writes to S3 "
                                  "(and the job's output key when the spec names none).")
    max_concurrency: int = Field(default=32, ge=1, le=256, description="Threads for concurrent S3 reads and copies.")
    multipart_threshold_mb: int = Field(default=64, ge=5, description="S3 writes above this size use multipart.")
    # --- conversion and display
    progress: bool = Field(default=True, description="Show progress bars on long work (0 turns them off).")
    convert_processes: int = Field(
        default=0, ge=0, le=64,
        description="Processes that convert one output manifest to YOLO: 0 = one more than the CPUs (at most 8) for "
                    "manifests of 16 MiB or more, else 1; 1 = always in the calling process.")
    # --- consolidation (the post-annotation Lambda handler)
    iou_threshold: float = Field(
        default=0.5, gt=0, le=1, description="IoU at which two workers' boxes are the same object (Lambda handler).")
    quorum: int | None = Field(
        default=None, ge=1, description="Workers who must draw a box for it to be kept (Lambda handler); "
                                        "default: a majority.")
    # --- models and tools
    cache_dir: Path | None = Field(
        default=None, description="Cache of model weights and fonts; default $XDG_CACHE_HOME/gtlabel "
                                  "(~/.cache/gtlabel).")
    worker_password: SecretStr | None = Field(
        default=None, description="Password of the simulated workers made by `gtlabel workers simulate --workers N`.")


_current: tuple[tuple[str | None, ...], Settings] | None = None


def variables() -> tuple[str, ...]:
    """The names of the environment variables, ``GTLABEL_ROLE_ARN`` ..., in field order."""
    return tuple(ENV_PREFIX + name.upper() for name in Settings.model_fields)


_VARIABLES = variables()


def get_settings() -> Settings:
    """The settings of the current environment (see the refresh rule in the module docstring)."""
    global _current
    key = tuple(map(os.environ.get, _VARIABLES))  # cheap: the hot paths call this for every file they write
    current = _current
    if current is not None and current[0] == key:
        return current[1]
    try:
        settings = Settings()
    except ValidationError as exc:
        problems = "; ".join(f"{ENV_PREFIX}{'.'.join(str(p) for p in e['loc']).upper()}={e.get('input')!r}: "
                             f"{e['msg']}" for e in exc.errors())
        raise ConfigError(f"invalid setting: {problems}") from None
    _current = (key, settings)
    return settings



def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask where the platform has one, else the machine's)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1
