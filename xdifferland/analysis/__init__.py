"""The DifferLand analysis workflow on labeled data (spec §10-§11, the paper's Methods).

* :func:`factorial` -- ensembles for every combination of predictor groups plus CONTROL (white
  noise) and LATLON setups, their skill labeled by ``setup``; :func:`factorial_scores` turns it
  into the scores of :func:`hierarchical_partition`;
* :func:`hierarchical_partition` -- independent contribution of each group (Shapley value of the
  score game) plus the CONTROL share; :func:`partition_shares`;
* :func:`identifiability` -- coefficient of variation across ensemble members;
  :func:`parameter_recovery` -- spatial r of fitted vs planted parameters (twin experiments);
  :func:`leaf_area_per_gpp` -- the foliar-balance combination LAI and GPP identify;
  :func:`local_identifiability` -- what the observed streams can pin down at each pixel
  (Fisher information);
* :func:`parameter_pca` -- principal components of parameter maps;
* :func:`shap_values`, :func:`shap_ranking`, :func:`functional_form` -- Kernel SHAP on the
  ensemble-mean network;
* :func:`cell_area`, :func:`net_carbon_flux`, :func:`site_comparison` -- carbon-budget
  diagnostics;
* :mod:`xdifferland.analysis.plots` -- figures (imported on demand; needs matplotlib).
"""

from .diagnostics import cell_area, net_carbon_flux, site_comparison
from .fisher import local_identifiability, posterior_summary
from .factorial import LATLON, NOISE, factorial, factorial_scores, setup_predictors
from .identifiability import (coefficient_of_variation, identifiability, leaf_area_per_gpp,
                              parameter_recovery, recovery_r)
from .partition import CONTROL, hierarchical_partition, partition_shares
from .pca import parameter_pca
from .shap_analysis import functional_form, shap_ranking, shap_values

__all__ = [
           "CONTROL",
           "LATLON",
           "NOISE",
           "cell_area",
           "coefficient_of_variation",
           "factorial",
           "factorial_scores",
           "functional_form",
           "hierarchical_partition",
           "identifiability",
           "leaf_area_per_gpp",
           "local_identifiability",
           "net_carbon_flux",
           "parameter_pca",
           "parameter_recovery",
           "partition_shares",
           "posterior_summary",
           "recovery_r",
           "setup_predictors",
           "shap_ranking",
           "shap_values",
           "site_comparison",
]
