"""Datasets and input pipelines: synthetic data made on the fly, real datasets prepared through
TFDS (ImageNet, ILSVRC boxes, VOC, COCO, your own folders) and read back without TensorFlow,
joint image and box transforms, grain pipelines. Every source yields the example-dict contract
(see NOTES.md, "Datasets"); start from ``sources.open_source`` and ``pipelines.make_pipeline``."""
