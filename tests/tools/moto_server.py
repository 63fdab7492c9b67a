"""moto's DynamoDB server, answering one request at a time, with transactions rolled back from
an undo log, queries on a table's key that read only that key's items, and optionally a record
of the IAM actions each request performs.

One at a time: moto applies a TransactWriteItems in place and rolls it back when a condition
fails, so two transactions at once can undo each other's writes: fifty tills racing for ten
strict units then "sell" fourteen, which DynamoDB never does. Taking requests one at a time
(connections stay concurrent) gives the atomicity every DynamoDB request has.

The undo log (`undo_log_transactions`): moto 5.2.5 backs a transaction up by deep-copying every
table it names before it runs, and puts the copies back when it fails. That costs time and
memory in proportion to the tables, not the transaction (a first-time user measured 0.22 s per
transaction on a 6,000-item table, and the whole demo seed taking 270 s and growing moto to
9.7 GB). Instead, before
moto runs a transaction, this remembers the previous version (or absence) of exactly the items
its Put, Update and Delete operations name, lets moto's own per-item code run with the table
copies turned off, and on any failure puts those items back. The answers are moto's own: the
TransactionCanceledException with its per-item CancellationReasons (ConditionalCheckFailed,
and the item for ReturnValuesOnConditionCheckFailure) come from the same code as before.

Streams: a failed transaction may have written stream records for the items it wrote before the
one that failed. DynamoDB writes a stream record only for what it committed, so a rollback cuts
each named table's shard back to its length before the transaction: a reader of the sales
stream sees no phantom sale. (moto's table copies carried their own shards, so before this file
kept the live shard through a rollback; with no copies the shard simply stays and is cut.)

Measured 2026-12-01 on the project's 2-core machine (shared: two cargo builds ran beside it),
commodity writes a second as both tables grow; each write is one TransactWriteItems of a
conditional Put (the commodity) and a conditional Update (its barcode), what the DynamoDB
adapter sends for a new commodity, from a boto3 loop on one connection, each figure over the
500 writes before it (lowest-highest of the runs: before 3 runs to 1,500 and one to 2,500;
after 3 runs to 3,000 and one to 6,000):
    items in each table       500      1,000    1,500    2,500    3,000    6,000
    table copies (before)   16-19      6-9      4-7        3        -        -
    undo log (after)        46-52    44-54    40-70    43-63    46-55       52
and moto's peak resident memory (VmHWM): before, 3.1 GB after 1,500 writes and 12 GB at
about 2,600 (stopped there); after, 103 MB at 3,000 and 115 MB at 6,000.
The demo seed through `retail-local --dynamodb-endpoint`: README, "On DynamoDB".

Queries (`keyed_queries`): moto 5.2.5 answers a Query on a table's own key by listing and
sorting every item of the table, then keeping the key's; a stock movement of 100 skus queries
100 times, so the demo seed's deliveries slowed as the stock table grew (its 30 requests took
92-129 s). It now starts from the key's own items, with the same answers (pages, order,
filters, counts), and they take 26 s (2026-12-01, same machine). Index queries are moto's own.

The call recorder (`MOTO_RECORD_CALLS=/path/file.jsonl`): one JSON line per IAM action a
request asks for, appended and flushed inside the one-at-a-time lock, whatever the answer:
    {"key": "<access key id of the request's SigV4 Credential>", "action": "dynamodb:PutItem",
     "table": "retail-SalesTable"}
A Query or Scan of an index (its `IndexName`) asks for the action on the index's ARN
(`<table ARN>/index/<name>`), not the table's: its line names the table and the index,
    {"key": "...", "action": "dynamodb:Query", "table": "retail-PricesTable", "index": "catalog"}
and only such a line has "index".
TransactWriteItems: one line per item (Put -> PutItem, Update -> UpdateItem, Delete ->
DeleteItem, ConditionCheck -> ConditionCheckItem); TransactGetItems: one GetItem per item;
BatchGetItem and BatchWriteItem: one line per table named; any other operation one line with
its own name and its TableName ("" when it has none, as for ListTables). The streams API
(DescribeStream, GetShardIterator, GetRecords) records "dynamodb:<Op>" with the table named by
the stream ARN (or the shard iterator, which carries it).

    target/venv/bin/python tests/tools/moto_server.py [HOST] PORT
"""

import copy
import io
import json
import os
import re
import sys
import threading

import moto
import moto.dynamodb.models as dynamodb_models
from werkzeug.serving import run_simple
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)

# The undo log stands in for the table copies of exactly this version's transact_write_items.
MOTO_VERSION = "5.2.5"


class _TablesNotCopied:
    """Stands in for the `copy` module inside moto's DynamoDB models during a transaction:
    `copy.deepcopy(table)` (moto's backup of each table named) gives the live table, so moto's
    own rollback puts each table back onto itself; everything else is `copy` as usual (moto's
    update_item deep-copies the item it updates)."""

    def __getattr__(self, name):
        return getattr(copy, name)

    @staticmethod
    def deepcopy(value, memo=None):
        return value if isinstance(value, Table) else copy.deepcopy(value, memo)


_NO_KEY = object()


def _item_key(table, op_type, op):
    """The (hash, range) key of the item a Put/Update/Delete writes, as moto's table stores it;
    `_NO_KEY` when the request does not name one (moto then refuses it before writing)."""
    attrs = op.get("Item") if op_type == "Put" else op.get("Key")
    if not isinstance(attrs, dict) or table.hash_key_attr not in attrs:
        return _NO_KEY
    hash_value = DynamoType(attrs[table.hash_key_attr])
    if table.range_key_attr is None:
        return hash_value, None
    if table.range_key_attr not in attrs:
        return _NO_KEY
    return hash_value, DynamoType(attrs[table.range_key_attr])


def _table(backend, name):
    """The table a transaction item names (by name or ARN, as moto's get_table finds it)."""
    try:
        return backend.get_table(name) if isinstance(name, str) else None
    except Exception:
        return None


def _stored(table, hash_value, range_value):
    """The item stored under this key, or None; unlike Table.get_item, adds no empty bucket."""
    if range_value is None:
        return table.items.get(hash_value)
    bucket = table.items.get(hash_value)
    return None if bucket is None else bucket.get(range_value)


def _restore(table, hash_value, range_value, previous):
    if range_value is None:
        if previous is None:
            table.items.pop(hash_value, None)
        else:
            table.items[hash_value] = previous
    elif previous is None:
        bucket = table.items.get(hash_value)
        if bucket is not None:
            bucket.pop(range_value, None)
    else:
        table.items[hash_value][range_value] = previous


def undo_log_transactions() -> None:
    """TransactWriteItems rolled back from an undo log of the items it touches (see above)."""
    if moto.__version__ != MOTO_VERSION:
        sys.exit(
            f"moto_server.py patches moto {MOTO_VERSION}'s transact_write_items; this is moto "
            f"{moto.__version__}: read its source again and update undo_log_transactions"
        )
    transact = DynamoDBBackend.transact_write_items

    def transact_write_items(self, transact_items):
        undo = {}  # (table name, hash, range) -> (table, hash, range, previous item or None)
        shards = {}  # table name -> (its stream shard, the shard's length before)
        exact = True  # every item the transaction may write is in `undo`
        for entry in transact_items if isinstance(transact_items, list) else []:
            if not isinstance(entry, dict) or len(entry) != 1:
                continue  # moto refuses the whole transaction before writing anything
            op_type, op = next(iter(entry.items()))
            table = _table(self, op.get("TableName")) if isinstance(op, dict) else None
            if table is None:
                continue  # an unknown table: nothing of this operation can be written
            if table.stream_shard is not None and table.name not in shards:
                shards[table.name] = (table.stream_shard, len(table.stream_shard.items))
            if op_type not in ("Put", "Update", "Delete"):
                continue
            key = _item_key(table, op_type, op)
            if key is _NO_KEY:
                exact = False  # an odd request: let moto copy the tables, as it would
                continue
            slot = (table.name, *key)
            if slot not in undo:  # the same item twice: moto refuses the transaction
                previous = _stored(table, *key)
                # Update changes the stored item in place: remember a copy.
                undo[slot] = (table, *key, copy.deepcopy(previous))

        if exact:
            dynamodb_models.copy = _TablesNotCopied()
        try:
            return transact(self, transact_items)
        except BaseException:
            for table, hash_value, range_value, previous in undo.values():
                _restore(table, hash_value, range_value, previous)
            for shard, length in shards.values():
                del shard.items[length:]
            raise
        finally:
            dynamodb_models.copy = copy

    DynamoDBBackend.transact_write_items = transact_write_items


def keyed_queries() -> None:
    """A Query on a table's own key reads that key's items (see the module's docstring)."""
    query = Table.query

    def keyed_query(self, hash_key, *args, **kwargs):
        index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
        if index_name is not None or not isinstance(hash_key, DynamoType):
            return query(self, hash_key, *args, **kwargs)
        if self.range_key_attr is None:
            found = self.items.get(hash_key)
            own = [] if found is None else [found]
        else:
            own = list(self.items.get(hash_key, {}).values())
        # moto's query keeps the items of all_items() whose hash key is hash_key, then sorts them
        # by range key; these are exactly those (DynamoType's hash and equality agree).
        self.all_items = lambda: own
        try:
            return query(self, hash_key, *args, **kwargs)
        finally:
            del self.all_items

    Table.query = keyed_query


# --- the call recorder -------------------------------------------------------------------------

_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/")
_STREAM_TABLE = re.compile(r":table/([^/]+)/stream/")
_TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}


def iam_actions(target, body):
    """The (action, table) pairs one request asks IAM for: `target` is its X-Amz-Target
    (`DynamoDB_20120810.PutItem`), `body` its parsed JSON (or {}). For a Query or Scan of an
    index, the table is (table, index name): the resource IAM checks is the index."""
    service, _, operation = target.partition(".")
    if not operation:
        return []
    if service.startswith("DynamoDBStreams"):
        arn = body.get("StreamArn") or body.get("ShardIterator") or ""
        found = _STREAM_TABLE.search(arn) if isinstance(arn, str) else None
        return [(operation, found.group(1) if found else "")]
    if operation == "TransactWriteItems":
        pairs = []
        for entry in _list(body.get("TransactItems")):
            for op_type, op in entry.items():
                pairs.append((_TRANSACT_ACTIONS.get(op_type, op_type), _table_name(op)))
        return pairs
    if operation == "TransactGetItems":
        return [("GetItem", _table_name(entry.get("Get"))) for entry in _list(body.get("TransactItems"))]
    if operation in ("BatchGetItem", "BatchWriteItem"):
        requested = body.get("RequestItems")
        return [(operation, table) for table in (requested if isinstance(requested, dict) else {})]
    if operation in ("Query", "Scan"):
        index = body.get("IndexName")
        if isinstance(index, str):
            return [(operation, (_table_name(body), index))]
    return [(operation, _table_name(body))]


def _list(value):
    """The dicts of a JSON list (a malformed request records what it can)."""
    return [entry for entry in value if isinstance(entry, dict)] if isinstance(value, list) else []


def _table_name(op):
    name = op.get("TableName", "") if isinstance(op, dict) else ""
    return name if isinstance(name, str) else ""


class CallRecorder:
    """Appends the IAM actions of each request to a file, one JSON line each."""

    def __init__(self, path):
        self.file = open(path, "a", encoding="utf-8")

    def record(self, environ):
        """Reads the request's body (and puts it back for moto) and writes its lines."""
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if not target.startswith("DynamoDB"):
            return
        length = environ.get("CONTENT_LENGTH")
        raw = b""
        if length or environ.get("wsgi.input_terminated"):
            raw = environ["wsgi.input"].read(int(length)) if length else environ["wsgi.input"].read()
            environ["wsgi.input"] = io.BytesIO(raw)
            environ["CONTENT_LENGTH"] = str(len(raw))
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        found = _CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
        key = found.group(1) if found else ""
        for action, table in iam_actions(target, body):
            line = {"key": key, "action": f"dynamodb:{action}"}
            if isinstance(table, tuple):
                line["table"], line["index"] = table
            else:
                line["table"] = table
            self.file.write(json.dumps(line) + "\n")
        self.file.flush()


def main() -> None:
    undo_log_transactions()
    keyed_queries()
    args = sys.argv[1:]
    host, port = (args[0], args[1]) if len(args) == 2 else ("127.0.0.1", args[0])
    app = DomainDispatcherApplication(create_backend_app)
    one_at_a_time = threading.Lock()
    record_to = os.environ.get("MOTO_RECORD_CALLS")
    recorder = CallRecorder(record_to) if record_to else None

    def serial(environ, start_response):
        with one_at_a_time:
            if recorder is not None:
                recorder.record(environ)
            # The whole answer is made inside the lock, not only its first chunk.
            return list(app(environ, start_response))

    run_simple(host, int(port), serial, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
