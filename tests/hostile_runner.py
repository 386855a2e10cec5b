"""Child process of tests/test_hostile_input.py: run hypothesis over targets of
tests/hostile.py and print one JSON line of results.

    python tests/hostile_runner.py LOG_FILE TARGET [TARGET ...]

Each case is written to LOG_FILE (flushed) before it runs, so that if this
process dies (segfault, abort, OOM kill) the parent can say which case killed it.
The address space is capped (MEMORY_CAP_BYTES): a hostile size that slips past
the library's checks gets a MemoryError here instead of taking the machine down.
"""
import json
import os
import resource
import sys
import warnings

MEMORY_CAP_BYTES = 6 * 2 ** 30


def main():
    log_path, names = sys.argv[1], sys.argv[2:]
    # (not under tools/sanitize.sh: ASan reserves terabytes of address space for
    # its shadow memory, and refuses huge allocations itself)
    if os.environ.get("DNN_SANITIZE") != "1":
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP_BYTES, MEMORY_CAP_BYTES))
    warnings.simplefilter("ignore")
    from hypothesis import HealthCheck, given, settings

    import hostile

    explore = os.environ.get("HYPOTHESIS_PROFILE") == "explore"
    scale = float(os.environ.get("DNN_HOSTILE_SCALE", "5" if explore else "1"))
    log = open(log_path, "w", buffering=1)
    results = {}
    for name in names:
        counts = {"cases": 0, "errors": 0, "accepted": 0}
        failures = {}

        @settings(max_examples=max(1, int(hostile.EXAMPLES[name] * scale)),
                  derandomize=not explore, database=None, deadline=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=hostile.TARGETS[name])
        def run(case):
            log.write(f"{case!r}\n")
            problem = hostile.judge(case)
            counts["cases"] += 1
            if problem is None:
                return
            key = (case.target, case.argument, case.mutation.split(" <- ")[-1][:40])
            failures.setdefault(" | ".join(key), f"{case!r}: {problem}")

        run()
        results[name] = dict(counts, failures=list(failures.values()))
    log.write("done\n")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
