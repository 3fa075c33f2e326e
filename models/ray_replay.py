#!/usr/bin/env python3
"""The replay as a Ray Data job: the event log's users hash-partitioned across a Ray
cluster, each partition replayed by the `localrank` package (the core's own replay, the
one the CLI and the device run), the training table written as Parquet parts.

    python models/ray_replay.py --events E.parquet [--requests R.parquet] \
        --features C.json[,C.json...] --dataset NAME --out DIR [--partitions P]

Connects to the cluster named by RAY_ADDRESS (`ray.init()` reads it: a local head's
`127.0.0.1:6379`, or a remote `ray://host:10001`), else starts a local one. On a remote
cluster every node needs the `localrank` wheel and pyarrow installed, and the paths must be
ones every node reads (a shared file system, or a URI pyarrow opens, e.g. `s3://...`).

How the job splits the work:
- Each Parquet row group is read by one Ray task, which tags its rows with their row
  number in the file and with the user's partition (`user % P`). The row number matters:
  a user's events at the same time are replayed in the log's order, as the CLI does.
- `groupby("partition").map_groups(...)` hash-shuffles those pieces (as Arrow IPC bytes,
  so events and requests travel in one dataset) and hands each partition's users to one
  call, which puts its pieces back in file order and calls `localrank.replay`.
- With a request log (KuaiRand's shape), a partition's events and requests are all its
  users need. Without one (MovieLens's), the simulated server learns from every user's
  events: each worker reads the whole events table once (the actor's constructor) and
  replays only its partition's users against it (`users=`), so the compute scales out but
  every worker holds the whole log.
The parts are written with `Dataset.write_parquet`; the training-table readers (train.py,
`localrank-pipeline evaluate`) put their rows back in the canonical order, so the folder
reads as exactly the single-process replay.
"""

import argparse
import io
import sys
import time

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs
import pyarrow.ipc
import pyarrow.parquet as pq
import ray

import localrank


def open_parquet(path):
    filesystem, inner = pyarrow.fs.FileSystem.from_uri(path) if "://" in path else (pyarrow.fs.LocalFileSystem(), path)
    return pq.ParquetFile(filesystem.open_input_file(inner))


def row_groups(path, kind):
    """One task per row group: (path, kind, row group, its first row in the file)."""
    metadata = open_parquet(path).metadata
    first, tasks = 0, []
    for g in range(metadata.num_row_groups):
        tasks.append({"path": path, "kind": kind, "group": g, "first_row": first})
        first += metadata.row_group(g).num_rows
    return tasks


def to_ipc(table):
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def from_ipc(data):
    return pa.ipc.open_stream(data).read_all()


class Partitioner:
    """Reads one row group and splits its rows by partition: one output row per partition,
    the rows as Arrow IPC bytes (with their row numbers in `_seq`). `users_only`: only the
    user column travels (the simulated server's case, where workers read the whole log)."""

    def __init__(self, partitions, users_only):
        self.partitions, self.users_only = partitions, users_only

    def __call__(self, task):
        table = open_parquet(task["path"]).read_row_group(task["group"])
        if self.users_only:
            table = table.select(["user"])
        table = table.append_column("_seq", pa.array(np.arange(task["first_row"], task["first_row"] + table.num_rows)))
        partition = pc.cast(table.column("user"), pa.int64()).to_numpy() % self.partitions
        out = []
        # A piece for every partition, empty ones too: each call then has both tables, with
        # their schemas, even for a partition without rows in one of them.
        for p in range(self.partitions):
            piece = table.filter(pa.array(partition == p))
            out.append({"partition": int(p), "kind": task["kind"], "first_row": task["first_row"], "ipc": to_ipc(piece)})
        return out


def in_file_order(pieces):
    """A partition's pieces of one table back in the file's row order, without `_seq`."""
    table = pa.concat_tables(from_ipc(p) for p in pieces)
    table = table.take(pc.sort_indices(table.column("_seq")))
    return table.drop_columns(["_seq"])


class Replayer:
    """Replays one partition's users with the core. Without a request log it holds the
    whole events table (read once per worker)."""

    def __init__(self, contract, dataset, protocol, full_events):
        self.contract, self.dataset, self.protocol = contract, dataset, protocol
        self.full_events = pq.read_table(full_events) if full_events else None

    def __call__(self, group):
        pieces = {"events": [], "requests": []}
        for kind, data in zip(group.column("kind").to_pylist(), group.column("ipc").to_pylist()):
            pieces[kind].append(data)
        options = {"dataset": self.dataset, "protocol": self.protocol}
        if self.full_events is not None:
            users = np.unique(pa.concat_tables(from_ipc(p) for p in pieces["events"]).column("user").to_numpy())
            # No users in the partition (more partitions than users): an empty table.
            events = self.full_events if len(users) else self.full_events.slice(0, 0)
            return localrank.replay(events, None, self.contract, users=users.tolist(), **options)
        return localrank.replay(in_file_order(pieces["events"]), in_file_order(pieces["requests"]), self.contract, **options)


def run(events, requests, contract, dataset, protocol, out, partitions=None):
    """Runs the job on the connected cluster; returns how many events it replayed."""
    if partitions is None:
        # A few partitions per CPU: the slowest one does not hold the others up for long.
        partitions = max(1, 2 * int(ray.cluster_resources().get("CPU", 1)))
    if requests is not None and pc.any(pc.is_null(pq.read_table(requests, columns=["split"]).column("split"))).as_py():
        # Without a split in the log the replay splits by the whole log's time quantiles,
        # which a partition does not know.
        raise SystemExit("ray_replay.py: requests without a split: replay them in one process (localrank-pipeline replay)")
    users_only = requests is None
    tasks = row_groups(events, "events") + (row_groups(requests, "requests") if requests else [])
    replayed = (
        ray.data.from_items(tasks)
        .flat_map(Partitioner, fn_constructor_args=(partitions, users_only), concurrency=(1, max(1, len(tasks))))
        .groupby("partition", num_partitions=partitions)
        .map_groups(
            Replayer,
            batch_format="pyarrow",
            fn_constructor_args=(contract, dataset, protocol, events if users_only else None),
            concurrency=(1, partitions),
        )
    )
    replayed.write_parquet(out)
    return open_parquet(events).metadata.num_rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", required=True, help="the events table (Parquet)")
    parser.add_argument("--requests", help="the requests table (Parquet); without it the simulated server makes the requests")
    parser.add_argument("--features", required=True, help="contracts (JSON files, comma-separated): the union of their features is computed")
    parser.add_argument("--dataset", required=True, help="the data set's name in the model card")
    parser.add_argument("--protocol", help="the replay protocol as JSON (default: the CLI's defaults)")
    parser.add_argument("--partitions", type=int, help="user partitions (default: 2 per CPU of the cluster)")
    parser.add_argument("--out", required=True, help="the folder the training table's parts are written to")
    args = parser.parse_args()
    contracts = []
    for path in args.features.split(","):
        with open(path, encoding="utf-8") as f:
            contracts.append(f.read())
    ray.init(log_to_driver=False)
    started = time.perf_counter()
    try:
        events = run(args.events, args.requests, localrank.union_contracts(contracts), args.dataset, args.protocol, args.out, args.partitions)
    except localrank.LocalrankError as e:
        sys.exit(f"ray_replay.py: {e}")
    seconds = time.perf_counter() - started
    cpus = int(ray.cluster_resources().get("CPU", 1))
    print(f"ray_replay.py: {events} events replayed in {seconds:.1f} s on {cpus} CPUs → {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
