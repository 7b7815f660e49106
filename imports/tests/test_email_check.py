"""The import's email check: a quick pattern for common addresses, Django's validator for the rest.

The pattern only ever says "yes" early: what it accepts, ``EmailValidator``
accepts too, so an address gets the same verdict in an import as in the API.
"""

import random

import pytest
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator

from imports.normalize import _SIMPLE_EMAIL, _email_ok

from .test_import_pipeline import agents, csv_bytes, phone, run_import  # noqa: F401

_django = EmailValidator()


def django_accepts(address):
    try:
        _django(address)
    except ValidationError:
        return False
    return True


HOSTILE = [
    "a..b@example.org",
    ".a@example.org",
    "a.@example.org",
    "a@-example.org",
    "a@example-.org",
    "a@example..org",
    "a@.example.org",
    "a@example.org.",
    "a@example.o",
    "a@example." + "x" * 64,
    "a@" + "x" * 64 + ".org",
    "a b@example.org",
    "a@exa mple.org",
    "a@@example.org",
    "@example.org",
    "a@",
    "a@example",
    "a@example.123",
]
GOOD = [
    "asha@example.com",
    "k.sharma+leads@mail.example.co.in",
    "o'brien@example.ie",
    "x_y-z%1@a-b.example.org",
    "a@" + "x" * 63 + ".org",
    "a@example." + "x" * 63,
    "ravi@xn--mnchen-3ya.de",
    "user@bücher.example",  # not the quick pattern's; the full validator says yes
]


@pytest.mark.parametrize("address", HOSTILE + GOOD)
def test_same_verdict_as_django(address):
    assert _email_ok(address) is django_accepts(address)


@pytest.mark.parametrize("address", HOSTILE)
def test_hostile_addresses_are_refused(address):
    assert not _email_ok(address)


def test_the_quick_pattern_never_accepts_what_django_refuses():
    chars = "ab.-_@%+'Z9 x"
    rng = random.Random(20261202)
    accepted = 0

    def text(low, high, alphabet=chars):
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(low, high)))

    for _ in range(30000):
        labels = [text(0, 5) for _ in range(rng.randint(1, 3))]
        address = f"{text(1, 6)}@{'.'.join(labels)}.{text(1, 4, 'abZx9-')}"
        if _SIMPLE_EMAIL.match(address):
            accepted += 1
            assert django_accepts(address), address
    assert accepted > 100  # the sample reaches the pattern's "yes", not only its "no"


def test_an_import_reports_the_addresses_django_refuses(manager, agents):  # noqa: F811
    rows = [("Good", phone(1), "", "asha@example.com")]
    rows += [(f"Bad{n}", phone(10 + n), "", address) for n, address in enumerate(HOSTILE[:6])]
    header = ("First Name", "Mobile", "Comments", "Email")
    batch = run_import(csv_bytes(rows, header), manager).batch
    assert (batch.created, batch.invalid) == (1, 6)
    assert [e["value"] for e in batch.errors] == HOSTILE[:6]
    assert {e["message"] for e in batch.errors} == {"Not a valid email address."}
