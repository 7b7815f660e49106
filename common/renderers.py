"""A JSON renderer on orjson, for the hot list endpoints.

Same bytes as DRF's ``JSONRenderer`` for what serializers produce (strings,
numbers, dicts, lists), at a small fraction of the cost; anything orjson does
not know (lazy translations, Decimal) is rendered with ``str``. An integer past
64 bits, which orjson refuses, sends the whole body through DRF's encoder.
"""

import orjson
from rest_framework.renderers import JSONRenderer


def _default(value):
    return str(value)


class ORJSONRenderer(JSONRenderer):
    def render(self, data, accepted_media_type=None, renderer_context=None):
        if data is None:
            return b""
        try:
            return orjson.dumps(data, default=_default, option=orjson.OPT_NON_STR_KEYS)
        except orjson.JSONEncodeError:
            # e.g. a lead's ``extra`` holding 2**70 (stored before the API refused
            # such numbers, or by the admin): slower, but never a 500 on every list.
            return super().render(data, accepted_media_type, renderer_context)
