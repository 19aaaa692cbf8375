"""Reproducible experiments built on the public API (site validation, ...)."""

from .sites import (IGBP_TO_PFT, prepare_sites, published_scores, site_validation,
                    temporal_split)

__all__ = ["IGBP_TO_PFT", "prepare_sites", "published_scores", "site_validation",
           "temporal_split"]
