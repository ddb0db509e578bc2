"""Speed benchmarks: each module times helpers against a reference in the same run."""

import time


def best_time(fn, repeats: int):
    """(fastest of ``repeats`` timed runs, result); one untimed warm-up run first traces."""
    result = fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times), result
