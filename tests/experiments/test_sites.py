"""FLUXNET site validation pieces on the shared site files."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import FLUXNET
from xdifferland.experiments import prepare_sites, published_scores, site_validation
from xdifferland.experiments import temporal_split

pytestmark = pytest.mark.shared


@pytest.fixture(scope="module")
def two_sites():
    return prepare_sites(FLUXNET, sites=["US-Var", "DE-Tha"])


def test_prepare_sites_renames_eddy_covariance_streams_and_adds_predictors(two_sites):
    ds = two_sites
    assert {"gpp", "reco", "nee", "et_ec", "lai"} <= set(ds.data_vars)
    assert "et" not in ds and "nbe" not in ds
    assert ds["grassland"].sel(site="US-Var") == 1 and ds["grassland"].sel(site="DE-Tha") == 0
    assert ds["needleleaf_forest"].sel(site="DE-Tha") == 1
    assert bool(ds["t_min"].notnull().all())  # trimmed to the common record
    assert ds["vpd"].attrs["units"] == "hPa"  # converted to kPa at the boundary


def test_temporal_split_follows_the_published_test_years(two_sites):
    train, test = temporal_split(two_sites)
    scores = published_scores(FLUXNET)
    for site in ("US-Var", "DE-Tha"):
        dates = two_sites["date"].sel(site=site)
        first_test = dates.where(test.sel(site=site), drop=True).min().values
        assert str(first_test)[:10] == scores.loc[site, "test_start"]
        assert not bool((train & test).any())


def test_joint_site_fit_scores_each_site(two_sites):
    result = site_validation(FLUXNET, sites=["US-Var", "DE-Tha"], epochs=3,
                             leave_one_out=False, progress=False)
    assert list(result.table.index) == ["DE-Tha", "US-Var"] or set(result.table.index) == {
        "DE-Tha", "US-Var"}
    for label in ("GPP", "ET", "NEE", "LAI"):
        assert np.isfinite(result.table[f"hybrid_{label}"]).all()
        assert np.isfinite(result.table[f"published_{label}"]).all()
    assert result.means.shape[0] == 1
