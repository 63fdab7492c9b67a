"""moto's DynamoDB server, answering one request at a time.

moto applies a TransactWriteItems by deep-copying the tables and putting the copy back when a
condition fails, so two transactions at once can undo each other's writes: fifty tills racing for
ten strict units then "sell" fourteen, which DynamoDB never does. Taking requests one at a time
(connections stay concurrent) gives the atomicity every DynamoDB request has.

    target/venv/bin/python tests/tools/moto_server.py [HOST] PORT
"""

import sys
import threading

from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)


def main() -> None:
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
