"""Backups and restores of the whole desk: the database and the uploaded files.

One ``.tar.gz`` per run, named ``leadline-backup-<UTC time>.tar.gz``::

    manifest.json      time, engine, applied migrations, rows per table,
                       the leads checksum and the sha256 of every other member
    database.sql       MariaDB/MySQL: ``mariadb-dump --single-transaction`` output
    database.sqlite3   SQLite: a page copy made with the online backup API
    media/<name>       every file of the "default" storage (uploaded lead lists)

A backup spans every app's tables, so it lives in ``ops/``, above every domain
app; ``manage.py backup`` and ``restore``
are argument parsing around :func:`create_backup` and :func:`restore_backup`.
The engine-specific dump, load and counting live in :mod:`ops.dumps`.

Neither function is ``@transaction.atomic``: the MariaDB dump and load run in
the client tools' own sessions, and a restore replaces the database wholesale.
One module, long, because a backup and its restore share the archive format
(members, manifest, checksums) and must change together.
"""

import hashlib
import io
import json
import os
import posixpath
import re
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path

import django
from django.contrib.contenttypes.models import ContentType
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.core.files import File
from django.core.files.storage import FileSystemStorage, storages
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from accounts import audit
from accounts.models import User
from agents.models import Agent
from common.errors import Conflict, DomainError
from leads import counters
from leads.models import Lead

from . import dumps

FORMAT = 1
PREFIX = "leadline-backup-"
SUFFIX = ".tar.gz"
ARCHIVE_NAME = re.compile(r"^leadline-backup-\d{8}T\d{12}Z\.tar\.gz$")
MANIFEST = "manifest.json"
CHUNK = 1024 * 1024


class BackupFailed(DomainError):
    code = "backup_failed"


class ArchiveInvalid(DomainError):
    """The archive is damaged, tampered with, or not restorable by this code."""

    code = "archive_invalid"


class DatabaseNotEmpty(Conflict):
    code = "database_not_empty"


class RestoreFailed(DomainError):
    code = "restore_failed"


@dataclass
class BackupResult:
    name: str
    location: str
    size: int
    seconds: float
    manifest: dict
    pruned: list = field(default_factory=list)


@dataclass
class RestoreResult:
    source: str
    seconds: float
    manifest: dict
    tables: dict
    media_files: int


def _quiet(_message):
    pass


# --- Where archives live ---------------------------------------------------------


class LocalTarget:
    """A directory: the archive is written beside its final name and renamed."""

    def __init__(self, path):
        self.path = Path(path)
        self.label = str(self.path)

    def prepare(self):
        self.path.mkdir(parents=True, exist_ok=True)
        return self.path

    def names(self):
        if not self.path.is_dir():
            return []
        return sorted(p.name for p in self.path.iterdir() if ARCHIVE_NAME.match(p.name))

    def publish(self, tmp, name):
        # Same directory, same filesystem: the rename is atomic, so a reader sees
        # either no archive or the whole archive.
        os.replace(tmp, self.path / name)

    def delete(self, name):
        (self.path / name).unlink(missing_ok=True)


class StorageTarget:
    """A Django storage (S3): an object appears only once its upload completes."""

    def __init__(self, storage, label):
        self.storage = storage
        self.label = label

    def prepare(self):
        return None  # work files go to the system temp directory

    def names(self):
        try:
            _dirs, files = self.storage.listdir("")
        except FileNotFoundError:
            return []
        return sorted(name for name in files if ARCHIVE_NAME.match(name))

    def publish(self, tmp, name):
        try:
            with open(tmp, "rb") as fh:
                saved = self.storage.save(name, File(fh, name=name))
        except _storage_errors() as exc:
            raise BackupFailed(f"Could not store the archive in {self.label}: {exc}") from exc
        os.unlink(tmp)
        if saved != name:
            raise BackupFailed(f"{self.label}/{name} already exists; nothing was overwritten.")

    def delete(self, name):
        self.storage.delete(name)


def _storage_errors():
    try:
        # botocore comes with boto3, loaded only where S3 is used.
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:  # no S3 support installed: only local errors can happen
        return (OSError,)
    return (OSError, BotoCoreError, ClientError)


def _s3_storage(bucket, prefix):
    from storages.backends.s3 import S3Storage  # boto3 is loaded only when S3 is used

    # Endpoint, region and credentials come from the AWS_* settings.
    return S3Storage(bucket_name=bucket, location=prefix.strip("/"))


def _split_s3(url):
    bucket, _, key = url[len("s3://") :].partition("/")
    if not bucket:
        raise DomainError(f"{url!r} names no bucket; use s3://bucket/prefix.", code="bad_location")
    return bucket, key.strip("/")


def resolve_target(output=None):
    """``None`` → the "backups" storage; ``s3://bucket/prefix``; or a directory."""
    if output and output.startswith("s3://"):
        bucket, prefix = _split_s3(output)
        return StorageTarget(_s3_storage(bucket, prefix), output.rstrip("/"))
    if output:
        return LocalTarget(output)
    storage = storages["backups"]
    if isinstance(storage, FileSystemStorage):
        return LocalTarget(storage.location)
    label = f"s3://{storage.bucket_name}/{storage.location}".rstrip("/")
    return StorageTarget(storage, label)


def prune(target, keep):
    """Delete all but the newest ``keep`` archives (names sort by time)."""
    names = target.names()
    doomed = names[:-keep] if keep else names
    for name in doomed:
        target.delete(name)
    return doomed


# --- Backup -----------------------------------------------------------------------


def _sha256_file(path):
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _walk(storage, prefix=""):
    try:
        dirs, files = storage.listdir(prefix)
    except FileNotFoundError:  # MEDIA_ROOT not created yet: nothing uploaded
        return
    for name in files:
        yield posixpath.join(prefix, name) if prefix else name
    for sub in dirs:
        yield from _walk(storage, posixpath.join(prefix, sub) if prefix else sub)


def _copy_media(work):
    """Copy every uploaded file into ``work/media``; returns ``{member: path}``."""
    storage = storages["default"]
    copied = {}
    for name in _walk(storage):
        dest = work / "media" / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        with storage.open(name, "rb") as src, open(dest, "wb") as out:
            while chunk := src.read(CHUNK):
                out.write(chunk)
        copied[f"media/{name}"] = dest
    return copied


def applied_migrations():
    recorder = MigrationRecorder(connection)
    applied = {}
    for app, name in sorted(recorder.applied_migrations()):
        applied.setdefault(app, []).append(name)
    return applied


def _write_archive(path, manifest, members):
    with tarfile.open(path, "w:gz", compresslevel=6) as tar:
        data = json.dumps(manifest, indent=2, sort_keys=True).encode()
        info = tarfile.TarInfo(MANIFEST)
        info.size, info.mtime, info.mode = len(data), int(time.time()), 0o600
        tar.addfile(info, io.BytesIO(data))
        for member, path in members.items():
            tar.add(path, arcname=member, recursive=False)


def create_backup(*, output=None, keep=None, actor=None, progress=_quiet, now=None):
    """Write one archive of the database and the uploaded files; return a ``BackupResult``.

    The archive is assembled in a temporary file and only then renamed into place
    (or uploaded), so a failure at any step leaves no archive behind. With ``keep``
    the target is pruned to the newest ``keep`` archives afterwards.
    """
    started = time.monotonic()
    engine = _engine(BackupFailed)
    target = resolve_target(output)
    now = now or timezone.now()
    name = f"{PREFIX}{now.astimezone(UTC):%Y%m%dT%H%M%S%f}Z{SUFFIX}"
    try:
        manifest, size = _build(engine, target, name, now, progress)
    except dumps.ToolFailed as exc:
        raise BackupFailed(f"Backup failed, no archive written: {exc}") from exc
    except _storage_errors() as exc:  # disk full, bucket missing, permission denied...
        raise BackupFailed(f"Backup failed, no archive written: {exc}") from exc

    try:
        pruned = prune(target, keep) if keep else []
    except _storage_errors() as exc:
        raise BackupFailed(f"Backup {name} was written, but pruning failed: {exc}") from exc
    for old in pruned:
        progress(f"Pruned {old}")
    audit.record(
        audit.Action.BACKUP,
        actor=actor,
        target=name,
        location=target.label,
        size=size,
        tables=len(manifest["tables"]),
    )
    return BackupResult(
        name=name,
        location=target.label,
        size=size,
        seconds=time.monotonic() - started,
        manifest=manifest,
        pruned=pruned,
    )


def _build(engine, target, name, now, progress):
    scratch = target.prepare()
    with tempfile.TemporaryDirectory(prefix=".leadline-backup-", dir=scratch) as work:
        work = Path(work)
        progress(f"Dumping the {engine.label} database…")
        snapshot = engine.dump(connection, work)
        progress(f"  {sum(snapshot.tables.values())} rows in {len(snapshot.tables)} tables")
        progress("Copying uploaded files…")
        members = {snapshot.member: snapshot.path, **_copy_media(work)}
        progress(f"  {len(members) - 1} files")
        manifest = {
            "format": FORMAT,
            "created_at": now.isoformat(),
            "engine": engine.vendor,
            "django": django.get_version(),
            "migrations": applied_migrations(),
            "tables": snapshot.tables,
            "leads_checksum": snapshot.leads_checksum,
            "members": {m: {"sha256": _sha256_file(p)} for m, p in members.items()},
        }
        progress(f"Writing {name} to {target.label}…")
        fd, tmp = tempfile.mkstemp(prefix=".partial-", suffix=SUFFIX, dir=scratch)
        os.close(fd)
        try:
            _write_archive(tmp, manifest, members)
            size = os.path.getsize(tmp)
            progress(f"  {size / 1e6:.1f} MB")
            target.publish(tmp, name)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return manifest, size


# --- Restore ----------------------------------------------------------------------


def _fetch(source, work):
    """A local path to the archive named by ``source`` (downloaded if remote)."""
    if source.startswith("s3://"):
        bucket, key = _split_s3(source)
        storage = _s3_storage(bucket, posixpath.dirname(key))
        return _download(storage, posixpath.basename(key), work, source)
    path = Path(source)
    if path.is_file():
        return path
    storage = storages["backups"]
    if ARCHIVE_NAME.match(source):  # a bare name: look in the configured backups storage
        if not isinstance(storage, FileSystemStorage):
            return _download(storage, source, work, source)
        if (Path(storage.location) / source).is_file():
            return Path(storage.location) / source
    raise ArchiveInvalid(f"No backup archive at {source}.", code="archive_not_found")


def _download(storage, name, work, label):
    local = work / "archive.tar.gz"
    try:
        if not storage.exists(name):
            raise ArchiveInvalid(f"No backup archive at {label}.", code="archive_not_found")
        with storage.open(name, "rb") as src, open(local, "wb") as out:
            while chunk := src.read(CHUNK):
                out.write(chunk)
    except _storage_errors() as exc:
        raise ArchiveInvalid(f"Could not read {label}: {exc}", code="archive_not_found") from exc
    return local


def _safe_member(name):
    clean = posixpath.normpath(name)
    return (
        clean == name
        and not clean.startswith(("/", "../"))
        and (clean in (MANIFEST, "database.sql", "database.sqlite3") or clean.startswith("media/"))
    )


def _unpack(archive, work):
    """Extract and verify; returns ``(manifest, {member: path})``.

    Nothing is trusted before it is checked: member names (no paths outside the
    work directory), the manifest's shape, the exact set of members, and the
    sha256 of each one.
    """
    files = {}
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for info in tar:
                if not info.isfile() or not _safe_member(info.name) or info.name in files:
                    raise ArchiveInvalid(f"Unexpected archive member {info.name!r}.")
                dest = work / "unpacked" / info.name
                dest.parent.mkdir(parents=True, exist_ok=True)
                with tar.extractfile(info) as src, open(dest, "wb") as out:
                    while chunk := src.read(CHUNK):
                        out.write(chunk)
                files[info.name] = dest
    except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
        raise ArchiveInvalid(f"The archive is damaged: {exc}.") from exc

    try:
        manifest = json.loads(files.pop(MANIFEST).read_text())
        members = manifest["members"]
        assert manifest["format"] == FORMAT
        assert isinstance(manifest["tables"], dict) and isinstance(members, dict)
    except (KeyError, ValueError, AssertionError, TypeError) as exc:
        raise ArchiveInvalid("The archive has no valid manifest.") from exc
    if set(files) != set(members):
        raise ArchiveInvalid("The archive's members do not match its manifest.")
    for member, path in files.items():
        if _sha256_file(path) != members[member].get("sha256"):
            raise ArchiveInvalid(
                f"Checksum mismatch for {member}: the archive was modified or damaged.",
                code="checksum_mismatch",
            )
    return manifest, files


def _check_migrations(manifest):
    """Refuse a backup taken by a newer Leadline (migrations this code lacks)."""
    known = set(MigrationLoader(None, ignore_no_migrations=True).disk_migrations)
    unknown = sorted(
        f"{app}.{name}"
        for app, names in manifest.get("migrations", {}).items()
        for name in names
        if (app, name) not in known
    )
    if unknown:
        raise ArchiveInvalid(
            "The backup was made by a newer version (unknown migrations: "
            + ", ".join(unknown[:5])
            + "). Deploy that version, then restore.",
            code="newer_backup",
        )


def holds_data():
    """Whether the live database holds anyone's data: users, agents or leads."""
    tables = set(connection.introspection.table_names())
    return any(
        model._meta.db_table in tables and model.objects.exists() for model in (User, Agent, Lead)
    )


def _restore_media(files):
    storage = storages["default"]
    restored = 0
    for member, path in sorted(files.items()):
        if not member.startswith("media/"):
            continue
        name = member[len("media/") :]
        if storage.exists(name):
            storage.delete(name)
        with open(path, "rb") as fh:
            storage.save(name, File(fh, name=posixpath.basename(name)))
        restored += 1
    return restored


def end_all_sessions(now):
    """Every access and refresh token issued before ``now`` stops working.

    One update per table rather than ``revoke_user_tokens`` per user: the bump of
    ``tokens_valid_after`` ends every token (even those issued after the backup was
    taken, which the restored blacklist does not know); blacklisting the restored
    outstanding refresh tokens keeps that table truthful too.
    """
    User.objects.update(tokens_valid_after=now)
    live = OutstandingToken.objects.filter(blacklistedtoken__isnull=True).values_list(
        "pk", flat=True
    )
    BlacklistedToken.objects.bulk_create(
        [BlacklistedToken(token_id=pk) for pk in live.values_list("pk", flat=True).iterator()],
        batch_size=1000,
        ignore_conflicts=True,
    )
    Session.objects.all().delete()  # admin logins too


def restore_backup(*, source, force=False, actor=None, progress=_quiet, now=None):
    """Restore the database and uploaded files from an archive; return a ``RestoreResult``.

    Order matters: the archive is verified completely (members, sha256, manifest,
    the dump's own row counts and leads checksum) before the live database is
    touched; a database holding users, agents or leads is refused unless ``force``.
    Afterwards the live row counts and leads checksum must equal the manifest's,
    every token issued before the restore is ended and the cache is cleared
    (cached numbers describe the data that was replaced).
    """
    started = time.monotonic()
    engine = _engine(RestoreFailed)
    if connection.in_atomic_block:
        raise RestoreFailed("A restore cannot run inside a transaction.")
    with tempfile.TemporaryDirectory(prefix=".leadline-restore-") as work:
        work = Path(work)
        progress(f"Reading {source}…")
        manifest, files = _unpack(_fetch(source, work), work)
        progress(f"  archive of {manifest.get('created_at')}, checksums verified")
        if manifest.get("engine") != engine.vendor:
            raise ArchiveInvalid(
                f"The backup is of a {manifest.get('engine')} database; "
                f"this one is {engine.vendor}.",
                code="engine_mismatch",
            )
        _check_migrations(manifest)
        member = engine.member
        if member not in files:
            raise ArchiveInvalid(f"The archive has no {member}.")
        try:
            snapshot = engine.inspect(files[member])
        except dumps.ToolFailed as exc:
            raise ArchiveInvalid(str(exc)) from exc
        if (snapshot.tables, snapshot.leads_checksum) != (
            manifest["tables"],
            manifest.get("leads_checksum"),
        ):
            raise ArchiveInvalid(
                "The database dump does not match the manifest's row counts or checksum.",
                code="checksum_mismatch",
            )
        if not force and holds_data():
            raise DatabaseNotEmpty(
                "The database already holds users, agents or leads; "
                "restore with --force to replace them."
            )
        progress(f"Restoring the {engine.label} database…")
        try:
            engine.load(connection, files[member], work)
        except dumps.ToolFailed as exc:
            raise RestoreFailed(
                f"{exc}. The database may be incomplete: restore again with --force."
            ) from exc
        ContentType.objects.clear_cache()
        progress("Restoring uploaded files…")
        media_files = _restore_media(files)

    tables = engine.count_live(connection)
    checksum = dumps.leads_checksum_live(connection)
    if tables != manifest["tables"] or checksum != manifest.get("leads_checksum"):
        diff = {
            t: (manifest["tables"].get(t), tables.get(t))
            for t in sorted(set(tables) | set(manifest["tables"]))
            if tables.get(t) != manifest["tables"].get(t)
        }
        raise RestoreFailed(
            f"Restored data differs from the manifest: {diff or 'leads checksum'}. "
            "Do not serve traffic; restore again with --force."
        )
    counters.rebuild()  # the dump's counters match its leads; this makes sure
    end_all_sessions(now or timezone.now())
    # Only Leadline's keys (django-redis honours KEY_PREFIX here; clear() would
    # flush the whole Redis database, whoever else uses it).
    if hasattr(cache, "delete_pattern"):
        cache.delete_pattern("*")
    else:
        cache.clear()
    audit.record(
        audit.Action.RESTORE,
        actor=actor,
        target=Path(source).name,
        source=source,
        backup_of=manifest["created_at"],
    )
    return RestoreResult(
        source=source,
        seconds=time.monotonic() - started,
        manifest=manifest,
        tables=tables,
        media_files=media_files,
    )


def _engine(error):
    try:
        return dumps.for_connection(connection)
    except dumps.ToolFailed as exc:
        raise error(str(exc)) from exc
