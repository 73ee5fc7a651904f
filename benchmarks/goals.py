"""This project's speed goals, checked on the benchmarks' ratios.

Goals of this project, not facts about a network, so they live with the
benchmarks: ``keras_inception.benchmark_model`` reports the ratios, and
``bench_inference.py`` checks them here.
"""

# (our mode, goal as a ratio to keras.applications float32), at every batch size.
INFERENCE_GOALS = (("float32", 1.0), ("bfloat16", 2.0))


def inference_goals(ratios, goals=INFERENCE_GOALS):
    """Each goal at each batch size measured.

    Args:
        ratios: the ``"ratios"`` of a ``benchmark_model`` result (there is
            none without keras.applications' model).
        goals: ``(mode, target)`` pairs, default ``INFERENCE_GOALS``.

    Returns:
        A list of ``{"goal", "mode", "batch_size", "ratio", "met"}``; a mode
        that was not measured has no entry.
    """
    results = []
    for mode, target in goals:
        key = mode if mode == "float32" else f"{mode}_vs_keras_float32"
        for batch, ratio in ratios.get(key, {}).items():
            results.append(
                {
                    "goal": f"our {mode} >= {target:g}x keras.applications float32",
                    "mode": mode,
                    "batch_size": int(batch),
                    "ratio": ratio,
                    "met": ratio >= target,
                }
            )
    return results


def format_goals(results):
    """One text line per goal result."""
    return [
        f"goal {goal['goal']} at batch {goal['batch_size']}: "
        f"{goal['ratio']:.2f}x {'met' if goal['met'] else 'NOT met'}"
        for goal in results
    ]


# Issue 15's goals for the exported forms: (form, batch size, compared with,
# target ratio, needs AMX). ``compared with`` is another form at the same batch
# size; the ratios of ``bench_export.py`` are against ``keras_fp32``.
EXPORT_GOALS = (
    ("litert_int8", 1, "keras_fp32", 6.0, False),
    ("litert_int8", 1, "litert_dynamic", 1.0, False),
    ("saved_model_bf16", 8, "keras_fp32", 2.0, True),
)


def export_goals(rows, *, amx, goals=EXPORT_GOALS):
    """Each export goal judged on ``bench_export.py``'s rows.

    Args:
        rows: the ``"results"`` rows (``form``, ``batch_size``, ``images_per_second``).
        amx: whether the host has AMX; a goal that needs it is reported as
            not judged on a host without.
        goals: ``(form, batch, other, target, needs_amx)`` tuples, default
            ``EXPORT_GOALS``.

    Returns:
        A list of ``{"goal", "ratio", "met"}``; ``met`` is ``None`` when the
        goal was not judged (a form not measured, or no AMX).
    """
    speed = {(row["form"], row["batch_size"]): row["images_per_second"] for row in rows}
    results = []
    for form, batch, other, target, needs_amx in goals:
        goal = f"{form} >= {target:g}x {other} at batch {batch}"
        goal += " (AMX hosts)" if needs_amx else ""
        if (form, batch) not in speed or (other, batch) not in speed:
            results.append({"goal": goal, "ratio": None, "met": None, "note": "not measured"})
            continue
        ratio = speed[(form, batch)] / speed[(other, batch)]
        if needs_amx and not amx:
            results.append(
                {
                    "goal": goal,
                    "ratio": ratio,
                    "met": None,
                    "note": "not judged: this host has no AMX",
                }
            )
            continue
        results.append({"goal": goal, "ratio": ratio, "met": ratio >= target, "note": ""})
    return results


def format_export_goals(results):
    """One text line per export goal result."""
    lines = []
    for result in results:
        ratio = "-" if result["ratio"] is None else f"{result['ratio']:.2f}x"
        verdict = {True: "met", False: "NOT met", None: result["note"]}[result["met"]]
        lines.append(f"goal {result['goal']}: {ratio} {verdict}")
    return lines
