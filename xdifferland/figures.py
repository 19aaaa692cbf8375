"""The summary figure of a fitted run, as the command line writes it (``summary.png``)."""

from __future__ import annotations

from pathlib import Path

from .io.atomic import atomic_open
from .plot_labels import axis_label, unit_label

__all__ = ["pretty_units", "summary_figure", "summary_panels"]


#: The units of an axis, as every figure writes them (kept under the name earlier releases used).
pretty_units = unit_label


def summary_figure(model, ds, parameters, simulation, skill, path: Path, *, title: str = "",
                   parameter: str = "canopy_efficiency") -> Path:
    """Draw :func:`summary_panels` and write them to ``path`` (PNG, or the format its suffix
    names), atomically and with the umask's permissions, like every file of a run.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    fig = summary_panels(model, ds, parameters, simulation, skill, title=title,
                         parameter=parameter)
    # savefig would open the target itself and leave a truncated image behind if interrupted
    path = Path(path)
    with atomic_open(path, "wb") as handle:
        fig.savefig(handle, dpi=110, format=path.suffix.lstrip(".").lower() or None)
    return path


def summary_panels(model, ds, parameters, simulation, skill, *, title: str = "",
                   parameter: str = "canopy_efficiency"):
    """Four panels: a parameter map, observed vs simulated LAI on the evaluated patches, the mean
    seasonal cycle of GPP and LAI, and the training/dev loss curves.

    The LAI panel shows exactly the observations the LAI metrics of ``skill`` score (its split,
    after its warm-up), so the count in its title is the ``n`` of those metrics. Axes are
    labelled by :func:`xdifferland.plot_labels.axis_label`.

    Parameters
    ----------
    model : DifferLandModel
        The fitted model (its splits, patch size and loss history).
    ds : xarray.Dataset
        The data it was fitted on.
    parameters, simulation : xarray.Dataset
        ``model.parameters(ds)`` and ``model.simulate(ds, ["gpp", "lai"])``.
    skill : xarray.Dataset or None
        ``model.evaluate(ds, split)``; without it the test split is shown, with no warm-up.
    title : str, optional
    parameter : str, default "canopy_efficiency"
        The parameter mapped in the first panel.

    Returns
    -------
    matplotlib.figure.Figure
        Drawn on an Agg canvas, outside pyplot (nothing to close; no backend is switched).
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        raise ImportError("the summary figure needs matplotlib: pip install matplotlib") from None
    import numpy as np

    fig = Figure(figsize=(11, 8.5), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, 2)
    (ax_map, ax_scatter), (ax_cycle, ax_loss) = axes
    split = str(skill.attrs.get("split", "test")) if skill is not None else "test"
    test = model.split_mask(ds, split)
    spatial = [d for d in test.dims]

    # 1. a parameter map with the patches of the evaluated split outlined
    field = parameters[parameter]
    if {"lat", "lon"} <= set(field.dims):
        mesh = ax_map.pcolormesh(field["lon"], field["lat"], field.transpose("lat", "lon"),
                                 shading="nearest", cmap="viridis")
        outlined = split != "all"
        if outlined:
            _outline_patches(ax_map, test, model.config.patch_size)
        ax_map.set(xlabel=axis_label(name="lon"), ylabel=axis_label(name="lat"), aspect="equal")
        fig.colorbar(mesh, ax=ax_map, label=axis_label(field, name=parameter))
        ax_map.set_title(f"Fitted {parameter.replace('_', ' ')}"
                         + (f"\n({split} patches outlined)" if outlined else ""))
    else:
        values = field.values.ravel()
        ax_map.hist(values[np.isfinite(values)], bins=30, color="tab:green")
        ax_map.set(xlabel=axis_label(field, name=parameter),
                   ylabel="locations",
                   title=f"Fitted {parameter.replace('_', ' ')}")

    # 2. observed vs simulated LAI on the evaluated patches, after the warm-up the NSE leaves out
    if "lai" in ds and simulation is not None and "lai" in simulation:
        warmup = int(skill.attrs.get("warmup_steps", 0)) if skill is not None else 0
        obs = ds["lai"].where(test).isel(time=slice(warmup, None)).values.ravel()
        sim = simulation["lai"].where(test).isel(time=slice(warmup, None)).values.ravel()
        ok = np.isfinite(obs) & np.isfinite(sim)
        ax_scatter.scatter(obs[ok], sim[ok], s=4, alpha=0.35, color="tab:blue", linewidths=0)
        top = float(np.nanmax([obs[ok].max(initial=0), sim[ok].max(initial=0)])) * 1.05 or 1
        ax_scatter.plot([0, top], [0, top], color="black", lw=1, label="1:1")
        nse = ""
        if skill is not None and "lai" in skill["variable"].values:
            nse = f", NSE = {float(skill['nse'].sel(variable='lai')):.2f}"
        lai_label = axis_label(ds["lai"], name="lai")
        ax_scatter.set(xlabel=f"observed {lai_label}", ylabel=f"simulated {lai_label}",
                       xlim=(0, top), ylim=(0, top),
                       title=f"LAI on the {split} patches, after a {warmup}-step warm-up\n"
                             f"({ok.sum():,} observations{nse})")
        ax_scatter.legend(loc="upper left")
    else:
        ax_scatter.text(0.5, 0.5, "no LAI observations", ha="center", va="center")

    # 3. mean seasonal cycle of GPP (simulated; towers observed) and LAI
    months = np.arange(1, 13)
    if simulation is not None and "gpp" in simulation:
        cycle = lambda da: da.mean(spatial).groupby("time.month").mean().reindex(month=months)
        ax_cycle.plot(months, cycle(simulation["gpp"]), color="tab:green", lw=2,
                      label="GPP simulated")
        ax_cycle.set(xlabel="month", ylabel=axis_label(simulation["gpp"], name="gpp"),
                     xticks=months,
                     title="Mean seasonal cycle\n(all land cells)")
        twin = ax_cycle.twinx()
        if "lai" in simulation:
            twin.plot(months, cycle(simulation["lai"]), color="tab:blue", lw=2,
                      label="LAI simulated")
        if "lai" in ds:
            observed = ds["lai"].where(simulation["lai"].notnull())
            twin.plot(months, cycle(observed), color="tab:blue", lw=0, marker="o",
                      label="LAI observed")
        twin.set_ylabel(axis_label(simulation["lai"] if "lai" in simulation else ds["lai"],
                                   name="lai"))
        handles = ax_cycle.get_legend_handles_labels()
        more = twin.get_legend_handles_labels()
        # below the panel: inside, the curves of both axes run through it
        ax_cycle.legend(handles[0] + more[0], handles[1] + more[1], loc="upper center",
                        bbox_to_anchor=(0.5, -0.17), ncol=3, fontsize="small", frameon=False)

    # 4. loss curves
    history = model.history
    train = np.asarray(history.get("train_loss", []), float)
    if train.size:
        ax_loss.plot(np.arange(1, train.size + 1), train / train[0], label="training",
                     color="tab:orange")
        dev = np.asarray(history.get("dev_loss", []), float)
        if dev.size:
            ax_loss.plot(history["dev_epoch"], dev / dev[0], marker="o", ms=3, label="dev",
                         color="tab:purple")
        ax_loss.set_yscale("log")
        ax_loss.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax_loss.set(xlabel="epoch", ylabel="loss / first-epoch loss",
                    title="Loss during training\n(relative to the first epoch)")
        ax_loss.legend()
    if title:
        fig.suptitle(title)
    return fig


def _outline_patches(ax, inside, patch_size) -> None:
    """Draw the box of every coarse patch that holds a location of ``inside`` (lat, lon)."""
    import numpy as np
    from matplotlib.patches import Rectangle

    lat, lon = np.meshgrid(inside["lat"].values, inside["lon"].values, indexing="ij")
    chosen = inside.transpose("lat", "lon").values.astype(bool)
    rows = np.floor((lat[chosen] + 90.0) / patch_size[0]).astype(int)
    cols = np.floor((lon[chosen] + 180.0) / patch_size[1]).astype(int)
    half_lat = float(abs(np.diff(inside["lat"].values[:2]).sum())) / 2 or 0.25
    half_lon = float(abs(np.diff(inside["lon"].values[:2]).sum())) / 2 or 0.25
    south, north = inside["lat"].min() - half_lat, inside["lat"].max() + half_lat
    west, east = inside["lon"].min() - half_lon, inside["lon"].max() + half_lon
    for row, col in sorted(set(zip(rows.tolist(), cols.tolist()))):
        y0 = max(-90.0 + row * patch_size[0], float(south))
        y1 = min(-90.0 + (row + 1) * patch_size[0], float(north))
        x0 = max(-180.0 + col * patch_size[1], float(west))
        x1 = min(-180.0 + (col + 1) * patch_size[1], float(east))
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, edgecolor="black",
                               linewidth=2))
