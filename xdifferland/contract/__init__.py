"""The data contract: the steps every user Dataset goes through before the engine sees it.

1. **declare** (:mod:`~xdifferland.contract.declare`) -- the one variable table: each variable's
   role, canonical units, CF standard name, aliases and plausible range;
2. **find** (:mod:`~xdifferland.contract.find`, :mod:`~xdifferland.contract.axes`) -- the
   variables by role, name, alias or standard name, and the time, latitude, longitude and
   station axes by CF attributes;
3. **convert** (:mod:`~xdifferland.contract.convert`) -- units to the canonical ones (pint);
4. **check** (:mod:`~xdifferland.contract.check`, with :mod:`~xdifferland.contract.plausibility`,
   :mod:`~xdifferland.contract.causes` and :mod:`~xdifferland.contract.time_checks`) -- every
   problem at once, in one :class:`~xdifferland.errors.ValidationError`, before any JAX code;
5. **hand off** (:mod:`~xdifferland.contract.handoff`) -- labeled arrays to pixel-stacked NumPy
   blocks for the engine and its results back to labeled DataArrays; no xarray or pint object
   crosses it.

:func:`xdifferland.simulation.prepare_dataset` runs steps 2-4 in this order. The former module
paths (``xdifferland.variables``, ``.discovery``, ``.units``, ``.validation``) still import.
"""
