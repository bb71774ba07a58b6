"""The seed's example 2, unchanged except for its import line: Ground Truth output -> YOLO11 dataset.

Run it against AWS, or against the local service / any S3 endpoint by exporting AWS_ENDPOINT_URL_S3.
"""
from gtlabel.ground_truth_utils import convert_ground_truth_to_yolo

convert_ground_truth_to_yolo(
    input_manifest="s3://my-bucket/labels/drone-objects-2026-11-25/manifests/output/output.manifest",
    output_directory="datasets/drone-yolo",
    class_mapping={"drone": 0, "vehicle": 1, "person": 2, "building": 3})
