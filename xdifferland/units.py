"""The former home of :mod:`xdifferland.contract.convert`, kept so that existing imports work.

``import xdifferland.units`` gives the very same module object (names, monkeypatching and all).
"""

import sys

from .contract import convert as _module

sys.modules[__name__] = _module
