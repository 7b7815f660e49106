"""Querysets compiled to SQL once per process, for the few statements every request runs.

Building SQL from a queryset (cloning, resolving lookups and joins, quoting
columns) costs about half a millisecond of Python each time, and so does
running Django's per-column converters over a page of rows. For the
authentication lookup and the agents' default lead page, the SQL text never
changes, only its parameters, so it is compiled by the ORM once per database
alias and reused: the ORM still decides the SQL (columns, joins, quoting,
vendor), nothing is written by hand.
"""

import threading

from django.db import connections, router


class CompiledQuery:
    """``build()`` returns the queryset with placeholder values for its parameters.

    ``rows(params)`` runs the compiled SQL with ``params`` in the placeholders'
    places, in the order of the SQL: the ORM sorts the keyword arguments of one
    ``filter()`` call, so give each parameter its own ``filter()``, in order. A
    placeholder must be a value the ORM passes as a parameter (``None`` becomes
    ``IS NULL``): the parameter count is checked on every call. ``paged=True`` appends
    ``LIMIT %s OFFSET %s`` (MariaDB and SQLite both accept it), taking the
    ``limit`` and ``offset`` arguments. ``convert=True`` applies Django's column
    converters (booleans, aware datetimes, JSON); without it the driver's values
    come back as they are, for callers that convert the few columns they need.
    """

    def __init__(self, build, *, paged=False):
        self._build = build
        self._paged = paged
        self._compiled = {}
        self._lock = threading.Lock()
        self.model = None

    def _compile(self, alias):
        with self._lock:
            compiled = self._compiled.get(alias)
            if compiled is None:
                queryset = self._build()
                compiler = queryset.query.get_compiler(alias)
                sql, params = compiler.as_sql()
                expressions = [select[0] for select in compiler.select[: compiler.col_count]]
                converters = compiler.get_converters(expressions)
                if self._paged:
                    sql += " LIMIT %s OFFSET %s"
                compiled = self._compiled[alias] = (sql, len(params), converters)
        return compiled

    def _alias(self):
        if self.model is None:
            self.model = self._build().model
        return router.db_for_read(self.model)

    def rows(self, params=(), *, limit=None, offset=0, convert=False, using=None):
        alias = using or self._alias()
        sql, count, converters = self._compiled.get(alias) or self._compile(alias)
        if len(params) != count:
            raise ValueError(f"expected {count} parameters, got {len(params)}")
        params = list(params)
        if self._paged:
            params += [int(limit), int(offset)]
        connection = connections[alias]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        if convert and converters:
            converted = []
            for row in rows:
                row = list(row)
                for position, (functions, expression) in converters.items():
                    value = row[position]
                    for function in functions:
                        value = function(value, expression, connection)
                    row[position] = value
                converted.append(row)
            rows = converted
        return rows
