"""OverFeat in JAX/Flax: integrated recognition, localization and detection.

Sermanet et al., "OverFeat: Integrated Recognition, Localization and Detection using
Convolutional Networks" (ICLR 2014).
"""

from overfeat import xla_defaults

xla_defaults.apply()  # before JAX starts a backend: see xla_defaults for why and how to opt out

from overfeat.architectures import ARCHITECTURES, Architecture, get_architecture  # noqa: E402
from overfeat.models import OverFeat, create_model  # noqa: E402

__all__ = ["ARCHITECTURES", "Architecture", "OverFeat", "create_model", "get_architecture"]
__version__ = "0.1.0"
