"""What a fit tells its user in words: the degradations and start chosen, the steps run, the result chosen.

The command line prints these lines, and so does the array API with ``progress=True``.
"""

from __future__ import annotations

from ..fusion.objective import SEPARATED
from .classic import classic_method

__all__ = ["choice_line", "fast_path", "rule_line", "steps_line"]


def _method_name(task: str, key: str) -> str:
    """The display name of a classic method given by its key (``gsa`` is GSA-HS for hs)."""
    from ..baselines import METHOD_NAMES

    try:
        key = classic_method(task, key)
    except ValueError:
        pass
    return METHOD_NAMES.get(key, key)


def _start_name(task: str, choice: dict[str, object]) -> str:
    """One start of an ensemble in words, e.g. ``SFIM, warm+residual``."""
    start = str(choice.get("start", "none"))
    if start == "none":
        return "the authors' start"
    return f"{_method_name(task, str(choice.get('classic_name', '?')))} {start}"


def fast_path(config: object) -> str:
    """The fast-path switches a fit ran with, as ``", channels-last, bf16"`` (empty for the plain path)."""
    names = [
        name
        for name, on in (
            ("channels-last", getattr(config, "channels_last", False)),
            ("bf16", getattr(config, "amp", "off") == "bf16"),
            (f"compiled ({getattr(config, 'compile', 'off')})", getattr(config, "compile", "off") != "off"),
        )
        if on
    ]
    return "".join(f", {n}" for n in names)


def _apart(choice: dict[str, object]) -> str:
    """How far a choice among classic candidates is ahead of its runner-up, as ``"; 3.1 standard errors apart"``."""
    if "separation" not in choice:
        return ""
    z = float(choice["separation"])  # type: ignore[arg-type]
    return f"; {z:.1f} standard errors apart" + (", within the sampling noise" if z < SEPARATED else "")


def _share(value: float) -> str:
    """A share as a percentage: two decimals, or two significant digits under 0.01 % (``"7.6e-05%"``)."""
    return f"{value:.2%}" if value >= 1e-4 or value == 0 else f"{100 * value:.1e}%"


def _start_kind(details: dict[str, object], residual: bool) -> str:
    """How a classic start enters the fit, with its warm start's steps, e.g. ``"warm start of 50 steps"``."""
    warm = int(details.get("warm_start") or 0)  # type: ignore[call-overload]
    if residual:
        return f"as a residual after a warm start of {warm} steps" if warm else "as a residual"
    return f"warm start of {warm} steps" if warm else "without a warm start"


def rule_line(details: dict[str, object]) -> str:
    """How the degradations, the pansharpening model and start were chosen, in one line (empty when nothing was)."""
    parts = []
    checked = details.get("degradations")
    if isinstance(checked, dict) and "skipped" in checked:
        parts.append(f"degradations: as given (not checked against the pair: {checked['skipped']})")
    elif isinstance(checked, dict):
        given, estimated = float(checked["given"]), float(checked["estimated"])  # type: ignore[arg-type]
        shares = f"unexplained on the pair's unseen halves: given {_share(given)}, estimated {_share(estimated)}"
        if checked["chosen"] == "estimated":
            rows, cols = checked["offset"]  # type: ignore[misc]
            parts.append(f"degradations: estimated from the pair ({shares}; offset {rows:+.2f}, {cols:+.2f} pixels)")
        else:
            parts.append(f"degradations: as given ({shares})")
    model = details.get("model_choice")
    if isinstance(model, dict):
        errors = ", ".join(f"{k} {float(v):.4g}" for k, v in model["held_out"].items())
        parts.append(
            f"MS degradation: {model['chosen']} (held-out error of the classic start made consistent under each: "
            f"{errors}{_apart(model)})"
        )
    rule = details.get("start_rule")
    if isinstance(rule, dict):
        start = f"{_method_name('pan', str(rule['init']))}, {_start_kind(details, bool(rule['residual']))}"
        if rule.get("rule") == "holdout":
            errors = ", ".join(f"{_method_name('pan', k)} {float(v):.4g}" for k, v in rule["holdout"].items())
            parts.append(f"start: {start} (held-out error {errors}{_apart(rule)})")
        else:
            how = "at least" if float(rule["pan_r2"]) >= float(rule["threshold"]) else "below"
            parts.append(
                f"start: {start} (a linear mixture of the MS bands explains {float(rule['pan_r2']):.2%} of the "
                f"reduced PAN, {how} {float(rule['threshold']):.0%})"
            )
    return "; ".join(parts)


def steps_line(choice: dict[str, object], steps: int, iterations: int) -> str:
    """The steps a fit ran, as the summary line says them.

    ``"500 steps"``, ``"300 of 500 steps (the held-out error stopped improving)"`` or ``"2 fits
    of at most 600 steps"``, then the steps of the fits that went on with every pixel, if any:
    ``"2 fits of at most 600 steps, then 350 with every pixel"``.
    """
    starts = choice.get("starts")
    fits: list[object] = list(starts) if isinstance(starts, list) else [choice]
    stopped = steps < iterations
    if len(fits) > 1:
        first = f" (the first stopped at {steps})" if stopped else ""
        text = f"{len(fits)} fits of at most {iterations} steps{first}"
    else:
        text = f"{steps} of {iterations} steps (the held-out error stopped improving)" if stopped else ""
        text = text or f"{iterations} steps"
    went = sum(c["refit_steps"] for c in fits if isinstance(c, dict) and isinstance(c.get("refit_steps"), int))
    return text + (f", then {went} with every pixel" if went else "")


def _continued(choice: dict[str, object]) -> str:
    """How a chosen fit went on with every pixel, as ``"continued on every pixel from step 250 for 100 steps"``."""
    since = f" from step {choice['refit_from']}" if "refit_from" in choice else ""
    return f"continued on every pixel{since} for {choice['refit_steps']} steps"


def choice_line(choice: dict[str, object], details: dict[str, object]) -> str:
    """How the result was chosen: each candidate's held-out error (or, without held-out pixels, data objective)."""
    if not choice:
        if details.get("task") == "flash":
            return "result: the final estimate (no held-out pixels to choose an earlier step by)"
        return ""
    chosen = str(choice["chosen"])
    task = str(details.get("task"))
    name = _method_name(task, str(choice.get("classic_name", "?")))
    role = {"residual": "classic start", "warm": "classic warm start", "warm+residual": "classic start"}.get(
        str(choice.get("start")), "classic fallback"
    )
    starts = choice.get("starts")
    preset = details.get("preset")
    averaged = isinstance(preset, dict) and int(preset.get("average_last") or 0) > 0  # the mean of the last steps'
    final = "the mean of the last GDD estimates" if averaged else "the final GDD estimate"
    what = {"final": final, "best": f"the GDD estimate of step {choice.get('best_step')}",
            "classic": f"the {role} ({name}) itself"}  # fmt: skip
    if isinstance(starts, list):
        names = [_start_name(str(task), c) for c in starts]
        what["mean"] = f"the mean of {len(starts)} GDD fits (from {', '.join(names)})"
        for k, n in enumerate(names):
            what[f"start {k + 1}"] = f"the GDD fit from {n} (one of {len(starts)} starts)"
    held = choice.get("rule") == "holdout"
    score = "held-out error" if held else "data objective"
    better = "predicts the held-out pixels" if held else "fits the observations"
    text = f"result: {what[chosen]}, {score} {float(choice[chosen]):.4g}"  # type: ignore[arg-type]
    if "refit_steps" in choice:
        text += f" ({_continued(choice)})"
    elif isinstance(starts, list):
        # Several starts: each fit the result is made of went on by itself.
        went = [
            f"{names[k]} {_continued(c)}" for k, c in enumerate(starts) if isinstance(c, dict) and "refit_steps" in c
        ]
        if went:
            text += f" ({'; '.join(went)})"
    runners = what
    noise = choice.get("at_noise")
    if isinstance(noise, dict):
        instead = str(noise["instead_of"])
        text += (
            f"; {what[instead]} predicted the held-out pixels best ({float(choice[instead]):.4g}), "  # type: ignore[arg-type]
            f"{float(noise['ahead']):.1f} standard errors ahead of the mean, at {float(noise['times_noise']):.2f} "
            f"times the observation's noise variance ({float(noise['noise_variance']):.4g}): at the noise and not "
            "told apart, the fits are averaged"
        )
    elif "separation" in choice and str(choice.get("runner_up")) in runners:
        z = float(choice["separation"])  # type: ignore[arg-type]
        text += f"; ahead of the next best, {runners[str(choice['runner_up'])]}, by {z:.1f} standard errors"
        if z < SEPARATED:
            text += " (within the held-out pixels' sampling noise: either could have been returned)"
    if task == "flash":
        text += " (no classic method to compare with)"
    if "classic" in choice:
        classic = float(choice["classic"])  # type: ignore[arg-type]
        fits = [k for k in choice if k in ("final", "best", "mean") or k.startswith("start ")]
        gdd = min(float(choice[k]) for k in fits)  # type: ignore[arg-type]
        text += f"; {name} ({role}): {classic:.4g}"
        if chosen == "classic":
            text += f", which {better} better than any GDD iterate ({gdd:.4g})"
        elif gdd < classic / 1.01:
            text += f" (GDD {better} {classic / max(gdd, 1e-30):.2f}x better)"
        elif gdd <= classic:
            text += f" (GDD {better} about as well: it changed the classic result little)"
        else:
            text += f" (GDD {better} worse; --keep-best would return the classic result)"
    return text
