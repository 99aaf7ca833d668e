"""The one tenant-scoping mechanism.

Every tenant-owned model has a non-null `merchant` foreign key and
`objects = TenantQuerySet.as_manager()`. Views and tasks reach rows only
through `for_merchant()`, so a missing row and another merchant's row look
the same (404).
"""

from django.db import models


class TenantQuerySet(models.QuerySet):
    def for_merchant(self, merchant):
        if merchant is None:
            return self.none()
        return self.filter(merchant=merchant)
