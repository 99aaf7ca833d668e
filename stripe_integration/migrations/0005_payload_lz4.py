"""Stored events' payloads (about 3 KB of JSON each, compressed in TOAST) use lz4 where the server has it: every
webhook compresses one, and lz4 costs Postgres a fraction of pglz's CPU (bench/stripe_webhook.py, accept)."""

from django.db import migrations


def use_lz4(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)")
        if cursor.fetchone():  # Postgres 14+ built with lz4 (Debian's and the official images are)
            cursor.execute("ALTER TABLE stripe_integration_stripeevent ALTER COLUMN payload SET COMPRESSION lz4")


def use_default(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression'")
        if cursor.fetchone():
            cursor.execute("ALTER TABLE stripe_integration_stripeevent ALTER COLUMN payload SET COMPRESSION DEFAULT")


class Migration(migrations.Migration):
    dependencies = [("stripe_integration", "0004_fewer_event_indexes")]

    operations = [migrations.RunPython(use_lz4, use_default)]
