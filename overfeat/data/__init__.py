"""Datasets and input pipelines: synthetic data made on the fly, TFDS sources, joint image and
box transforms, grain pipelines. See ``sources.open_source`` and ``pipelines.make_pipeline``."""
