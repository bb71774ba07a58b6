"""gtlabel: raw drone images in S3 -> Ground Truth bounding-box labeling jobs -> YOLO11 datasets.

The public API is small and pinned (``__all__``; a test keeps it stable). Heavy extras (ultralytics, the
SageMaker SDK, playwright) import lazily.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
