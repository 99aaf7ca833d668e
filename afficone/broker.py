"""The Celery broker's transport: kombu's Redis transport, made to survive Redis going away under load.

Settings name it (`CELERY_BROKER_TRANSPORT`, afficone/settings/base.py) whenever REDIS_URL is set, for the worker,
beat and the web processes alike. The one difference from kombu's own: a channel asked to reach Redis after its
connection was closed says so with a connection error, instead of crashing the worker.

What it mends: when a worker loses Redis while it holds unacknowledged messages, Celery's consumer first collects
the broken connection (kombu closes its channels and detaches the transport from it), then closes it once more. A
channel that did not finish closing the first time (it was waiting on BRPOP when the socket died) tries again to
put its unacknowledged messages back, builds a new Redis connection pool from its transport's connection, finds
none, and raises AttributeError. That is not one of the errors Celery's consumer treats as a lost connection, so
the worker logged "Unrecoverable error" and exited: without this module, in 2 of 4 runs of six outages each of
tests/test_broker_outage.py (about one outage in nine), and on the first outage of a worker kept busy with short
tasks. As a connection error it is ignored like the rest of the close, the consumer reconnects, and the messages
stay in Redis's unacknowledged set, restored by kombu after the visibility timeout (the tasks are idempotent:
stripe_integration/tasks.py).
"""

from kombu.transport import redis as kombu_redis
from redis import exceptions as redis_exceptions


class Channel(kombu_redis.Channel):
    def _connparams(self, asynchronous=False):
        transport = self.connection
        if transport is None or transport.client is None:
            raise redis_exceptions.ConnectionError("The broker connection is closed; the consumer reconnects.")
        return super()._connparams(asynchronous=asynchronous)


class Transport(kombu_redis.Transport):
    Channel = Channel
