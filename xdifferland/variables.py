"""The former home of :mod:`xdifferland.contract.declare`, kept so that existing imports work.

``import xdifferland.variables`` gives the very same module object (names, monkeypatching and all).
"""

import sys

from .contract import declare as _module

sys.modules[__name__] = _module
