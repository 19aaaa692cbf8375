"""benchmarks/hlo_work.py counts the kernels of time loops with and without the loop option."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.benchmark_scripts import load


@pytest.fixture(scope="module")
def hlo_work():
    return load("hlo_work")


def _loop(n_steps: int):
    def run(x, forcing):
        def body(carry, f):
            new = jnp.where(carry > 1.0, carry * 0.9 + f, jnp.sqrt(jnp.abs(carry)) + f)
            return new, new * 2.0
        return jax.lax.scan(body, x, forcing)

    x = np.ones(64, np.float32)
    forcing = np.linspace(0, 1, n_steps * 64, dtype=np.float32).reshape(n_steps, 64)
    return jax.jit(run).lower(x, forcing).compile().as_text()


HLO_WRAPPED = """\
%body (p: (s32[], f32[8])) -> (s32[], f32[8]) {
  %p = (s32[], f32[8]{0}) parameter(0)
  %f = f32[8]{0} fusion(%p), kind=kLoop, calls=%fused
  ROOT %t = (s32[], f32[8]{0}) tuple(%p, %f)
}

%fused (a: f32[8]) -> f32[8] {
  %a = f32[8]{0} parameter(0)
  ROOT %m = f32[8]{0} multiply(%a, %a)
}

%loop (q: (s32[], f32[8])) -> (s32[], f32[8]) {
  %q = (s32[], f32[8]{0}) parameter(0)
  ROOT %w = (s32[], f32[8]{0}) while(%q), condition=%cond, body=%body, backend_config={"known_trip_count":{"n":"12"}}
}

ENTRY %main (x: f32[8]) -> f32[8] {
  %x = f32[8]{0} parameter(0)
  %c = (s32[], f32[8]{0}) call(%x), to_apply=%loop
  ROOT %y = f32[8]{0} fusion(%c), kind=kLoop, calls=%fused
}
"""


def test_a_loop_wrapped_in_a_call_and_its_root_while_are_counted(hlo_work):
    comps, entry = hlo_work.computations(HLO_WRAPPED)
    rows = hlo_work.kernels(comps, entry)
    # the loop body's fusion 12 times (trip count read from the HLO), the entry's once
    assert sorted(calls for _, calls, _, _ in rows) == [1, 12]
    # the fused multiply's 8 elements, 12 + 1 times: roots of computations count
    assert hlo_work.work(comps, entry, {}) == 8 * 13


def test_the_compiled_loop_counts_every_step(hlo_work):
    comps, entry = hlo_work.computations(_loop(37))
    rows = hlo_work.kernels(comps, entry)
    in_loop = [calls for _, calls, loop, _ in rows if loop]
    assert in_loop and all(c == 37 for c in in_loop)
    # a where, a multiply-add, a sqrt and a doubling per element and step at the least
    assert hlo_work.work(comps, entry, {}) >= 37 * 64 * 4
