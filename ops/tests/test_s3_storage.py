"""Uploaded lists and backup archives on S3-compatible storage.

A real S3 endpoint over HTTP on loopback — moto's server mode in a subprocess —
not a mock object: django-storages and boto3 sign and send real requests.
"""

import io
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command

from config.tests.throwaway import free_port
from imports.services import import_file
from leads.models import ImportBatch, Lead
from ops import backups

pytestmark = pytest.mark.django_db(transaction=True)

BUCKET = "leadline-files"
ARCHIVES = "leadline-archives"


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    binary = Path(sys.executable).with_name("moto_server")
    with open(log, "wb") as out:
        proc = subprocess.Popen(  # noqa: S603 - our venv's moto_server, fixed argv
            [str(binary), "-H", "127.0.0.1", "-p", str(port)], stdout=out, stderr=out
        )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail(f"moto_server did not start: {log.read_text()}")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def s3(s3_endpoint, settings, tmp_path):
    """Settings as AWS_S3_BUCKET=leadline-files would make them, on fresh buckets."""
    client = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    for bucket in (BUCKET, ARCHIVES):
        client.create_bucket(Bucket=bucket)
    settings.AWS_S3_ENDPOINT_URL = s3_endpoint
    settings.AWS_S3_REGION_NAME = "us-east-1"
    settings.AWS_ACCESS_KEY_ID = "testing"
    settings.AWS_SECRET_ACCESS_KEY = "testing"
    settings.MEDIA_ROOT = tmp_path / "unused-media"
    storages = dict(settings.STORAGES)
    for name, prefix in (("default", "media"), ("backups", "backups")):
        storages[name] = {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {"bucket_name": BUCKET, "location": prefix},
        }
    settings.STORAGES = storages
    yield client
    for bucket in (BUCKET, ARCHIVES):
        for obj in client.list_objects_v2(Bucket=bucket).get("Contents", []):
            client.delete_object(Bucket=bucket, Key=obj["Key"])
        client.delete_bucket(Bucket=bucket)


def keys(client, bucket, prefix=""):
    found = client.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return sorted(obj["Key"] for obj in found)


def upload(manager, rows=6, name="list.csv"):
    data = "FirstName,Phone\n" + "".join(f"P{n},98{n:08d}\n" for n in range(rows))
    fileobj = io.BytesIO(data.encode())
    fileobj.name = name
    return import_file(file=fileobj, actor=manager).batch


def test_uploaded_lists_are_stored_in_the_bucket(s3, manager, make_agent):
    make_agent()
    batch = upload(manager)
    (key,) = keys(s3, BUCKET, "media/")
    assert key == f"media/{batch.file.name}" and key.startswith("media/imports/")
    body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    assert body.startswith(b"FirstName,Phone\nP0,98")
    assert not Path(django_settings.MEDIA_ROOT).exists()  # nothing went to local disk


def test_backup_to_the_bucket_and_restore_from_it(s3, manager, make_agent):
    make_agent()
    batch = upload(manager)
    out = io.StringIO()
    call_command("backup", stdout=out)
    (archive,) = keys(s3, BUCKET, "backups/")
    name = archive.removeprefix("backups/")
    assert f"written to s3://{BUCKET}/backups" in out.getvalue()

    # Wipe the database and the uploaded list; restore by the archive's S3 URL.
    call_command("flush", interactive=False, verbosity=0)
    s3.delete_object(Bucket=BUCKET, Key=f"media/{batch.file.name}")
    call_command("restore", f"s3://{BUCKET}/{archive}", stdout=io.StringIO())

    assert Lead.objects.count() == 6
    restored = ImportBatch.objects.get()
    assert restored.file.read().startswith(b"FirstName,Phone\nP0,98")
    assert keys(s3, BUCKET, "media/") == [f"media/{batch.file.name}"]

    # By bare name, from the configured backups storage.
    call_command("restore", name, "--force", stdout=io.StringIO())
    assert Lead.objects.count() == 6


def test_backup_output_to_another_bucket_prunes_there(s3, manager, make_agent):
    make_agent()
    upload(manager)
    for _ in range(3):
        call_command(
            "backup", "--output", f"s3://{ARCHIVES}/nightly/", "--keep", "2", stdout=io.StringIO()
        )
    archived = keys(s3, ARCHIVES)
    assert len(archived) == 2
    assert all(backups.ARCHIVE_NAME.match(k.removeprefix("nightly/")) for k in archived)
    assert keys(s3, BUCKET, "backups/") == []

    with s3.get_object(Bucket=ARCHIVES, Key=archived[-1])["Body"] as body:
        data = body.read()
    local = Path(django_settings.MEDIA_ROOT).parent / "copy.tar.gz"
    local.write_bytes(data)
    manifest, _files = backups._unpack(local, local.parent)
    assert any(m.startswith("media/imports/") for m in manifest["members"])


def test_backup_to_a_missing_bucket_fails_without_leaving_anything(s3, manager):
    with pytest.raises(CommandError) as error:
        call_command("backup", "--output", "s3://no-such-bucket/x", stdout=io.StringIO())
    assert "no-such-bucket" in str(error.value) or "NoSuchBucket" in str(error.value)
    assert keys(s3, BUCKET) == [] and keys(s3, ARCHIVES) == []


def test_settings_switch_both_storages_to_s3_when_a_bucket_is_set():
    code = (
        "import django, json; django.setup(); from django.conf import settings as s; "
        "print(json.dumps([s.STORAGES['default'], s.STORAGES['backups'], s.AWS_S3_ENDPOINT_URL]))"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_DEBUG": "true",
        "AWS_S3_BUCKET": "acme-leadline",
        "AWS_S3_ENDPOINT_URL": "https://s3.example.test",
    }
    proc = subprocess.run(  # noqa: S603 - our own interpreter, fixed argv
        [sys.executable, "-c", code],
        cwd=django_settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    default, archives, endpoint = json.loads(proc.stdout)
    assert default == {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {"bucket_name": "acme-leadline", "location": "media"},
    }
    assert archives["OPTIONS"] == {"bucket_name": "acme-leadline", "location": "backups"}
    assert endpoint == "https://s3.example.test"
