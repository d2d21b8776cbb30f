"""What a Python user expects of a long run: the GIL released while scoring, Ctrl-C raising
KeyboardInterrupt within a second, progress through tqdm or a callable."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import types

import numpy as np
import pytest

import wbound
from conftest import fixture

BIG = fixture("perf/cnn32/model.onnx")


def big_inputs(n: int) -> np.ndarray:
    x = np.load(fixture("perf/cnn32/x.npy"))
    return np.ascontiguousarray(np.resize(x, (n,) + x.shape[1:]))


def test_other_python_threads_run_while_scoring():
    counter = [0]
    stop = threading.Event()

    def count():
        while not stop.is_set():
            counter[0] += 1

    t = threading.Thread(target=count)
    t.start()
    try:
        time.sleep(0.05)
        before, t0 = counter[0], time.perf_counter()
        wbound.score(BIG, big_inputs(60), threads=1, progress=False)
        during, seconds = counter[0] - before, time.perf_counter() - t0
    finally:
        stop.set()
        t.join()
    # A pure-Python loop counts millions a second; holding the GIL for the run would stop it.
    assert seconds > 0.1, "the run is too short to tell"
    assert during > 20_000 * seconds, f"{during} counts in {seconds:.2f} s"


@pytest.mark.skipif(sys.platform == "win32", reason="sends SIGINT to itself")
def test_ctrl_c_raises_keyboard_interrupt_within_a_second():
    x = big_inputs(4000)  # about half a minute of work
    sent = []

    def interrupt():
        time.sleep(0.5)
        sent.append(time.perf_counter())
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        wbound.score(BIG, x, progress=False)
    latency = time.perf_counter() - sent[0]
    assert latency < 1.0, f"KeyboardInterrupt {latency:.2f} s after Ctrl-C"
    # The next run is not cancelled.
    assert len(wbound.score(fixture("linear/model.onnx"), np.zeros((2, 3)), progress=False)) == 2


def test_a_progress_callable_sees_every_batch():
    calls = []
    x = np.load(fixture("cnn/x.npy"))
    wbound.score(fixture("cnn/model.onnx"), x, batch_size=50, progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (300, 300)
    done = [d for d, _ in calls]
    assert done == sorted(done) and all(d % 50 == 0 for d in done) and all(t == 300 for _, t in calls)


def test_a_failing_progress_callable_stops_the_run():
    def fail(done, total):
        raise ZeroDivisionError("from the callback")

    with pytest.raises(ZeroDivisionError, match="from the callback"):
        wbound.score(fixture("cnn/model.onnx"), np.load(fixture("cnn/x.npy")), progress=fail)


class FakeBar:
    made: list["FakeBar"] = []

    def __init__(self, total=None, **options):
        self.total, self.options, self.n, self.closed = total, options, 0, False
        FakeBar.made.append(self)

    def update(self, k):
        self.n += k

    def close(self):
        self.closed = True


@pytest.fixture
def fake_tqdm(monkeypatch):
    FakeBar.made = []
    auto = types.ModuleType("tqdm.auto")
    auto.tqdm = FakeBar
    monkeypatch.setitem(sys.modules, "tqdm", types.ModuleType("tqdm"))
    monkeypatch.setitem(sys.modules, "tqdm.auto", auto)
    return FakeBar


def test_the_default_progress_is_a_tqdm_bar_shown_on_long_runs(fake_tqdm):
    wbound.score(fixture("mlp/model.onnx"), np.load(fixture("mlp/x.npy")), batch_size=64, progress=None)
    (bar,) = fake_tqdm.made
    assert (bar.total, bar.n, bar.closed) == (300, 300, True)
    assert bar.options["delay"] == 1.0  # short runs print nothing
    wbound.score(fixture("mlp/model.onnx"), np.load(fixture("mlp/x.npy")), progress=False)
    assert len(fake_tqdm.made) == 1


def test_progress_true_without_tqdm_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    with pytest.raises(ImportError, match="pip install tqdm"):
        wbound.score(fixture("mlp/model.onnx"), np.load(fixture("mlp/x.npy")), progress=True)
    # The default quietly shows nothing.
    assert len(wbound.score(fixture("mlp/model.onnx"), np.load(fixture("mlp/x.npy"))[:5])) == 5


def test_with_the_real_tqdm(capsys):
    pytest.importorskip("tqdm", reason="tqdm is not installed")
    wbound.score(fixture("mlp/model.onnx"), np.load(fixture("mlp/x.npy")), progress=True)
    err = capsys.readouterr().err
    assert "/300 [" in err and "sample/s" in err, err
