"""Entry points of the SageMaker Pipeline's steps (``python3 -m gtlabel.pipeline_scripts.<step>``).

They run inside the Processing/Training containers, which must have ``gtlabel[train]`` installed, and use
SageMaker's container conventions (``/opt/ml/...``); every path can be overridden by an argument or the
usual ``SM_*`` environment variable, so the scripts also run (and are tested) on a plain machine.

- :mod:`.convert`: Ground Truth output manifest -> YOLO11 dataset (:func:`gtlabel.convert.convert_ground_truth_to_yolo`)
- :mod:`.train`: YOLO11 training (:func:`gtlabel.model.train.train_yolo`) -> ``/opt/ml/model``
- :mod:`.evaluate`: ``model.tar.gz`` + dataset -> ``evaluation.json`` (the pipeline's PropertyFile)
"""
