"""Labels in and out of other tools' formats: import YOLO / COCO / Pascal VOC labels as a Ground Truth output
manifest (:mod:`.importer`), or COCO labels straight to a YOLO dataset, the images linked (:mod:`.to_yolo`), export an output manifest or a gtlabel dataset as COCO JSON or VOC XML
(:mod:`.export`, reading through :mod:`.sources`). The formats themselves are :mod:`gtlabel.formats.coco`,
:mod:`gtlabel.formats.voc` and :mod:`gtlabel.formats.yolo`; the class alias map is
:func:`gtlabel.convert.classes.check_aliases`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gtlabel._lazy import lazy_exports

if TYPE_CHECKING:
    from gtlabel.interchange.export import ExportReport, export_coco, export_voc
    from gtlabel.interchange.importer import ImportReport, import_labels
    from gtlabel.interchange.to_yolo import DatasetImportReport, coco_to_yolo

__getattr__ = lazy_exports(__name__, {
    "ExportReport": "gtlabel.interchange.export", "export_coco": "gtlabel.interchange.export",
    "export_voc": "gtlabel.interchange.export",
    "ImportReport": "gtlabel.interchange.importer", "import_labels": "gtlabel.interchange.importer",
    "DatasetImportReport": "gtlabel.interchange.to_yolo", "coco_to_yolo": "gtlabel.interchange.to_yolo",
})

__all__ = ["DatasetImportReport", "ExportReport", "ImportReport", "coco_to_yolo", "export_coco", "export_voc",
           "import_labels"]
