"""Reproducible experiments built on the public API (site validation, ...)."""

from .folds import Member, fit_members
from .lai_matched import candidate_runs, lai_matched, lai_ranking, runs_by_cross_validation
from .loso import (FORCING_CLIMATE, LOSO_PREDICTORS, LOSO_SEEDS, LOSO_START, SAT_PREDICTORS,
                   add_site_climate, forcing_climate, hide_streams, leave_one_site_out, loso_table,
                   parameter_spread, training_window, with_spinup)
from .site_ensemble import SITE_ENSEMBLE_SETTINGS, fit_site_ensemble
from .sites import (IGBP_TO_PFT, prepare_sites, published_scores, site_validation,
                    temporal_split)

__all__ = ["FORCING_CLIMATE", "IGBP_TO_PFT", "LOSO_PREDICTORS", "LOSO_SEEDS", "LOSO_START",
           "Member", "SAT_PREDICTORS", "SITE_ENSEMBLE_SETTINGS", "add_site_climate",
           "candidate_runs", "fit_members", "fit_site_ensemble", "forcing_climate",
           "hide_streams", "lai_matched", "lai_ranking", "leave_one_site_out", "loso_table",
           "parameter_spread", "prepare_sites", "published_scores", "runs_by_cross_validation",
           "site_validation", "temporal_split", "training_window", "with_spinup"]
