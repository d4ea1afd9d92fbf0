"""TFDS builders of our own. Importing a module here registers its builder with TFDS; reading a
prepared dataset never needs the builder (``overfeat.data.tfds_sources`` reads its files)."""
