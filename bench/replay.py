#!/usr/bin/env python3
"""Replay throughput: events replayed per second per core, for the single-process replay (the
`localrank` package in this process, and the CLI) and the Ray Data job on a local Ray
instance with every core of this machine. A benchmark, not a test: it prints numbers.

    ./build.sh bench-replay DATA_DIR [DATA_DIR...]     (KuaiRand or MovieLens folders)

Each data set is first written in the event-log format by the CLI's adapter (not timed).
The replay computes both shipped models' features, as `./build.sh model` does. Times are
wall-clock, best of `--repeat` runs; the Ray figure includes the job's Parquet reading,
shuffle and writing, not the cluster's start.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

import pyarrow.parquet as pq
import ray

import localrank

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "models"))
import ray_replay  # noqa: E402

FEATURES = [os.path.join(ROOT, "models", k, "features.json") for k in ("kuairand", "movielens")]


def best(repeat, run):
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cli", required=True, help="the release localrank-pipeline")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("data", nargs="+", help="KuaiRand (events.csv.gz, items.csv) or MovieLens (ratings.csv, movies.csv) folders")
    args = parser.parse_args()
    cores = os.cpu_count()
    contract = localrank.union_contracts([open(p, encoding="utf-8").read() for p in FEATURES])
    # The job's classes are pickled by reference to the ray_replay module: the workers need
    # models/ on their path.
    runtime_env = {"env_vars": {"PYTHONPATH": os.path.join(ROOT, "models")}}
    ray.init(num_cpus=cores, include_dashboard=False, log_to_driver=False, object_store_memory=300_000_000,
             runtime_env=runtime_env)
    print(f"{time.strftime('%Y-%m-%d')}, {cores} cores ({os.uname().machine}), Ray {ray.__version__}")
    print(f"{'data set':28} {'events':>9} {'path':24} {'seconds':>8} {'events/s/core':>14}")
    try:
        for data in args.data:
            with tempfile.TemporaryDirectory() as folder:
                kuairand = os.path.exists(os.path.join(data, "events.csv.gz"))
                events, requests = os.path.join(folder, "events.parquet"), os.path.join(folder, "requests.parquet")
                adapt = [args.cli, "adapt-kuairand" if kuairand else "adapt-movielens", "--data", data, "--events", events]
                subprocess.run(adapt + (["--requests", requests] if kuairand else []), check=True, capture_output=True)
                requests = requests if kuairand else None
                events_table = pq.read_table(events)
                requests_table = pq.read_table(requests) if requests else None
                count = events_table.num_rows
                name = os.path.basename(os.path.realpath(data))

                def package():
                    localrank.replay(events_table, requests_table, contract)

                def cli():
                    command = [args.cli, "replay", "--events", events, "--features", ",".join(FEATURES),
                               "--dataset", name, "--out", os.path.join(folder, "cli.parquet")]
                    subprocess.run(command + (["--requests", requests] if requests else []), check=True, capture_output=True)

                def on_ray():
                    out = os.path.join(folder, f"ray-{time.monotonic_ns()}")
                    ray_replay.run(events, requests, contract, name, None, out)

                for path, run, used in (("one process (package)", package, 1), ("one process (CLI)", cli, 1),
                                        (f"Ray Data, {cores} workers", on_ray, cores)):
                    seconds = best(args.repeat, run)
                    print(f"{name:28} {count:9d} {path:24} {seconds:8.2f} {count / seconds / used:14,.0f}", flush=True)
    finally:
        ray.shutdown()


if __name__ == "__main__":
    main()
