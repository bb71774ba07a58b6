"""One settings object for gtlabel.

Precedence (highest first): explicit arguments to a function > environment variables ``GTLABEL_*`` >
defaults here. AWS endpoints, credentials, profiles and regions are *not* settings of ours: boto3 reads
them exactly as it always does (``AWS_PROFILE``, ``AWS_REGION``/``AWS_DEFAULT_REGION``,
``AWS_ENDPOINT_URL``, ``AWS_ENDPOINT_URL_S3``, ``AWS_ENDPOINT_URL_SAGEMAKER``, ...).
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GTLABEL_", extra="ignore")

    kms_key_id: str | None = Field(
        default=None, description="KMS key (id, ARN or alias) used for SSE-KMS on every object gtlabel writes to S3."
    )
    max_concurrency: int = Field(default=32, ge=1, le=256, description="Threads for concurrent S3 copies.")
    progress: bool = Field(default=True, description="Show progress bars on long work.")
    multipart_threshold_mb: int = Field(default=64, ge=5, description="S3 writes above this size use multipart.")
    convert_processes: int = Field(
        default=0, ge=0, le=64,
        description="Processes that convert one output manifest to YOLO: 0 = one more than the CPUs (at most 8) for "
                    "manifests of 16 MiB or more, else 1; 1 = always in the calling process.")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def reload_settings() -> Settings:
    """Re-read the environment (tests change it)."""
    get_settings.cache_clear()
    return get_settings()


# --- jobs area (appended by the jobs/cost helper): role, region and facts overrides -----------------------------
class _JobsSettings(BaseSettings):
    """Settings of the labeling-job builder (``GTLABEL_ROLE_ARN``, ``GTLABEL_REGION``, ``GTLABEL_FACTS_DIR``)."""

    model_config = SettingsConfigDict(env_prefix="GTLABEL_", extra="ignore")

    role_arn: str | None = Field(
        default=None, description="IAM execution role for labeling jobs when none is given to the builder."
    )
    region: str | None = Field(
        default=None, description="Region for labeling jobs; else boto3's region (AWS_REGION, profile)."
    )
    facts_dir: str | None = Field(
        default=None,
        description="A folder whose ground-truth-*.json files replace the packaged facts (prices, limits).",
    )


def get_jobs_settings() -> _JobsSettings:
    """The jobs settings for the current environment (cached per value of the three variables, so a test or
    notebook that changes them is seen at once, and the hot paths do not rebuild a settings object)."""
    import os

    key = tuple(os.environ.get(f"GTLABEL_{n}") for n in ("ROLE_ARN", "REGION", "FACTS_DIR"))
    return _jobs_settings_for(key)


@lru_cache(maxsize=16)
def _jobs_settings_for(key: tuple[str | None, ...]) -> _JobsSettings:
    return _JobsSettings()
