"""PCA biplot: the pixels' component scores and the longest parameter loadings, labelled
without overlap.

A biplot of all 40 DALEC993 parameters is a clump of names at the origin; the loadings that shape
the two components are the long ones. :func:`pca_biplot` draws the ``k`` longest (in the plane of
the two components) and places each name beyond its arrow tip, moving it outwards or sideways,
with a thin leader line, until it overlaps no name placed before it.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

__all__ = ["DEFAULT_LOADINGS", "pca_biplot"]

#: Loadings a biplot labels by default (see :func:`pca_biplot`).
DEFAULT_LOADINGS = 8

_FONT_SIZE = 8
_MARGIN = 1.3  # axis extent over the longest score or arrow: room for the names beyond the tips
# Offsets (points) tried for a name: outwards along its arrow, then sideways at each distance.
_RADIAL = np.arange(3.0, 150.0, 7.0)
_SIDEWAYS = (0.0, 9.0, -9.0, 18.0, -18.0, 30.0, -30.0)
_LEADER_FROM = 12.0  # a name further than this from its tip gets a leader line


def pca_biplot(pca: xr.Dataset, components: tuple[int, int] = (1, 2), *,
               k: int | None = DEFAULT_LOADINGS, max_points: int = 2000, seed: int = 0):
    """PC scores of the pixels (grey points) and the longest parameter loadings (arrows).

    Parameters
    ----------
    pca : xarray.Dataset
        The result of :func:`~xdifferland.analysis.pca.parameter_pca`.
    components : (int, int), default (1, 2)
        The components on the x and y axes (1-based, as in ``pca.component``).
    k : int or None, default 8
        How many loadings to draw: those of the ``k`` parameters with the longest loading in
        the plane of the two components; ``None`` draws all. Eight is about what a 6-inch panel
        holds with every name legible beside its arrow and little moved from it; the title
        says how many of how many are drawn and what share of the loadings' squared length
        in the plane they carry, so what is left out is stated.
    max_points : int, default 2000
        Pixels drawn (a seeded random sample of them when there are more).
    seed : int, default 0
        Seeds the sample of pixels.

    Returns
    -------
    matplotlib.figure.Figure
        One panel; its axes name each component and its share of the variance.

    Raises
    ------
    ValueError
        If a component is not in ``pca`` or ``k`` is not a positive integer or None.

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> from xdifferland.analysis.pca import parameter_pca
    >>> rng = np.random.default_rng(0)
    >>> p = xr.Dataset({k: (("lat", "lon"), rng.random((4, 5))) for k in "abcd"})
    >>> fig = pca_biplot(parameter_pca(p), k=2)
    >>> fig.axes[0].get_xlabel().split(":")[0], len(fig.axes[0].texts)
    ('PC1', 2)
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch

    available = [int(c) for c in pca["component"].values]
    for c in components:
        if int(c) not in available:
            raise ValueError(f"components={tuple(components)}: component {c} is not in the "
                             f"PCA (it has {available}); ask parameter_pca for more "
                             "n_components or choose among those")
    if k is not None and (not isinstance(k, (int, np.integer)) or k < 1):
        raise ValueError(f"k={k!r}: give a positive number of loadings to draw, or None for all")
    i, j = (int(c) for c in components)
    names = [str(n) for n in pca["parameter"].values]
    loadings = pca["loadings"].sel(component=[i, j]).transpose("parameter", "component").values
    length = np.hypot(loadings[:, 0], loadings[:, 1])
    chosen = np.argsort(-length, kind="stable")[:k]

    scores = pca["scores"].sel(component=[i, j])
    flat = scores.stack(_p=[d for d in scores.dims if d != "component"]).values.T
    flat = flat[np.isfinite(flat).all(axis=1)]
    if len(flat) > max_points:
        flat = flat[np.random.default_rng(seed).choice(len(flat), max_points, replace=False)]
    reach = float(np.abs(flat).max()) if len(flat) else 1.0
    # the longest drawn arrow reaches 90 % of the farthest score, as in a classic biplot
    scale = 0.9 * reach / max(float(length[chosen].max()), 1e-12)
    tips = loadings[chosen] * scale

    fig, ax = plt.subplots(figsize=(6.4, 6.0))
    ax.scatter(flat[:, 0], flat[:, 1], s=4, alpha=0.3, color="0.55", linewidths=0,
               label=f"pixels ({len(flat):,})")
    ax.axhline(0.0, color="0.8", lw=0.6, zorder=0)
    ax.axvline(0.0, color="0.8", lw=0.6, zorder=0)
    for u, v in tips:
        ax.add_patch(FancyArrowPatch((0.0, 0.0), (u, v), arrowstyle="->", mutation_scale=10,
                                     color="C3", lw=1.1, shrinkA=0, shrinkB=0))
    extent = _MARGIN * max(reach, float(np.abs(tips).max()))
    ax.set(xlim=(-extent, extent), ylim=(-extent, extent), aspect="equal")
    ratio = pca["explained_variance_ratio"]
    ax.set_xlabel(f"PC{i}: {100 * float(ratio.sel(component=i)):.0f} % of the variance "
                  "(standardized score)")
    ax.set_ylabel(f"PC{j}: {100 * float(ratio.sel(component=j)):.0f} % of the variance "
                  "(standardized score)")
    if len(chosen) < len(names):
        share = float(np.sum(length[chosen] ** 2) / np.sum(length ** 2))
        shown = (f"the {len(chosen)} longest of {len(names)} parameter loadings\n"
                 f"({100 * share:.0f} % of the loadings' squared length in this plane)")
    else:
        shown = f"all {len(names)} parameter loadings"
    ax.set_title(f"Parameter PCA: pixel scores and {shown}", fontsize=10)
    ax.legend(loc="lower left", fontsize=7, frameon=False, markerscale=3)
    fig.tight_layout()
    _place_names(ax, tips, [names[n] for n in chosen])
    return fig


def _place_names(ax, tips: np.ndarray, names: list[str]) -> None:
    """Write each name near its arrow tip where it overlaps no name written before it.

    Names go in the order given (longest loading first, so the most important sit closest to
    their tips); positions are tried outwards along the arrow and sideways of it, in points, so
    the layout holds at any dpi the figure is saved with.
    """
    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    ax.apply_aspect()  # the equal aspect moves the axes at draw time: measure the final frame
    frame = ax.get_window_extent(renderer)
    origin = ax.transData.transform((0.0, 0.0))
    placed = []
    for (u, v), name in zip(tips, names):
        direction = ax.transData.transform((u, v)) - origin
        direction = direction / (np.hypot(*direction) or 1.0)
        across = np.array([-direction[1], direction[0]])
        style = {"textcoords": "offset points", "fontsize": _FONT_SIZE, "color": "C3",
                 # a light backing keeps a name legible where it lies over arrows or points
                 "bbox": {"boxstyle": "square,pad=0.1", "fc": "white", "ec": "none",
                          "alpha": 0.75},
                 "ha": "left" if direction[0] > 0.3 else
                       "right" if direction[0] < -0.3 else "center",
                 "va": "bottom" if direction[1] > 0.3 else
                       "top" if direction[1] < -0.3 else "center"}
        # a name that would run out of the frame sideways may also sit centred above or below
        # its tip (not beside a horizontal arrow, where it would cover the arrowhead)
        aligns = [style["ha"]] + (["center"] if "center" not in (style["ha"], style["va"])
                                  else [])
        text = ax.annotate(name, xy=(u, v), xytext=(0, 0), **style)
        best, best_cost = None, np.inf
        for radial in _RADIAL:
            for sideways in _SIDEWAYS:
                for align in aligns:
                    offset = radial * direction + sideways * across
                    text.set_position(tuple(offset))
                    text.set_horizontalalignment(align)
                    box = text.get_window_extent(renderer).padded(1.5)
                    cost = sum(_overlap(box, other) for other in placed) + _outside(box, frame)
                    if cost < best_cost:
                        best, best_cost = (offset, align, box), cost
                    if cost == 0:
                        break
                if best_cost == 0:
                    break
            if best_cost == 0:
                break
        offset, style["ha"], box = best
        text.remove()
        leader = None
        if np.hypot(*offset) > _LEADER_FROM:  # far from its tip: a thin line says whose it is
            leader = {"arrowstyle": "-", "color": "C3", "lw": 0.5, "alpha": 0.6, "shrinkA": 1,
                      "shrinkB": 2}
        ax.annotate(name, xy=(u, v), xytext=tuple(offset), arrowprops=leader, **style)
        placed.append(box)


def _overlap(a, b) -> float:
    """Area (pixels²) two boxes share."""
    width = min(a.x1, b.x1) - max(a.x0, b.x0)
    height = min(a.y1, b.y1) - max(a.y0, b.y0)
    return max(width, 0.0) * max(height, 0.0)


def _outside(box, frame) -> float:
    """Area (pixels²) of ``box`` outside the axes ``frame``, weighted to be avoided first."""
    inside = _overlap(box, frame)
    return 10.0 * (box.width * box.height - inside)
