"""Presets for the three tasks: measurements -> operators, weights and settings.

- ``hs``: low-resolution HS + high-resolution RGB/MS guide (HS-MS fusion);
- ``pan``: MS + PAN (pansharpening), reduced- or full-resolution;
- ``flash``: noisy no-flash image + flash guide (guided denoising).

The network and loop settings of ``budget="authors"`` come from the released demos and the
paper (see :data:`PRESETS`), with additions measured to gain (README): the result is the mean
of the estimates of the last 100 steps (50 for flash) instead of the last estimate alone; for
``hs`` and ``pan`` GDD starts from a classic fusion (GSA-HS; SFIM) and the result is chosen by
data consistency, the classic result included, so that it is never worse on the observations.
``init="none", keep_best=False, average_last=0`` give the authors' exact method.
``budget="cpu"`` are smaller settings measured to finish in minutes on two CPU cores (README,
"Presets").

The package's modules, each depending only on those above it:

- :mod:`~gdd.problems.presets`: :class:`Preset`, :data:`PRESETS`, :data:`ENSEMBLE` and the one
  mapping from a preset to a fit's settings (``fit_config``);
- :mod:`~gdd.problems.classic`: the classic methods GDD starts from and the pansharpening start
  rule (:data:`PAN_LINEAR_R2`, :func:`pan_linearity`, :func:`pan_start`);
- :mod:`~gdd.problems.tasks`: :class:`Problem` and its builders :func:`hs_problem`,
  :func:`pan_problem`, :func:`flash_problem`;
- ``gdd.problems.solve`` (the module; the package's ``solve`` is the function): :func:`solve`,
  :func:`solve_many` and the plan of each start (``plan_fit``).
"""

from __future__ import annotations

from .classic import PAN_LINEAR_R2, classic_method, pan_linearity, pan_start
from .presets import ENSEMBLE, PRESETS, Budget, Preset, Task, preset_for
from .solve import solve, solve_many
from .tasks import PAN_SPATIAL, Problem, flash_problem, hs_problem, pan_problem

__all__ = [
    "ENSEMBLE",
    "PAN_LINEAR_R2",
    "PAN_SPATIAL",
    "PRESETS",
    "Budget",
    "Preset",
    "Problem",
    "Task",
    "classic_method",
    "flash_problem",
    "hs_problem",
    "pan_linearity",
    "pan_problem",
    "pan_start",
    "preset_for",
    "solve",
    "solve_many",
]
