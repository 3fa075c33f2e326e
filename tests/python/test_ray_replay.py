#!/usr/bin/env python3
"""The `localrank` package and the Ray Data job against the CLI, on synthetic logs of both
adapters' shapes (KuaiRand: events and logged requests; MovieLens: events only, the
simulated server). For each: the CLI's replay, the package's single-process replay and the
Ray job (models/ray_replay.py, unchanged, pointed at a local cluster through RAY_ADDRESS)
give the same training table value for value, keyed by (request id, row) whatever order the
rows come in; the trainer's Parquet reader reads the Ray parts as the CLI's file. Then the
package's errors, its GIL release, scoring and metrics. The cluster is a real one (a head and
a second worker node, `ray start`), shut down at the end with no process left behind.

    LOCALRANK_CLI=target/native-test/localrank-pipeline python tests/python/test_ray_replay.py
(build.sh test runs it after building and installing the wheel.)
"""

import gzip
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import uuid

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

import localrank

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CLI = os.environ.get("LOCALRANK_CLI", "")
PY = sys.executable
RAY = os.path.join(os.path.dirname(PY), "ray")
FEATURES = ",".join(os.path.join(ROOT, "models", k, "features.json") for k in ("kuairand", "movielens"))
# Every process of the test's cluster carries this in its environment: how the test finds
# them all at the end.
MARKER = f"LOCALRANK_RAY_TEST={uuid.uuid4().hex}"
DAY_MS = 86_400_000


def contract():
    return localrank.union_contracts([read(p) for p in FEATURES.split(",")])


def read(path, mode="r"):
    with open(path, mode) as f:
        return f.read()


def synthetic_kuairand(folder, users=60, seed=12):
    """A KuaiRand-Pure-shaped folder (items.csv, events.csv.gz), like tests/pipeline.rs's."""
    rng = random.Random(seed)
    items = ["video_id,author_id,music_id,video_type,upload_dt,video_duration,tags"]
    for v in range(40):
        tags = ";".join(str(rng.randrange(8)) for _ in range(1 + rng.randrange(2)))
        items.append(f"{v},{rng.randrange(6)},0,NORMAL,2022-04-{1 + rng.randrange(20):02},{3000 + rng.randrange(120000)}.0,{tags}")
    with open(os.path.join(folder, "items.csv"), "w") as f:
        f.write("\n".join(items) + "\n")
    rows = ["user_id,video_id,date,hourmin,time_ms,is_click,is_like,is_follow,is_comment,is_forward,is_hate,long_view,play_time_ms,duration_ms,profile_stay_time,comment_stay_time,is_profile_enter,is_rand,tab"]
    for user in range(users):
        at = 1_650_800_000_000 + rng.random() * 3 * DAY_MS
        for _ in range(10 + rng.randrange(30)):
            # Some exposures at the very same millisecond: their order in the log matters.
            at += 0 if rng.randrange(8) == 0 else (10 * 3_600_000 if rng.randrange(6) == 0 else 5000 + rng.randrange(120000))
            flag = lambda one_in: int(rng.randrange(one_in) == 0)
            click, like, follow, forward, hate, long = flag(3), flag(8), flag(20), flag(20), flag(15), flag(3)
            play = 0 if rng.randrange(10) == 0 else rng.randrange(60000)
            rows.append(f"{user},{rng.randrange(40)},20220425,1800,{at:.0f},{click},{like},{follow},0,{forward},{hate},{long},{play},10000,0,0,0,0,1")
    with gzip.open(os.path.join(folder, "events.csv.gz"), "wt") as f:
        f.write("\n".join(rows) + "\n")


def synthetic_movielens(folder, users=50, seed=7):
    """A MovieLens-shaped folder (movies.csv, ratings.csv): sessions of ratings, several in
    the same second (timestamps are seconds), a few users that share tastes."""
    rng = random.Random(seed)
    genres = ["Action", "Comedy", "Drama", "Horror", "Romance", "Sci-Fi"]
    movies = ["movieId,title,genres"]
    for m in range(1, 121):
        movies.append(f'{m},"Movie {m} (2000)",{"|".join(rng.sample(genres, 1 + rng.randrange(2)))}')
    with open(os.path.join(folder, "movies.csv"), "w") as f:
        f.write("\n".join(movies) + "\n")
    ratings = ["userId,movieId,rating,timestamp"]
    for user in range(1, users + 1):
        at = 1_500_000_000 + rng.randrange(40 * 86400)
        taste = rng.randrange(3)
        for _ in range(3 + rng.randrange(3)):
            for movie in rng.sample(range(1, 121), 8 + rng.randrange(20)):
                at += rng.choice([0, 0, 1, 5, 40])
                liked = (movie % 3 == taste) or rng.randrange(5) == 0
                rating = rng.choice([4.0, 4.5, 5.0]) if liked else rng.choice([1.0, 2.0, 3.0, 3.5])
                ratings.append(f"{user},{movie},{rating},{at}")
            at += 2 * 86400 + rng.randrange(5 * 86400)
    with open(os.path.join(folder, "ratings.csv"), "w") as f:
        f.write("\n".join(ratings) + "\n")


def small_row_groups(path, rows=700):
    """Rewrites a Parquet file in row groups of `rows`, so the Ray job reads it in several
    tasks and must put a user's rows back in order across them."""
    table = pq.read_table(path)
    pq.write_table(table, path, row_group_size=rows)
    assert pq.ParquetFile(path).metadata.num_row_groups > 1


def keyed(table):
    """A training table as {(request id, row): row values}, with its metadata."""
    columns = table.column_names
    values = [table.column(c).to_pylist() for c in columns]
    rows = {}
    for i in range(table.num_rows):
        key = (values[0][i], values[columns.index("row")][i])
        assert key not in rows, f"two rows {key}"
        rows[key] = tuple(v[i] for v in values)
    return columns, table.schema.metadata, rows


def read_parts(folder):
    files = sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.endswith(".parquet"))
    assert files, f"no parts in {folder}"
    return files, pa.concat_tables(pq.read_table(f) for f in files)


def our_processes(folder):
    """Pids of live processes of the test's cluster: those whose environment carries the
    marker, and those with a file open in the cluster's folder (Ray's renamed processes,
    `ray::IDLE` workers and agents, overwrite their environment with their new title, but
    every Ray process logs into the session folder)."""
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as s:
                if s.read().split(")")[-1].split()[0] == "Z":
                    continue
            with open(f"/proc/{pid}/environ", "rb") as f:
                marked = MARKER.encode() in f.read().split(b"\0")
            if int(pid) != os.getpid() and (marked or any(os.readlink(f"/proc/{pid}/fd/{fd}").startswith(folder) for fd in os.listdir(f"/proc/{pid}/fd"))):
                pids.append(int(pid))
        except OSError:
            pass
    return pids


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """A local Ray cluster of two nodes: `ray start --head` and a second `ray start` joining
    it, one CPU each, their processes marked so that all of them are found and stopped."""

    def __init__(self, folder):
        self.folder = folder
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        key, value = MARKER.split("=")
        # Token authentication with a token of the test's own, given to every node and to the
        # job: independent of a token Ray may have left in ~/.ray by an earlier local run
        # (which a head started without this would pick up and its second node would not).
        token = os.path.join(folder + "-token")
        with open(token, "w") as f:
            f.write(uuid.uuid4().hex + uuid.uuid4().hex)
        self.env = dict(os.environ, **{key: value, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "token",
                                       "RAY_AUTH_TOKEN_PATH": token})

    def start(self):
        # Frugal: one CPU and a small object store per node (the machine is shared).
        common = ["--num-cpus=1", "--object-store-memory=150000000", "--disable-usage-stats"]
        for command in ([RAY, "start", "--head", f"--port={self.port}", "--include-dashboard=false",
                         f"--temp-dir={self.folder}", *common],
                        [RAY, "start", f"--address={self.address}", *common]):
            started = subprocess.run(command, env=self.env, capture_output=True, text=True)
            if started.returncode != 0:
                raise RuntimeError(f"{' '.join(command)} failed:\n{started.stderr[-3000:]}")

    def stop(self):
        """Stops every process of the cluster: their own shutdown first (SIGTERM, as `ray stop`
        sends), SIGKILL for what is left; returns what was still alive after it."""
        for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
            for pid in our_processes(self.folder):
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.time() + wait
            while our_processes(self.folder) and time.time() < deadline:
                time.sleep(0.2)
        return our_processes(self.folder)


class RayReplayTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.path.isfile(CLI):
            raise unittest.SkipTest("LOCALRANK_CLI must name the built localrank-pipeline")
        cls.folder = tempfile.mkdtemp(prefix="localrank-ray-test-")
        cls.logs = {}
        for shape, make in (("kuairand", synthetic_kuairand), ("movielens", synthetic_movielens)):
            raw = os.path.join(cls.folder, f"{shape}-raw")
            os.makedirs(raw)
            make(raw)
            events, requests = os.path.join(cls.folder, f"{shape}-events.parquet"), os.path.join(cls.folder, f"{shape}-requests.parquet")
            command = [CLI, f"adapt-{shape}", "--data", raw, "--events", events]
            if shape == "kuairand":
                command += ["--requests", requests]
            subprocess.run(command, check=True, capture_output=True)
            small_row_groups(events)
            cls.logs[shape] = (events, requests if shape == "kuairand" else None)
        cls.cluster = Cluster(os.path.join(cls.folder, "ray"))
        try:
            cls.cluster.start()
            assert len(our_processes(cls.cluster.folder)) >= 4, "the cluster's processes are not found"
        except BaseException:
            # tearDownClass does not run after a failed setUpClass: stop what did start.
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        left = cls.cluster.stop()
        shutil.rmtree(cls.folder, ignore_errors=True)
        assert not left, f"Ray processes left behind: {left}"

    def replays(self, shape):
        """The CLI's, the package's and the Ray job's training tables for one log."""
        events, requests = self.logs[shape]
        name = f"synthetic-{shape}"
        cli_out = os.path.join(self.folder, f"{shape}-cli.parquet")
        command = [CLI, "replay", "--events", events, "--features", FEATURES, "--dataset", name, "--out", cli_out]
        if requests:
            command += ["--requests", requests]
        subprocess.run(command, check=True, capture_output=True)
        single = localrank.replay(pq.read_table(events), pq.read_table(requests) if requests else None, contract(), dataset=name)
        ray_out = os.path.join(self.folder, f"{shape}-ray")
        command = [PY, os.path.join(ROOT, "models", "ray_replay.py"), "--events", events, "--features", FEATURES,
                   "--dataset", name, "--out", ray_out, "--partitions", "5"]
        if requests:
            command += ["--requests", requests]
        env = dict(self.cluster.env, RAY_ADDRESS=self.cluster.address)
        job = subprocess.run(command, env=env, capture_output=True, text=True)
        self.assertEqual(job.returncode, 0, job.stderr[-3000:])
        return pq.read_table(cli_out), single, ray_out

    def check_equal(self, shape):
        cli, single, ray_out = self.replays(shape)
        files, ray = read_parts(ray_out)
        self.assertGreater(len(files), 1, "the Ray job wrote one part: nothing was partitioned")
        columns, metadata, expected = keyed(cli)
        self.assertGreater(len(expected), 100, "too small a replay to compare")
        self.assertGreater(len(columns), 20)
        for name, table in (("single-process", single), ("Ray", ray)):
            got_columns, got_metadata, got = keyed(table)
            self.assertEqual(got_columns, columns, name)
            self.assertEqual(got_metadata, metadata, name)
            self.assertEqual(got.keys(), expected.keys(), name)
            for key, row in expected.items():
                # Value for value; floats compared exactly (the same f32 bits).
                self.assertEqual(got[key], row, f"{name}: request {key[0]} row {key[1]}")
        # Several users per partition and several partitions.
        self.assertGreater(len(set(ray.column("user").to_pylist())), 10)
        # The trainer reads the Ray parts as the CLI's file: the same arrays, in one order.
        sys.path.insert(0, os.path.join(ROOT, "models"))
        import train

        cli_columns, cli_arrays = train.load_table(os.path.join(self.folder, f"{shape}-cli.parquet"))
        ray_columns, ray_arrays = train.load_table(ray_out)
        self.assertEqual(cli_columns, ray_columns)
        for name in cli_arrays:
            np.testing.assert_array_equal(cli_arrays[name], ray_arrays[name], err_msg=name)
        return cli

    def test_kuairand_shape_logged_requests(self):
        table = self.check_equal("kuairand")
        self.assertEqual(set(table.column("split").to_pylist()), {"train", "validation", "test"})

    def test_movielens_shape_simulated_server(self):
        table = self.check_equal("movielens")
        self.assertGreater(sum(table.column("label").to_pylist()), 10)

    def test_bad_input_is_a_python_error(self):
        events, requests = self.logs["kuairand"]
        table = pq.read_table(events)
        cases = {
            "user is int64": table.set_column(0, "user", table.column("user").cast(pa.int64())),
            "no at": table.drop_columns(["at"]),
            "NaN at": table.set_column(table.column_names.index("at"), "at", pa.array([float("nan")] * table.num_rows)),
        }
        for label, bad in cases.items():
            with self.assertRaises(localrank.LocalrankError, msg=label) as caught:
                localrank.replay(bad, pq.read_table(requests), contract())
            self.assertTrue(str(caught.exception), label)
        with self.assertRaisesRegex(localrank.LocalrankError, "uint32"):
            localrank.replay(cases["user is int64"], None, contract())
        with self.assertRaisesRegex(localrank.LocalrankError, "contract"):
            localrank.replay(table, None, '{"version": 2}')
        with self.assertRaisesRegex(localrank.LocalrankError, "protocol"):
            localrank.replay(table, None, contract(), protocol='{"candidates": "many"}')
        with self.assertRaises(TypeError):
            localrank.replay({"user": [1]}, None, contract())
        with self.assertRaisesRegex(localrank.LocalrankError, "not a training table"):
            localrank.metrics(table)
        with self.assertRaises(localrank.LocalrankError):
            localrank.contract_of(b"not a model")
        self.assertTrue(issubclass(localrank.LocalrankError, ValueError))

    def test_replay_releases_the_gil(self):
        events, _ = self.logs["movielens"]
        table = pq.read_table(events)
        ticks, stop = [0], threading.Event()

        def tick():
            while not stop.is_set():
                ticks[0] += 1

        thread = threading.Thread(target=tick)
        thread.start()
        try:
            before = ticks[0]
            localrank.replay(table, None, contract())
            during = ticks[0] - before
        finally:
            stop.set()
            thread.join()
        # Holding the GIL, the other thread would not have run during the call at all.
        self.assertGreater(during, 1000)

    def test_scores_and_metrics_through_the_shipped_model(self):
        events, requests = self.logs["kuairand"]
        table = localrank.replay(pq.read_table(events), pq.read_table(requests), contract())
        model = read(os.path.join(ROOT, "models", "ranker.onnx"), "rb")
        self.assertEqual(json.loads(localrank.contract_of(model))["name"], "localrank-kuairand")
        scores = localrank.score(model, table)
        self.assertEqual(scores.num_rows, table.num_rows)
        self.assertEqual(scores.column("request_id").to_pylist(), table.column("request_id").to_pylist())
        values = np.array(scores.column("score").to_pylist())
        self.assertTrue(np.isfinite(values).all())
        # Do-no-harm: a row without local signals scores its server prior.
        self.assertTrue(np.all(values <= np.array(table.column("prior").to_pylist()) + 1.5))
        server, model_metrics = localrank.metrics(table), localrank.metrics(table, model)
        self.assertEqual(server.num_rows, len(set(table.column("request_id").to_pylist())))
        for metrics in (server, model_metrics):
            for name in ("ndcg", "ndcg5", "recall", "mrr"):
                column = np.array(metrics.column(name).to_pylist())
                self.assertTrue(np.all((column >= 0) & (column <= 1)), name)
                self.assertGreater(column.mean(), 0.1, name)


if __name__ == "__main__":
    unittest.main(verbosity=2)
