"""Index changes that do not stop the app: for migrations on tables every request writes (events, commissions).

Django's own operations rebuild indexes inside the migration's transaction, holding the table's lock throughout, and
turning a foreign key's `db_index` off drops and re-adds the constraint, which re-checks every row. Instead a migration
keeps Django's operations for the model state only (`SeparateDatabaseAndState`) and runs `IndexChanges` on the
database: on Postgres every index is built and dropped CONCURRENTLY (the migration must say `atomic = False`), and a
unique constraint moves to a new index with ADD CONSTRAINT ... USING INDEX, which takes its lock only for a moment.
SQLite (the embedded default) gets the same indexes, plainly.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import migrations


@dataclass(frozen=True)
class Index:
    name: str
    columns: str  # SQL, e.g. "merchant_id, created_at DESC"
    where: str = ""  # SQL condition of a partial index
    postgres_only: bool = False  # varchar_pattern_ops indexes, which only Postgres has

    def create(self, table: str, *, postgres: bool) -> str:
        concurrently = " CONCURRENTLY" if postgres else ""
        where = f" WHERE {self.where}" if self.where else ""
        return f'CREATE INDEX{concurrently} IF NOT EXISTS "{self.name}" ON "{table}" ({self.columns}){where}'

    def drop(self, *, postgres: bool) -> str:
        return f'DROP INDEX{" CONCURRENTLY" if postgres else ""} IF EXISTS "{self.name}"'


@dataclass(frozen=True)
class Unique:
    """A single-column unique constraint, by name, before and after."""

    column: str
    before: str
    after: str


@dataclass(frozen=True)
class IndexChanges:
    table: str
    drop: tuple[Index, ...] = ()
    create: tuple[Index, ...] = ()
    unique: Unique | None = None

    def operation(self) -> migrations.RunPython:
        return migrations.RunPython(self.forwards, self.backwards)

    def forwards(self, apps, schema_editor) -> None:
        self._apply(schema_editor, drop=self.drop, create=self.create, unique_name=self.unique and self.unique.after)

    def backwards(self, apps, schema_editor) -> None:
        self._apply(schema_editor, drop=self.create, create=self.drop, unique_name=self.unique and self.unique.before)

    def _apply(self, schema_editor, *, drop, create, unique_name) -> None:
        postgres = schema_editor.connection.vendor == "postgresql"
        if postgres and schema_editor.connection.in_atomic_block:
            raise RuntimeError("IndexChanges needs a migration with atomic = False (CREATE INDEX CONCURRENTLY)")
        created = {index.name for index in create}
        # A name that is both dropped and created (a redefined index) goes first, then everything new is built before
        # anything old is dropped, so queries always have an index to use.
        for index in drop:
            if index.name in created:
                schema_editor.execute(index.drop(postgres=postgres))
        for index in create:
            if postgres or not index.postgres_only:
                schema_editor.execute(index.create(self.table, postgres=postgres))
        if unique_name:
            self._move_unique(schema_editor, unique_name, postgres=postgres)
        for index in drop:
            if index.name not in created:
                schema_editor.execute(index.drop(postgres=postgres))

    def _move_unique(self, schema_editor, name: str, *, postgres: bool) -> None:
        table, column = self.table, self.unique.column
        if not postgres:
            # SQLite keeps the column's own UNIQUE; the named index makes the state's constraint real.
            if name == self.unique.after:
                schema_editor.execute(f'CREATE UNIQUE INDEX IF NOT EXISTS "{name}" ON "{table}" ("{column}")')
            else:
                schema_editor.execute(f'DROP INDEX IF EXISTS "{self.unique.after}"')
            return
        schema_editor.execute(f'CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS "{name}" ON "{table}" ("{column}")')
        with schema_editor.connection.cursor() as cursor:
            # The unique constraints on exactly this column, whatever earlier migrations named them.
            cursor.execute(
                "SELECT c.conname FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid "
                "AND c.conkey = ARRAY[a.attnum] WHERE c.conrelid = %s::regclass AND c.contype = 'u' AND a.attname = %s",
                [table, column],
            )
            existing = [row[0] for row in cursor.fetchall()]
        if name not in existing:
            schema_editor.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" UNIQUE USING INDEX "{name}"')
        for other in existing:
            if other != name:
                schema_editor.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT "{other}"')
