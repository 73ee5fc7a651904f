"""This project's speed goals against keras.applications, checked on a benchmark's ratios.

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
            results.append({
                "goal": f"our {mode} >= {target:g}x keras.applications float32",
                "mode": mode, "batch_size": int(batch), "ratio": ratio,
                "met": ratio >= target,
            })
    return results


def format_goals(results):
    """One text line per goal result."""
    return [
        f"goal {goal['goal']} at batch {goal['batch_size']}: "
        f"{goal['ratio']:.2f}x {'met' if goal['met'] else 'NOT met'}"
        for goal in results
    ]
