"""Array type aliases used across the engine (jaxtyping), kept in one place."""

from __future__ import annotations

from jaxtyping import Array, Float

__all__ = ["Array", "PixelArray", "TimePixelArray", "Scalar"]

#: One value per pixel, shape ``(pixel,)``.
PixelArray = Float[Array, "pixel"]
#: One value per time step and pixel, shape ``(time, pixel)`` (time-major, the scan axis first).
TimePixelArray = Float[Array, "time pixel"]
#: A scalar.
Scalar = Float[Array, ""]
