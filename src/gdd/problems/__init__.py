"""Presets for the three tasks: measurements -> operators, weights and settings.

- ``hs``: low-resolution HS + high-resolution RGB/MS guide (HS-MS fusion);
- ``pan``: MS + PAN (pansharpening), reduced- or full-resolution;
- ``flash``: noisy no-flash image + flash guide (guided denoising).

The network and loop settings of ``budget="authors"`` come from the released demos and the
paper (see :data:`PRESETS`), with additions measured to gain (docs/presets.md): the result is the mean
of the estimates of the last 100 steps (50 for flash) instead of the last estimate alone; for
``hs`` and ``pan`` GDD starts from a classic fusion (GSA-HS; for pansharpening GSA or SFIM,
whichever predicts held-out MS pixels better). Every preset holds 10 % of the observed pixels
out of the loss (:mod:`~gdd.problems.holdout`) and returns the candidate (an iterate, the final
estimate, the classic image) that predicts them best. ``init="none", keep_best=False,
average_last=0, holdout=0`` give the authors' exact method.
``budget="cpu"`` are smaller settings measured to finish in minutes on two CPU cores (docs/presets.md).

The package's modules, each depending only on those above it:

- :mod:`~gdd.problems.presets`: :class:`Preset`, :data:`PRESETS`, :data:`ENSEMBLE`, the warm
  start's share of a run (:func:`warm_steps`) and the one mapping from a preset to a fit's
  settings (``fit_config``);
- :mod:`~gdd.problems.classic`: the classic methods GDD starts from and the pansharpening start
  rule (:data:`PAN_LINEAR_R2`, :func:`pan_linearity`, :func:`pan_start`);
- :mod:`~gdd.problems.tasks`: :class:`Problem` and its builders :func:`hs_problem`,
  :func:`pan_problem`, :func:`flash_problem`;
- :mod:`~gdd.problems.pixels` and :mod:`~gdd.problems.holdout`: held-out validation (the draw and
  filling of the pixels; :func:`held_out`, :func:`choose_start`);
- ``gdd.problems.solve`` (the module; the package's ``solve`` is the function): :func:`solve`
  and its several starts; :mod:`~gdd.problems.plan`: the plan of each start (``plan_fit``);
  :mod:`~gdd.problems.many`: :func:`solve_many`.
"""

from __future__ import annotations

from .classic import PAN_LINEAR_R2, classic_method, pan_linearity, pan_start
from .holdout import choose_start, held_out, holdout_error, holdout_mask
from .many import solve_many
from .presets import ENSEMBLE, HOLDOUT, PRESETS, WARM_SHARE, Budget, Preset, Task, preset_for, warm_steps
from .solve import solve
from .tasks import PAN_SPATIAL, Problem, flash_problem, hs_problem, pan_problem

__all__ = [
    "ENSEMBLE",
    "HOLDOUT",
    "PAN_LINEAR_R2",
    "PAN_SPATIAL",
    "PRESETS",
    "WARM_SHARE",
    "Budget",
    "Preset",
    "Problem",
    "Task",
    "choose_start",
    "classic_method",
    "flash_problem",
    "held_out",
    "holdout_error",
    "holdout_mask",
    "hs_problem",
    "pan_linearity",
    "pan_problem",
    "pan_start",
    "preset_for",
    "solve",
    "solve_many",
    "warm_steps",
]
