"""Pixel sharding across host devices gives the same numbers as the plain engine run."""

from __future__ import annotations

import numpy as np
import pytest

from tests.engine.test_simulate import make_forcing
from xdifferland import parallel
from xdifferland.engine import midpoint_parameters, simulate


@pytest.mark.parametrize("n_pixels", [3, 4])
def test_sharded_simulation_matches_plain_run(n_pixels):
    params, forcing = midpoint_parameters(n_pixels), make_forcing(12, n_pixels)
    plain = simulate(params, forcing, ["gpp", "lai"])
    sharded = parallel.simulate(params, forcing, ["gpp", "lai"])
    for name in ("gpp", "lai"):
        assert sharded.outputs[name].shape == (12, n_pixels)
        np.testing.assert_allclose(sharded.outputs[name], plain.outputs[name], rtol=1e-6)


def test_padding_to_a_multiple_of_the_device_count():
    params, forcing = midpoint_parameters(5), make_forcing(6, 5)
    padded_params, padded_forcing, n = parallel.pad_pixels(params, forcing, 4)
    assert n == 5 and padded_params.decomposition_rate.shape == (8,)
    assert padded_forcing.t_min.shape == (6, 8)


def test_host_devices_cannot_be_reconfigured_after_jax_started():
    simulate(midpoint_parameters(1), make_forcing(2, 1), ["gpp"])  # JAX is running now
    if parallel.device_count() == 2:
        assert parallel.configure_host_devices(2) == 2  # already what was asked: fine
    else:
        with pytest.raises(RuntimeError):
            parallel.configure_host_devices(parallel.device_count() + 1)


def test_fit_uses_two_host_devices_and_matches_one(tmp_path):
    """In a fresh process with 2 host devices, fit shards batches and gives the same losses."""
    import json
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent("""
        import json, sys
        import xdifferland
        from xdifferland import parallel
        parallel.configure_host_devices(int(sys.argv[1]))
        from xdifferland.datasets import synthetic_world
        ds, _ = synthetic_world(n_lat=4, n_lon=10, n_years=2, seed=2)
        model = xdifferland.fit(ds, epochs=2, progress=False, batch_size=40)
        print(json.dumps([parallel.device_count(), model.history["train_loss"]]))
    """)
    # Both processes at once: each spends most of its time compiling, on one core.
    procs = {n: subprocess.Popen([sys.executable, "-c", script, str(n)], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True) for n in (1, 2)}
    runs = {}
    for n, proc in procs.items():
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-2000:]
        runs[n] = json.loads(out.strip().splitlines()[-1])
    assert runs[1][0] == 1 and runs[2][0] == 2
    np.testing.assert_allclose(runs[2][1], runs[1][1], rtol=1e-4)


def test_configure_host_devices_adds_the_loop_option_and_keeps_user_flags():
    """In a fresh process: count and loop option added, a user's backend option kept, JAX runs."""
    import os
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent("""
        import os
        from xdifferland import parallel
        print(parallel.configure_host_devices(2))
        print(os.environ["XLA_FLAGS"])
        import jax
        print(len(jax.devices()), float(jax.numpy.arange(3.0).sum()))
    """)
    env = dict(os.environ, XLA_FLAGS="--xla_cpu_enable_fast_math=false "
               "--xla_backend_extra_options=xla_cpu_parallel_codegen_split_count=2")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300, check=True, env=env)
    count, flags, devices = done.stdout.strip().splitlines()[-3:]
    assert count == "2" and devices == "2 3.0"
    assert "--xla_force_host_platform_device_count=2" in flags
    assert "--xla_cpu_enable_fast_math=false" in flags
    assert flags.count("--xla_backend_extra_options=") == 1
    assert ("--xla_backend_extra_options=xla_cpu_parallel_codegen_split_count=2,"
            f"{parallel.LOOP_OPTION}") in flags


@pytest.mark.parametrize(("setting", "before", "expected"), [
    ({}, "", True),
    ({"XDIFFERLAND_COMPILE_LOOPS_WHOLE": "0"}, "", False),  # the user opted out
    ({}, "import jax; jax.numpy.ones(1); ", False),  # JAX started first: flags are read already
])
def test_import_compiles_time_loops_whole_unless_opted_out_or_too_late(setting, before, expected):
    import os
    import subprocess
    import sys

    script = before + "import os, xdifferland; print(repr(os.environ.get('XLA_FLAGS', '')))"
    env = {k: v for k, v in os.environ.items()
           if k not in ("XLA_FLAGS", "XDIFFERLAND_COMPILE_LOOPS_WHOLE")} | setting
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300, check=True, env=env)
    flags = done.stdout.strip().splitlines()[-1]
    assert (parallel.LOOP_OPTION in flags) is expected
