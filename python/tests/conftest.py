"""Shared test helpers: the repository's fixtures and the `wbound` CLI binary, whose outputs the
package must equal. The binary is `$WBOUND_CLI`, else `target/release/wbound` or
`target/debug/wbound` (what `cargo test --workspace` builds), else it is built here with cargo;
no test skips for want of it."""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"


def fixture(name: str) -> Path:
    return FIXTURES / name


@pytest.fixture(scope="session")
def cli() -> Path:
    given = os.environ.get("WBOUND_CLI")
    if given:
        return Path(given)
    for profile in ("release", "debug"):
        path = ROOT / "target" / profile / "wbound"
        if path.exists():
            return path
    cargo = shutil.which("cargo")
    assert cargo, "no wbound binary (target/*/wbound, $WBOUND_CLI) and no cargo to build one"
    subprocess.run([cargo, "build", "-p", "wbound-cli"], cwd=ROOT, check=True)
    return ROOT / "target" / "debug" / "wbound"


def run_cli(cli: Path, *args: object, ok: bool = True) -> subprocess.CompletedProcess:
    r = subprocess.run([str(cli), *map(str, args)], capture_output=True, text=True, cwd=ROOT)
    if ok:
        assert r.returncode == 0, r.stderr
    return r


def cli_csv(cli: Path, *args: object) -> dict[str, list[str]]:
    """`wbound score ... --quiet` as columns of strings."""
    out = run_cli(cli, "score", "--quiet", *args).stdout
    rows = list(csv.reader(io.StringIO(out)))
    header, body = rows[0], rows[1:]
    return {name: [r[i] for r in body] for i, name in enumerate(header)}


def cli_top_k(cli: Path, *args: object) -> tuple[list[int], list[float]]:
    """`wbound top-k ...`: the indices of its table, and their exact scores from `wbound score` with
    the same settings (the table shows three significant digits, checked against them)."""
    out = run_cli(cli, "top-k", "--quiet", *args).stdout.splitlines()
    assert out[0].split()[:3] == ["rank", "index", "score"], out[0]
    rows = [line.split() for line in out[1:]]
    indices = [int(r[1]) for r in rows]
    # The same settings without top-k's own flags (-k K, --order O).
    score_args: list[object] = []
    flags = iter(args)
    for a in flags:
        if str(a) in ("-k", "--order"):
            next(flags)
        else:
            score_args.append(a)
    lines = run_cli(cli, "score", "--quiet", *score_args).stdout.splitlines()[1:]
    exact = {int(line.split(",")[0]): float(line.split(",")[1]) for line in lines}
    scores = [exact[i] for i in indices]
    assert [float(r[2]) for r in rows] == pytest.approx(scores, rel=5e-3)
    return indices, scores


def assert_frame_equals_cli(df, columns: dict[str, list[str]]) -> None:
    """Every column of a `wbound.score` DataFrame equals the CLI's CSV: floats exactly (the CSV's
    shortest round-trip text reads back to the same float64), ints, statuses, empty class cells as
    <NA>."""
    assert list(df.columns) == list(columns)
    for name, cells in columns.items():
        got = df[name].tolist()
        if name in ("score", "distance"):
            want = np.array([float(c) for c in cells])
            np.testing.assert_array_equal(df[name].to_numpy(), want, err_msg=name)
        elif name == "status":
            assert got == cells
        else:
            want_ints = [int(c) if c != "" else None for c in cells]
            assert [None if (v is None or v is getattr(__import__("pandas"), "NA")) else int(v) for v in got] == want_ints, name
