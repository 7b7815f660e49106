"""A JSON renderer on orjson, for the hot list endpoints.

Same bytes as DRF's ``JSONRenderer`` for what serializers produce (strings,
numbers, dicts, lists), at a small fraction of the cost; anything orjson does
not know (lazy translations, Decimal) is rendered with ``str``.
"""

import orjson
from rest_framework.renderers import JSONRenderer


def _default(value):
    return str(value)


class ORJSONRenderer(JSONRenderer):
    def render(self, data, accepted_media_type=None, renderer_context=None):
        if data is None:
            return b""
        return orjson.dumps(data, default=_default, option=orjson.OPT_NON_STR_KEYS)
