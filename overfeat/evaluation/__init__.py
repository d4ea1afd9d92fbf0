"""ILSVRC evaluation: metrics for classification, localization and detection, and the
submission file formats.

- ``evaluators``: ``ClassificationEvaluator``, ``LocalizationEvaluator``,
  ``DetectionEvaluator`` (``add(prediction, ground_truth)`` per image, ``compute()``).
- ``matching``: IoU in the devkits' conventions, ILSVRC's per-object threshold, matching of
  detections to ground truth (ILSVRC and VOC rules).
- ``average_precision``: precision/recall curves; all-point, 11-point and 101-point AP.
- ``submission``: writers and readers of the ILSVRC submission files.
- ``output_quality``: what a user sees at a score threshold: false boxes on images with no
  object, duplicate boxes, objects found.

Definitions, sources and every choice made are in NOTES.md, section "Evaluation".
"""

from overfeat.evaluation.average_precision import (
    all_point_ap,
    average_precision,
    interpolated_ap,
    precision_recall,
)
from overfeat.evaluation.evaluators import (
    DETECTION_PROTOCOLS,
    ClassificationEvaluator,
    DetectionEvaluator,
    DetectionProtocol,
    LocalizationEvaluator,
)
from overfeat.evaluation.matching import ilsvrc_iou_threshold, iou_xyxy, match_detections
from overfeat.evaluation.submission import (
    SubmissionFormatError,
    read_classification,
    read_detection,
    read_localization,
    write_classification,
    write_detection,
    write_localization,
)

__all__ = [
    "DETECTION_PROTOCOLS",
    "ClassificationEvaluator",
    "DetectionEvaluator",
    "DetectionProtocol",
    "LocalizationEvaluator",
    "SubmissionFormatError",
    "all_point_ap",
    "average_precision",
    "ilsvrc_iou_threshold",
    "interpolated_ap",
    "iou_xyxy",
    "match_detections",
    "precision_recall",
    "read_classification",
    "read_detection",
    "read_localization",
    "write_classification",
    "write_detection",
    "write_localization",
]
