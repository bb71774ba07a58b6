"""File formats, pure: values in, values out (no storage, no service).

- :mod:`gtlabel.formats.ground_truth`: Ground Truth's own files (label category config, input- and
  output-manifest lines, the ``-metadata`` block, the type constants);
- :mod:`gtlabel.formats.yolo`: Ultralytics YOLO detect datasets (label files, ``data.yaml``, Ultralytics'
  label rules);
- :mod:`gtlabel.formats.coco`: COCO object-detection JSON (checked records; a writer in pieces, streamed);
- :mod:`gtlabel.formats.voc`: Pascal VOC annotation XML (1-based inclusive pixels; DOCTYPEs refused);
- :mod:`gtlabel.formats.answers`: a worker's answer (the crowd-form output), checked before it is stored;
- :mod:`gtlabel.formats.strict_json`: JSON without NaN / Infinity, on the way in and out.
"""
