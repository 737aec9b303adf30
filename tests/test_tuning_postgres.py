"""`forecast tune` on a live PostgreSQL server: the several-machines recipe of the README.

The fixture starts a server of its own in a temporary directory (Debian's `postgresql`
package, which `.ci/run` installs), as the package's `postgres` user when the suite runs as
root (PostgreSQL refuses to run as root), on a free port of 127.0.0.1, and removes it after.
Without the server's programs the tests are skipped, unless FORECAST_REQUIRE_POSTGRES is set
(as `.ci/run` sets it): then a missing server is a failure, not a silent skip.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.conftest import price_frame
from tests.test_tuning import read_trials, space_file, trial_lines, tune_process  # noqa: F401


def server_programs() -> Path | None:
    """The directory holding initdb and postgres (Debian's layout), or None."""
    for found in sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True):
        return Path(found).parent
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def as_server_user(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    """Run ``args`` as the `postgres` user when we are root, else as ourselves."""
    if os.geteuid() == 0:
        args = ["runuser", "-u", "postgres", "--", *args]
    return subprocess.run(args, capture_output=True, text=True, timeout=120, **kwargs)


@pytest.fixture(scope="module")
def postgres_url():
    """A PostgreSQL URL of a fresh server and database, up for this module's tests."""
    bin_dir = server_programs()
    if bin_dir is None or (os.geteuid() == 0 and not _has_user("postgres")):
        if os.environ.get("FORECAST_REQUIRE_POSTGRES"):
            pytest.fail("FORECAST_REQUIRE_POSTGRES is set but no PostgreSQL server is "
                        "installed (apt-get install -y postgresql)")
        pytest.skip("no PostgreSQL server installed (apt-get install -y postgresql)")
    pytest.importorskip("psycopg")
    root = Path(tempfile.mkdtemp(prefix="forecast-pg-"))
    data, sockets = root / "data", root / "run"
    sockets.mkdir()
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(sockets, "postgres")
    port = free_port()
    server = None
    try:
        done = as_server_user([str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres",
                               "-A", "trust", "--no-sync"])
        assert done.returncode == 0, done.stderr
        command = [str(bin_dir / "postgres"), "-D", str(data), "-p", str(port),
                   "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={sockets}",
                   "-c", "fsync=off"]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _wait_for(port, server)
        as_server_user([str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port),
                        "-U", "postgres", "forecast_tune"], check=True)
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/forecast_tune"
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                server.kill()
        shutil.rmtree(root, ignore_errors=True)


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def _wait_for(port: int, server: subprocess.Popen) -> None:
    deadline = time.time() + 60
    while time.time() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"postgres exited: {server.stderr.read().decode()[-500:]}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise AssertionError("postgres did not start listening within 60 s")


def test_two_tune_processes_on_one_postgresql_study_run_each_trial_once(tmp_path, space_file,
                                                                        postgres_url):
    """The README's recipe for several machines, on one: two `forecast tune` processes
    (one with two workers of its own) on one --storage URL finish the study's trials
    between them, each trial run once, and both write the same best model."""
    import optuna

    csv_path = tmp_path / "p.csv"
    price_frame(300).to_csv(csv_path, index=False)
    procs = [tune_process(csv_path, tmp_path / name, "--space", space_file, "--trials", "6",
                          "--storage", postgres_url, "--study", "shared", *jobs)
             for name, jobs in (("a", ["--jobs", "2"]), ("b", []))]
    outputs = [p.communicate(timeout=600) for p in procs]
    for proc, (out, err) in zip(procs, outputs):
        assert proc.returncode == 0, err.decode()
        assert out == b""
    numbers = [n for _, err in outputs for n in trial_lines(err)]
    assert sorted(numbers) == list(range(6))  # every trial once, in one process or the other
    study = optuna.load_study(study_name="shared", storage=postgres_url)
    states = [t.state for t in study.get_trials(deepcopy=False)]
    assert len(states) == 6
    assert set(states) <= {optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED}
    for name in ("a", "b"):
        rows = read_trials(tmp_path / name)
        assert [r["number"] for r in rows] == [str(n) for n in range(6)]


def test_a_second_run_on_the_postgresql_study_resumes_it(tmp_path, space_file, postgres_url):
    """--trials N is the study's total: the same command again adds none, a larger N adds
    the difference; the records live in the server, not in a file beside the model."""
    csv_path = tmp_path / "p.csv"
    price_frame(300).to_csv(csv_path, index=False)
    model = tmp_path / "m"
    for total, new in ((2, 2), (2, 0), (3, 1)):
        proc = tune_process(csv_path, model, "--space", space_file, "--trials", str(total),
                            "--storage", postgres_url, "--study", "resumed")
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err.decode()
        assert len(trial_lines(err)) == new
        assert len(read_trials(model)) == total
    assert not (tmp_path / "m.study").exists()


def test_opening_a_database_whose_tables_another_process_creates_is_tried_again(monkeypatch):
    """Two tune processes on one new database both create Optuna's tables; the loser's
    CREATE TYPE fails with a unique violation (seen on the live server above, 1 run in 5).
    The study is opened again, after a pause, instead of failing."""
    import optuna
    from sqlalchemy.exc import IntegrityError

    import forecast.tuning.study  # noqa: F401  (loads tuning.study)
    from forecast import tuning

    calls = []

    def create_study(**kwargs):
        calls.append(kwargs["storage"])
        if len(calls) < 3:
            raise IntegrityError("CREATE TYPE studydirection", {}, Exception("duplicate key"))
        return "the study"

    monkeypatch.setattr(optuna, "create_study", create_study)
    monkeypatch.setattr(tuning.study.time, "sleep", lambda s: None)

    class Search:
        study_name, pruner, seed, journal = "s", None, 0, False
    assert tuning.study._create_or_load(Search(), "postgresql://x") == "the study"
    assert len(calls) == 3
