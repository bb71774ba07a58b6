"""Label quality: consolidation (and the post-annotation Lambda), worker metrics, dataset validation, audits
and the HTML/JSON quality report.

Submodules import numpy (the ``quality`` or ``local`` extra); matplotlib is only imported by the report.
"""

from __future__ import annotations
