"""Stage timings of one import, for the summary and the benchmark.

Both threads of the pipeline lap their own clock into their own dict (the
reader thread's is added to the outcome at the end), so no lock is needed.
"""

import time


class Clock:
    """Charges the time since the last lap to a named stage of ``timings``."""

    def __init__(self, timings):
        self.timings = timings
        self.last = time.perf_counter()

    def lap(self, stage):
        now = time.perf_counter()
        self.timings[stage] += now - self.last
        self.last = now
