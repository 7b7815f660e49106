"""The orjson renderer of the hot list endpoints."""

from decimal import Decimal

from django.utils.translation import gettext_lazy

from common.renderers import ORJSONRenderer


def test_orjson_renderer_handles_lazy_strings_and_decimals():
    assert ORJSONRenderer().render({"m": gettext_lazy("Not found."), "d": Decimal("1.5")}) == (
        b'{"m":"Not found.","d":"1.5"}'
    )
