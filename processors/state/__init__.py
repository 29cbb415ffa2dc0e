"""Join state of the hot path: what attribution must remember between events.

- ``clicks``: the clicks this worker saw recently (memory) and every click by id
  (ClickHouse ``click_index``), for the forms that name them;
- ``waiting``: forms whose click was not seen yet (ClickHouse ``waiting_forms``);
- ``leads``: the state of every lead of the partitions this worker owns, on local disk
  (SQLite), rebuilt from ClickHouse's ``lead_facts`` by ``restore`` when another
  worker may have written the partition since;
- ``horizon``: how long each of them is kept.

ClickHouse is the durable truth of all of it: a worker's disk is a copy it can lose.
"""
