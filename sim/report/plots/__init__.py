"""Figures, by family: rooflines (`roofline`), timelines (`timeline`), per-unit utilization, Einsum shares and stalls
(`units`), per-kernel time and kernel rooflines of whole layers (`kernels`), speedup/energy and simulated-versus-measured comparisons (`comparisons`) and design-space Pareto plots
(`pareto`). matplotlib is imported lazily, inside each function, so `import sim` stays light.

Every `plot_*` function takes plain records (a `Roofline`, `Result`s, `Run`s, or arrays and dicts for data that
comes from elsewhere, e.g. measurements and sweep tables), writes one PNG and returns its path.
"""
from sim.report.plots.kernels import plot_kernel_bars, plot_kernel_roofline
from sim.report.plots.comparisons import plot_sim_vs_measured, plot_speedup_bars, plot_speedup_energy
from sim.report.plots.pareto import plot_pareto
from sim.report.plots.roofline import (Point, Roof, cascade_point, einsum_points, kernel_point, plot_roofline,
                                       plot_rooflines, ridges, roofline_axes, roofs)
from sim.report.plots.timeline import Window, busy_fraction, plot_timeline, steady_window
from sim.report.plots.units import plot_einsum_share, plot_stalls, plot_utilization_vs_seq, stall_colors

__all__ = ["Point", "Roof", "Window", "busy_fraction", "cascade_point", "einsum_points", "kernel_point", "plot_einsum_share", "plot_kernel_bars",
           "plot_kernel_roofline", "plot_pareto", "plot_roofline", "plot_rooflines",
           "plot_sim_vs_measured", "plot_speedup_bars", "plot_speedup_energy", "plot_stalls", "plot_timeline",
           "plot_utilization_vs_seq", "ridges", "roofline_axes", "roofs", "stall_colors", "steady_window"]
