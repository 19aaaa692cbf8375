"""The former home of :mod:`xdifferland.contract.find`, kept so that existing imports work.

``import xdifferland.discovery`` gives the very same module object (names, monkeypatching and all).
"""

import sys

from .contract import find as _module

sys.modules[__name__] = _module
