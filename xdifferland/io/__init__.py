"""Input/output: CARDAMOM site-driver and DifferLand global readers, safe NetCDF / Zarr writers,
CMIP/ILAMB export.

Readers return canonical Datasets (names, units and CF metadata of
:mod:`xdifferland.contract.declare`); writers are atomic, refuse to overwrite unless asked, and keep
attributes round-tripping.
"""

from __future__ import annotations

from .cardamom import (
    CardamomFormatError,
    open_cardamom_site,
    open_cardamom_sites,
    read_site_coords,
)
from .cmip import to_cmip
from .differland_global import open_differland_global
from .differland_global_writer import to_differland_global
from .ilamb import write_ilamb_references
from .netcdf import decode_attrs, encode_attrs, open_netcdf, open_zarr, to_netcdf, to_zarr
from .text import write_text_atomic

__all__ = [
    "CardamomFormatError",
    "decode_attrs",
    "encode_attrs",
    "open_cardamom_site",
    "open_cardamom_sites",
    "open_differland_global",
    "open_netcdf",
    "open_zarr",
    "read_site_coords",
    "to_cmip",
    "to_differland_global",
    "to_netcdf",
    "to_zarr",
    "write_ilamb_references",
    "write_text_atomic",
]
