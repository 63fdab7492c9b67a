"""moto's DynamoDB server, answering one request at a time.

moto applies a TransactWriteItems by deep-copying the tables and putting the copy back when a
condition fails, so two transactions at once can undo each other's writes: fifty tills racing for
ten strict units then "sell" fourteen, which DynamoDB never does. Taking requests one at a time
(connections stay concurrent) gives the atomicity every DynamoDB request has.

The copies put back include each table's stream shard, so a reader of the sales stream keeps
reading the live shard it was given: that one holds the records of the transaction that never
happened (a phantom sale in the reports) and none of the later ones. `keep_stream_shards` makes
a rolled-back transaction cut the table's own shard back instead, as DynamoDB, which writes a
stream record only for what it committed, would have it.

    target/venv/bin/python tests/tools/moto_server.py [HOST] PORT
"""

import sys
import threading

from werkzeug.serving import run_simple
from moto.dynamodb.models import DynamoDBBackend
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)


def keep_stream_shards() -> None:
    transact = DynamoDBBackend.transact_write_items

    def transact_write_items(self, transact_items):
        shards = {
            name: (table, table.stream_shard, len(table.stream_shard.items))
            for name, table in self.tables.items()
            if table.stream_shard is not None
        }
        try:
            return transact(self, transact_items)
        finally:
            for name, (live, shard, length) in shards.items():
                restored = self.tables.get(name)
                if restored is not None and restored is not live:
                    del shard.items[length:]
                    shard.table = restored
                    restored.stream_shard = shard

    DynamoDBBackend.transact_write_items = transact_write_items


def main() -> None:
    keep_stream_shards()
    args = sys.argv[1:]
    host, port = (args[0], args[1]) if len(args) == 2 else ("127.0.0.1", args[0])
    app = DomainDispatcherApplication(create_backend_app)
    one_at_a_time = threading.Lock()

    def serial(environ, start_response):
        with one_at_a_time:
            # The whole answer is made inside the lock, not only its first chunk.
            return list(app(environ, start_response))

    run_simple(host, int(port), serial, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
