"""Hand-written SQL for the few hot paths (attributing a payment), with models built from its rows.

The ORM compiles every query anew: a three-table select_related costs about 0.8 ms of Python against 0.1 ms for the
round trip (bench/stripe_webhook.py), more than the rest of attributing a checkout. These helpers keep such SQL short
and its rows proper model instances, with the column lists taken from the models, never typed out.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from django.db import connection
from django.db.models import Field, Model


def columns(model: type[Model], alias: str) -> tuple[list[Field], str]:
    """The model's concrete fields and `alias."col", ...` selecting them, in that order (worked out once)."""
    return _columns(model, alias, connection.vendor)


@functools.cache
def _columns(model: type[Model], alias: str, vendor: str) -> tuple[list[Field], str]:
    fields = list(model._meta.concrete_fields)
    qn = connection.ops.quote_name
    return fields, ", ".join(f"{alias}.{qn(f.column)}" for f in fields)


def build(model: type[Model], fields: Sequence[Field], values: Sequence) -> Model:
    """A model instance from `values` read for `fields`, converted as the ORM converts its own rows (the backend's
    converters, e.g. SQLite's aware datetimes and UUIDs, then the field's from_db_value)."""
    converted = []
    for field, value in zip(fields, values, strict=True):
        col, converters = _converters(field, connection.vendor)
        for convert in converters:
            value = convert(value, col, connection)
        converted.append(value)
    return model.from_db(connection.alias, [f.attname for f in fields], converted)


@functools.cache
def _converters(field: Field, vendor: str) -> tuple:
    col = field.get_col(field.model._meta.db_table)
    return col, tuple(connection.ops.get_db_converters(col) + col.get_db_converters(connection))


def split(row: Sequence, *models_fields: tuple[type[Model], Sequence[Field]]) -> list[Model]:
    """Builds one instance per (model, fields) from consecutive slices of a joined row."""
    instances, start = [], 0
    for model, fields in models_fields:
        instances.append(build(model, fields, row[start : start + len(fields)]))
        start += len(fields)
    return instances


def insert_unless_exists(instance: Model, conflict_columns: Sequence[str]) -> bool:
    """INSERT ... ON CONFLICT (conflict_columns) DO NOTHING RETURNING id, for a new `instance`: one statement and no
    savepoint, whether or not the row exists (a concurrent insert of the same key waits for the other transaction,
    then does nothing). Sets the instance's pk and returns True when it was inserted; False when the row existed.
    Postgres and SQLite (3.35+) both take it."""
    model = type(instance)
    qn = connection.ops.quote_name
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    values = [f.get_db_prep_save(f.pre_save(instance, add=True), connection) for f in fields]
    sql = (
        f"INSERT INTO {qn(model._meta.db_table)} ({', '.join(qn(f.column) for f in fields)}) "
        f"VALUES ({', '.join(['%s'] * len(fields))}) "
        f"ON CONFLICT ({', '.join(qn(c) for c in conflict_columns)}) DO NOTHING "
        f"RETURNING {qn(model._meta.pk.column)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        row = cursor.fetchone()
    if row is None:
        return False
    instance.pk = row[0]
    instance._state.adding = False
    return True


def commit_synchronously() -> None:
    """`SET LOCAL synchronous_commit TO ON`: the current transaction's commit waits for the disk even where the
    session commits without waiting (stripe_integration.services.claiming.asynchronous_commits). Inside a transaction;
    Postgres only (elsewhere every commit waits anyway)."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit TO ON")


def get_with_related(model: type[Model], path: str, **where) -> Model | None:
    """The one row of `model.objects.select_related(path).filter(**where)`, or None, with the models along `path`
    (non-null foreign keys, e.g. "affiliate__program") built and cached on it as select_related caches them.

    The same single statement the ORM writes (an INNER JOIN per foreign key, the filters ANDed as equalities),
    written once per shape instead of compiled on every call. `where` must name one row (a unique key): the ORM's
    `.get()`, without its error when none matches.
    """
    sql, steps, where_fields = _related_sql(model, path, tuple(where), connection.vendor)
    params = [field.get_db_prep_value(where[name], connection) for name, field in zip(where, where_fields, strict=True)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    instances = split(row, *((step_model, fields) for step_model, fields, _ in steps))
    for parent, child, (_, _, foreign_key) in zip(instances, instances[1:], steps[1:], strict=False):
        foreign_key.set_cached_value(parent, child)
    return instances[0]


@functools.cache
def _related_sql(model: type[Model], path: str, where: tuple[str, ...], vendor: str) -> tuple[str, list, list]:
    qn = connection.ops.quote_name
    fields, select = columns(model, "t0")
    steps: list = [(model, fields, None)]
    selects, joins, current = [select], [], model
    for i, name in enumerate(path.split("__") if path else [], start=1):
        foreign_key = current._meta.get_field(name)
        if not foreign_key.many_to_one or foreign_key.null:
            raise ValueError(f"{current.__name__}.{name} is not a non-null foreign key.")
        target = foreign_key.related_model
        target_fields, target_select = columns(target, f"t{i}")
        selects.append(target_select)
        joins.append(
            f"INNER JOIN {qn(target._meta.db_table)} t{i} "
            f"ON t{i}.{qn(foreign_key.target_field.column)} = t{i - 1}.{qn(foreign_key.column)}"
        )
        steps.append((target, target_fields, foreign_key))
        current = target
    where_fields = [model._meta.get_field(name) for name in where]
    sql = (
        f"SELECT {', '.join(selects)} FROM {qn(model._meta.db_table)} t0 {' '.join(joins)} "
        f"WHERE {' AND '.join(f't0.{qn(field.column)} = %s' for field in where_fields)}"
    )
    return sql, steps, where_fields


def commit_asynchronously() -> None:
    """`SET LOCAL synchronous_commit TO OFF`: the current transaction's commit does not wait for its WAL flush, for
    work that can be rebuilt from what is already durable (a Stripe event's processing). Inside a transaction;
    Postgres only (no such setting elsewhere)."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL synchronous_commit TO OFF")


def session_commits_asynchronously() -> None:
    """`SET synchronous_commit TO OFF` for the rest of the connection's session (a Stripe event drainer's chunk),
    until `session_commits_by_default`. Postgres only."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO OFF")


def session_commits_by_default() -> None:
    """`RESET synchronous_commit`: the session's commits wait for the disk again, as the server is configured.
    Postgres only."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("RESET synchronous_commit")


def advisory_xact_lock(key1: int, key2: int) -> None:
    """`pg_advisory_xact_lock(key1, key2)`: waits for and takes the advisory lock on the two 32-bit signed keys,
    released when the transaction ends. Postgres only (SQLite serialises writers anyway)."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [key1, key2])
