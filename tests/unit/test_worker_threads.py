"""A worker outlives the thread that started it: the kernel kills a worker when its starting thread ends
(PR_SET_PDEATHSIG), and a fleet starts workers from its pairs' threads, then pools them for later runs."""

import threading
import time

from advisor.pipeline import worker


def test_a_worker_started_from_a_thread_that_ends_stays_alive():
    started = {}

    def pair():  # a fleet pair's thread: starts a worker, makes a request of it (so the worker is up), ends
        started["worker"] = worker.Worker().start()
        started["worker"].call("ping")

    thread = threading.Thread(target=pair)
    thread.start()
    thread.join()
    try:
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline and started["worker"].alive:
            time.sleep(0.1)
        assert started["worker"].alive
    finally:
        started["worker"].close()
