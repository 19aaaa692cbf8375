"""First contact: ``import xdifferland`` is light and changes only the documented setting.

Each check runs in a fresh interpreter (this test process has long since imported everything).
The import time itself is measured by ``benchmarks/import_time.py``, not asserted here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

#: Optional or heavy pieces imported only by the functions that need them.
HEAVY = ("shap", "numba", "matplotlib", "distributed", "xskillscore", "jax", "pint",
         "cf_xarray", "dask", "scipy", "flax", "optax")
_PROBE = textwrap.dedent("""
    import json, os, sys, warnings
    import numpy, pandas, xarray  # their own import-time settings are not xdifferland's
    {before}
    env, filters, errors = dict(os.environ), list(warnings.filters), numpy.geterr()
    jax_config = {{k: repr(v) for k, v in sys.modules["jax"].config.values.items()}} \\
        if "jax" in sys.modules else None
    import xdifferland
    print(json.dumps({{
        "modules": sorted(m for m in {heavy!r} if m in sys.modules),
        "environ": {{k: [env.get(k), os.environ.get(k)] for k in set(env) | set(os.environ)
                    if env.get(k) != os.environ.get(k)}},
        "filters_changed": list(warnings.filters) != filters,
        "numpy_errors_changed": numpy.geterr() != errors,
        "jax_config_changed": None if jax_config is None else [
            k for k, v in sys.modules["jax"].config.values.items() if repr(v) != jax_config[k]],
    }}))
""")


def _probe(before: str = "", **environ: str) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("XLA_FLAGS", "XDIFFERLAND_COMPILE_LOOPS_WHOLE")} | environ
    script = _PROBE.format(before=before, heavy=HEAVY)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_import_loads_no_heavy_or_optional_dependency():
    found = _probe()
    assert found["modules"] == []


@pytest.mark.parametrize("opt_out", [False, True])
def test_import_changes_only_the_documented_xla_flags(opt_out):
    from xdifferland.parallel import LOOP_OPTION

    found = _probe(**({"XDIFFERLAND_COMPILE_LOOPS_WHOLE": "0"} if opt_out else {}))
    if opt_out:
        assert found["environ"] == {}
    else:
        assert list(found["environ"]) == ["XLA_FLAGS"]
        before, after = found["environ"]["XLA_FLAGS"]
        assert before is None and LOOP_OPTION in after
    assert not found["filters_changed"] and not found["numpy_errors_changed"]


def test_import_after_jax_changes_no_jax_config():
    found = _probe("import jax, jax.numpy")
    assert found["jax_config_changed"] == []
    assert list(found["environ"]) == ["XLA_FLAGS"]  # JAX has not started: still in time


def test_public_names_resolve_on_first_use():
    import xdifferland
    from xdifferland.simulation import simulate

    assert xdifferland.simulate is simulate
    assert set(xdifferland.__all__) <= set(dir(xdifferland))
    for name in xdifferland.__all__:
        assert getattr(xdifferland, name) is not None
    assert xdifferland.io.open_netcdf is not None  # submodules too
    with pytest.raises(AttributeError, match="no attribute 'not_a_name'"):
        xdifferland.not_a_name  # noqa: B018
