"""Datasets: real ones prepared through TFDS (ImageNet, ILSVRC boxes, VOC, COCO) and read back
without TensorFlow, in the example-dict contract every module shares (see NOTES.md, "Datasets")."""
