"""Fault test of `medimg serve`: kill -9 the server under load, N times; is every acknowledged report still there?

Run: ``nice -n 10 python benchmarks/serve_faults.py --kills 5`` (2-5 minutes: each restart loads torch). It starts
a real server (``medimg serve`` on 127.0.0.1, a fresh SQLite database, or ``--db URL`` for PostgreSQL, and its own
working folder), lets ``--clients`` clients upload phantom PNGs and pydicom's ``CT_small.dcm`` (the de-identification
path) for a random 2-5 s, SIGKILLs the server mid-load, counts what the killed server left in the working folder,
restarts it on the same database, and counts what the restart swept. After the last kill it reads back every
report the clients were acknowledged (HTTP 201) and reports:

* acknowledged vs retrievable reports (lost = acknowledged and not retrievable: must be 0), and reports stored
  whose answer never reached the client (the kill came between the commit and the response: allowed);
* files left by killed servers and swept at restart, files left after a clean stop (must be 0);
* SQLite's ``PRAGMA integrity_check``, and whether any patient identifier of the DICOM upload is found in the
  database files or the working folder (must not be).

Prints a table and writes ``benchmarks/results/serve_faults.json``; exits 1 on any loss, leftover or leak.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

RESULTS = Path(__file__).resolve().parent / "results"
START_TIMEOUT_S = 600.0
"""A server start (torch import, model load) can take minutes on a busy machine."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tiny_run(folder: Path) -> Path:
    from medimg import Model
    from medimg.data.synthetic import make_phantom_dataset

    data = make_phantom_dataset(folder / "phantoms", n_per_class=40, size=32, seed=1)
    Model("simple-cnn").fit(data, run_dir=folder / "run", epochs=3, progress=False, tensorboard=False)
    return folder / "run"


class Server:
    """``medimg serve`` on one database and working folder; started and SIGKILLed again and again."""

    def __init__(self, run: Path, folder: Path, database: str) -> None:
        self.run, self.folder, self.database = run, folder, database
        self.work_dir = folder / "work"
        self.log = folder / "server.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self) -> float:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        command = [sys.executable, "-m", "medimg.cli.app", "serve", str(self.run), "--port", str(port)]
        command += ["--db", self.database, "--work-dir", str(self.work_dir), "--explain", "none"]
        command += ["--log-level", "warning"]
        started = time.perf_counter()
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"the server exited:\n{self.log.read_text()[-3000:]}")
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return time.perf_counter() - started
            except httpx.HTTPError:
                time.sleep(0.2)
        self.stop(kill=True)
        raise SystemExit(f"the server did not start within {START_TIMEOUT_S:.0f} s")

    def stop(self, *, kill: bool) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            self.process.wait(timeout=60)

    def files(self) -> list[Path]:
        """Upload files in the working folder (any server's)."""
        return sorted(p for p in self.work_dir.rglob("*") if p.is_file() and not p.name.endswith(".lock"))

    def server_folders(self) -> set[str]:
        """The servers' own folders in the working folder."""
        return {p.name for p in self.work_dir.iterdir() if p.is_dir()}


def client_loop(
    url: str, token: str, uploads: list[bytes], stop: threading.Event, acknowledged: list[str], errors: list[str]
) -> int:
    """Upload in turn until the server dies; returns the requests that got no answer (0 or 1)."""
    unanswered = 0
    index = random.randrange(len(uploads))
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
        while not stop.is_set():
            try:
                response = client.post("/v1/predictions", files={"file": ("upload", uploads[index % len(uploads)])})
            except httpx.HTTPError:
                unanswered += 1
                return unanswered
            index += 1
            if response.status_code == 201:
                acknowledged.append(response.json()["id"])
            else:
                errors.append(f"HTTP {response.status_code}: {response.text[:200]}")
    return unanswered


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, help="run folder to serve (default: train a tiny one)")
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--clients", type=int, default=3)
    parser.add_argument("--db", help="SQLAlchemy URL of an empty database (default: a fresh SQLite file)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS / "serve_faults.json")
    args = parser.parse_args()
    random.seed(args.seed)

    import pydicom
    from pydicom import examples

    from medimg.serve.settings import database_url
    from medimg.serve.storage import Storage

    dicom_path = Path(examples.get_path("ct"))
    original = pydicom.dcmread(dicom_path)
    identifiers = [str(original.PatientName), str(original.PatientID), str(original.StudyInstanceUID)]

    with tempfile.TemporaryDirectory(prefix="medimg-faults-") as tmp:
        folder = Path(tmp)
        run = args.run or tiny_run(folder)
        phantoms = sorted((run.parent / "phantoms").rglob("*.png"))[:4]
        if not phantoms:
            from medimg.data.synthetic import make_phantom_dataset

            make_phantom_dataset(folder / "phantoms", n_per_class=2, size=64, seed=1)
            phantoms = sorted((folder / "phantoms").rglob("*.png"))
        uploads = [p.read_bytes() for p in phantoms] + [dicom_path.read_bytes()]
        sqlite_file = folder / "faults.db"
        database = args.db or str(sqlite_file)
        storage = Storage(database_url(database))
        _, token = storage.create_token("serve_faults")
        storage.close()
        server = Server(run, folder, database)
        acknowledged: list[str] = []
        errors: list[str] = []
        rounds: list[dict[str, Any]] = []
        try:
            start_s = server.start()
            for kill in range(args.kills):
                stop = threading.Event()
                results: list[int] = []

                def client(stop: threading.Event = stop, results: list[int] = results) -> None:
                    results.append(client_loop(server.url, token, uploads, stop, acknowledged, errors))

                threads = [threading.Thread(target=client) for _ in range(args.clients)]
                before = len(acknowledged)
                for thread in threads:
                    thread.start()
                load_s = random.uniform(2.0, 5.0)
                time.sleep(load_s)
                server.stop(kill=True)
                stop.set()
                for thread in threads:
                    thread.join(timeout=60)
                left = server.files()
                leaked = any(i.encode() in p.read_bytes() for p in left for i in identifiers)
                killed_folders = server.server_folders()
                restart_s = server.start()
                left_after_restart = [p for p in left if p.exists()]
                folders_after_restart = killed_folders & server.server_folders()
                rounds.append(
                    {
                        "load_s": round(load_s, 2),
                        "acknowledged": len(acknowledged) - before,
                        "unanswered": sum(results),
                        "files_left_by_kill": len(left),
                        "identifier_in_left_files": leaked,
                        "files_left_after_restart": len(left_after_restart),
                        "server_folders_left_by_kill": len(killed_folders),
                        "server_folders_left_after_restart": len(folders_after_restart),
                        "restart_s": round(restart_s, 1),
                    }
                )
                print(f"kill {kill + 1}/{args.kills}: {rounds[-1]}", flush=True)
            with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=60) as client:
                retrievable = sum(client.get(f"/v1/reports/{rid}").status_code == 200 for rid in acknowledged)
                total = client.get("/v1/reports?limit=1").json()["total"]
        except BaseException:
            server.stop(kill=True)  # never leave a server running
            raise
        server.stop(kill=False)
        left_after_clean_stop = server.files()
        integrity = None
        stored = b""
        if args.db is None:
            import sqlite3

            with sqlite3.connect(sqlite_file) as connection:
                integrity = connection.execute("PRAGMA integrity_check").fetchone()[0]
            stored = b"".join(p.read_bytes() for p in folder.glob("faults.db*"))
        leaked_to_database = any(i.encode() in stored for i in identifiers)
        tracebacks = server.log.read_text().count("Traceback")

    lost = len(acknowledged) - retrievable
    result: dict[str, Any] = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "database": "sqlite" if args.db is None else args.db.split(":", 1)[0],
        "kills": args.kills,
        "clients": args.clients,
        "first_start_s": round(start_s, 1),
        "acknowledged": len(acknowledged),
        "retrievable": retrievable,
        "lost": lost,
        "stored_total": total,
        "stored_unacknowledged": total - retrievable,
        "files_left_by_kills": sum(r["files_left_by_kill"] for r in rounds),
        "files_left_after_restarts": sum(r["files_left_after_restart"] for r in rounds),
        "server_folders_left_by_kills": sum(r["server_folders_left_by_kill"] for r in rounds),
        "server_folders_left_after_restarts": sum(r["server_folders_left_after_restart"] for r in rounds),
        "identifier_in_left_files": any(r["identifier_in_left_files"] for r in rounds),
        "files_left_after_clean_stop": len(left_after_clean_stop),
        "identifier_in_database_files": leaked_to_database,
        "sqlite_integrity": integrity,
        "tracebacks_in_server_log": tracebacks,
        "errors": len(errors),
        "first_errors": errors[:5],
        "rounds": rounds,
    }
    print(f"{'kills':>5s} {'acknowledged':>12s} {'retrievable':>11s} {'lost':>5s} {'stored, unacked':>15s}")
    print(f"{args.kills:5d} {len(acknowledged):12d} {retrievable:12d} {lost:5d} {total - retrievable:15d}")
    print(
        f"left by kills: {result['server_folders_left_by_kills']} server folder(s), {result['files_left_by_kills']} "
        f"upload file(s) (identifiers in them: {result['identifier_in_left_files']}); after restarts: "
        f"{result['server_folders_left_after_restarts']} folder(s), {result['files_left_after_restarts']} file(s); "
        f"after a clean stop {len(left_after_clean_stop)}; identifiers in the database files: {leaked_to_database}; "
        f"integrity: {integrity}; tracebacks in the server log: {tracebacks}"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written: {args.out}")
    bad = lost or result["files_left_after_restarts"] or result["server_folders_left_after_restarts"]
    bad = bad or left_after_clean_stop or result["identifier_in_left_files"]
    if bad or errors or leaked_to_database or integrity not in (None, "ok"):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
