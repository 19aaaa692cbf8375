"""The former home of :mod:`xdifferland.contract.check`, kept so that existing imports work.

``import xdifferland.validation`` gives the very same module object (names, monkeypatching and all).
"""

import sys

from .contract import check as _module

sys.modules[__name__] = _module
