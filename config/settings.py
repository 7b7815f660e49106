"""Leadline settings: the one place that reads the environment.

Every variable is listed in the README's configuration table. With nothing set
(and ``DJANGO_DEBUG=true``) Leadline runs on the embedded default: a SQLite file
and the in-process cache. ``DATABASE_URL`` / ``REDIS_URL`` switch to MariaDB/MySQL
and Redis.
"""

import os
import secrets
import sys
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

_TRUE = {"1", "true", "yes", "on"}


def env(name, default=None):
    value = os.environ.get(name)
    return default if value in (None, "") else value


def env_bool(name, default=False):
    value = env(name)
    return default if value is None else value.strip().lower() in _TRUE


def env_int(name, default):
    value = env(name)
    try:
        return default if value is None else int(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from exc


def env_float(name, default):
    value = env(name)
    try:
        return default if value is None else float(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a number, got {value!r}") from exc


def env_list(name, default=""):
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


DEBUG = env_bool("DJANGO_DEBUG", False)

# Problems with the secrets, found while reading them. Settings still load, so
# offline commands (makemigrations, collectstatic) work without secrets; serving
# does not: config/wsgi.py and asgi.py refuse to start and `check --deploy`
# fails (accounts.E002) while this list is not empty. A missing key is replaced
# by a random one per process, so nothing is ever signed with a known value.
SECRET_PROBLEMS = []


def _weak_django_key(key):
    # The same bar as `check --deploy` (security.W009 / W025).
    return len(key) < 50 or len(set(key)) < 5 or key.startswith("django-insecure")


SECRET_KEY = env("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    if DEBUG:
        SECRET_KEY = "insecure-development-key-do-not-use-in-production"  # noqa: S105
    else:
        SECRET_PROBLEMS.append("DJANGO_SECRET_KEY is required unless DJANGO_DEBUG=true.")
elif not DEBUG and _weak_django_key(SECRET_KEY):
    SECRET_PROBLEMS.append("DJANGO_SECRET_KEY must be 50+ random characters in production.")
if not SECRET_KEY or SECRET_PROBLEMS:
    SECRET_KEY = secrets.token_urlsafe(50)
# Old keys, newest first, that still verify what they signed (sessions, password
# reset links, signed values) while nothing new is signed with them: rotating
# DJANGO_SECRET_KEY then signs nobody out (README "Rotating keys").
SECRET_KEY_FALLBACKS = env_list("DJANGO_SECRET_KEY_FALLBACKS")
if not DEBUG and any(_weak_django_key(key) for key in SECRET_KEY_FALLBACKS):
    SECRET_PROBLEMS.append(
        "Every DJANGO_SECRET_KEY_FALLBACKS key must be 50+ random characters in production."
    )
    SECRET_KEY_FALLBACKS = []

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
# The error envelope under /api/, Django's page elsewhere.
CSRF_FAILURE_VIEW = "common.api.csrf_failure"

INSTALLED_APPS = [
    "config.apps.LeadlineAdminConfig",  # django.contrib.admin, named Leadline
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "corsheaders",
    "django_prometheus",
    "accounts",
    "agents",
    "leads",
    "routing",
    "assignments",
    "imports",
    "reports",
    "ops",
]

MIDDLEWARE = [
    "config.middleware.ContentLengthMiddleware",
    "config.middleware.ProbeMiddleware",
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "config.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "config.middleware.SecretSafeGZipMiddleware",
    "config.middleware.ApiErrorEnvelopeMiddleware",
    "config.middleware.RequestCharsetMiddleware",
    # whitenoise, plus a year of caching for the web app's hashed files (config/webapp.py).
    "config.webapp.StaticFilesMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "config.middleware.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "config.middleware.DatabaseUnavailableMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------
DATABASE_URL = env("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
_db = dj_database_url.parse(
    DATABASE_URL,
    conn_max_age=env_int("CONN_MAX_AGE", 60),
    conn_health_checks=env_bool("CONN_HEALTH_CHECKS", True),
)
# How long a statement waits for a row lock (innodb_lock_wait_timeout) or a
# table's metadata lock (lock_wait_timeout) before MariaDB gives up with 1205.
# A web request that waits InnoDB's default 50 s holds its worker and its
# client that long; with a few seconds it answers 409 "locked" with
# Retry-After (common.db.DatabaseLocked) and the client tries again. Management
# commands (imports, cron jobs, backups, migrations) serve nobody who is
# waiting, and a lost lock costs them a whole run: they keep the longer wait.
# The development server (runserver) serves requests, so it counts as web.
DB_READ_TIMEOUT = env_int("DB_READ_TIMEOUT", 30)
DB_LOCK_WAIT_TIMEOUT = env_int("DB_LOCK_WAIT_TIMEOUT", 3)
DB_COMMAND_LOCK_WAIT_TIMEOUT = env_int("DB_COMMAND_LOCK_WAIT_TIMEOUT", 25)
if min(DB_LOCK_WAIT_TIMEOUT, DB_COMMAND_LOCK_WAIT_TIMEOUT) < 1:
    raise ImproperlyConfigured(
        "DB_LOCK_WAIT_TIMEOUT and DB_COMMAND_LOCK_WAIT_TIMEOUT must be at least 1 (seconds)."
    )
_argv = sys.argv or [""]  # empty under some embedding servers
RUNNING_COMMAND = Path(_argv[0]).name in ("manage.py", "django-admin") and _argv[1:2] != [
    "runserver"
]
# Below the read timeout: past it the client would give up first and report a
# lost connection (a 503) while the server side still waited.
_lock_wait = min(
    DB_COMMAND_LOCK_WAIT_TIMEOUT if RUNNING_COMMAND else DB_LOCK_WAIT_TIMEOUT,
    max(1, DB_READ_TIMEOUT - 1),
)
# The import writes its new leads with LOAD DATA LOCAL INFILE (imports/writers.py), on
# MariaDB/MySQL about a third faster than multi-row INSERTs. That needs the client's
# local_infile flag, which lets the server ask this process for a local file, but only
# in reply to a LOAD DATA LOCAL statement the client sent. Safe here: Leadline sends
# that statement only from imports.writers, naming its own temporary file; no text of a
# request or a file ever becomes SQL (values are escaped or parameters); and the server
# is ours. false: the flag stays off and imports use multi-row INSERTs.
IMPORT_LOAD_DATA = env_bool("IMPORT_LOAD_DATA", True)
# An XLS sheet is read from its BIFF records a row at a time (imports/xlsstream.py);
# false hands every XLS to python-calamine, which reads a workbook whole.
IMPORT_XLS_STREAM = env_bool("IMPORT_XLS_STREAM", True)
if _db["ENGINE"] == "django.db.backends.mysql":
    _db.setdefault("OPTIONS", {}).update(
        {
            "charset": "utf8mb4",
            # Strict mode: MariaDB refuses truncated or invalid values instead of
            # silently mangling them. The lock waits (above) are per connection.
            "init_command": (
                "SET sql_mode='STRICT_TRANS_TABLES,NO_ZERO_DATE,NO_ENGINE_SUBSTITUTION', "
                f"innodb_lock_wait_timeout={_lock_wait}, lock_wait_timeout={_lock_wait}"
            ),
            "isolation_level": "read committed",
            "connect_timeout": env_int("DB_CONNECT_TIMEOUT", 5),
            "read_timeout": DB_READ_TIMEOUT,
            "write_timeout": env_int("DB_WRITE_TIMEOUT", 30),
            "local_infile": IMPORT_LOAD_DATA,
        }
    )
    _db["TEST"] = {"CHARSET": "utf8mb4", "COLLATION": "utf8mb4_unicode_ci"}
elif _db["ENGINE"] == "django.db.backends.sqlite3":
    _db["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE"}
    # A file, not memory, for the test database: threads in the concurrency
    # tests then wait on SQLite's lock instead of failing on shared-cache locks.
    # One file per test process, so parallel runs never share it.
    _db["TEST"] = {"NAME": str(BASE_DIR / f"test_db_{os.getpid()}.sqlite3")}
    _db["CONN_MAX_AGE"] = 0
DATABASES = {"default": _db}
# A read replica (MariaDB/MySQL replication): config.routers sends reads there
# where that is safe. Under tests it mirrors "default" (no second server needed).
DATABASE_REPLICA_URL = env("DATABASE_REPLICA_URL")
if DATABASE_REPLICA_URL:
    _replica = dj_database_url.parse(
        DATABASE_REPLICA_URL,
        conn_max_age=_db["CONN_MAX_AGE"],
        conn_health_checks=_db["CONN_HEALTH_CHECKS"],
    )
    if _replica["ENGINE"] == _db["ENGINE"]:
        _replica["OPTIONS"] = dict(_db.get("OPTIONS", {}))
    _replica["TEST"] = {"MIRROR": "default"}
    DATABASES["replica"] = _replica
    DATABASE_ROUTERS = ["config.routers.PrimaryReplicaRouter"]
    MIDDLEWARE = ["config.routers.PrimaryPinMiddleware", *MIDDLEWARE]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache ------------------------------------------------------------------
# After a Redis call fails (connection error or timeout), the default cache
# skips Redis for this many seconds in this process, then lets one call probe
# it (common/cache.py); 0 turns the breaker off. The limiter has none.
CACHE_BREAKER_SECONDS = env_float("CACHE_BREAKER_SECONDS", 30)


def redis_caches(url, *, key_prefix, connect_timeout, socket_timeout):
    """The two caches on one Redis: "default" and the limiter's "ratelimit".

    A function so the fault tests build exactly this against a throwaway server.
    """
    options = {
        "CLIENT_CLASS": "django_redis.client.DefaultClient",
        "SOCKET_CONNECT_TIMEOUT": connect_timeout,
        "SOCKET_TIMEOUT": socket_timeout,
    }
    return {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": url,
            "KEY_PREFIX": key_prefix,
            # Redis down = a cache miss (logged), so reads keep being served;
            # Redis hung = the same, at once, while the breaker is open.
            "OPTIONS": {
                **options,
                "IGNORE_EXCEPTIONS": True,
                "REDIS_CLIENT_CLASS": "common.cache.BreakerRedis",
                "REDIS_CLIENT_KWARGS": {"breaker": "default"},
            },
        },
        # Same Redis, but errors propagate and there is no breaker: the rate
        # limiter must fail closed, asking Redis every time.
        "ratelimit": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": url,
            "KEY_PREFIX": key_prefix + ":rl",
            "OPTIONS": options,
        },
    }


REDIS_URL = env("REDIS_URL")
if REDIS_URL:
    CACHES = redis_caches(
        REDIS_URL,
        key_prefix=env("CACHE_KEY_PREFIX", "leadline"),
        connect_timeout=env_float("REDIS_CONNECT_TIMEOUT", 0.5),
        socket_timeout=env_float("REDIS_SOCKET_TIMEOUT", 0.5),
    )
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "leadline",
        },
        "ratelimit": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "leadline-ratelimit",
        },
    }

# --- Background work (Celery) ----------------------------------------------
# The broker is the Redis above (CELERY_BROKER_URL overrides it). With no Redis
# (the embedded default of `make run`), tasks run in-process, at once, in the
# caller: no worker process is needed and nothing is queued.
CELERY_BROKER_URL = env("CELERY_BROKER_URL", REDIS_URL)
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", not CELERY_BROKER_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
# Late acknowledgement: a task is acked when it ends, so a worker killed mid-task
# (SIGKILL, OOM, node loss) has its message redelivered; tasks are idempotent.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False  # our JSON lines, with request and batch ids
# A worker serves its task metrics (run time, failures) on this port; 0: off.
CELERY_METRICS_PORT = env_int("CELERY_METRICS_PORT", 0)
CELERY_WORKER_SEND_TASK_EVENTS = False
CELERY_TASK_DEFAULT_QUEUE = "celery"
# Redis redelivers a message that was taken but not acknowledged (its worker
# was killed) after this many seconds. Longer than the longest task and than
# the longest wait of an email retry (EMAIL_RETRY_MAX_DELAY: a retry waits in a
# worker, unacknowledged), or a slow task or a waiting retry runs twice; a
# second run of an import finds nothing to do, a second email is sent twice.
CELERY_VISIBILITY_TIMEOUT = env_int("CELERY_VISIBILITY_TIMEOUT", 7200)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
    # Workers look for expired messages every 10 s (kombu: every 100 s), or
    # sooner with a shorter timeout.
    "unacked_restore_interval": max(1, min(10, CELERY_VISIBILITY_TIMEOUT // 2)),
    "unacked_restore_throttle": 1,
    "global_keyprefix": env("CACHE_KEY_PREFIX", "leadline") + ":celery:",
}

# A swallowed Redis error is still logged (a warning), so an outage is seen.
DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True
DJANGO_REDIS_LOGGER = "config.cache"

# --- Auth -------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = ["accounts.backends.EmailBackend"]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
PASSWORD_BREACH_CHECK = env_bool("PASSWORD_BREACH_CHECK", False)
PASSWORD_BREACH_API_URL = env("PASSWORD_BREACH_API_URL", "https://api.pwnedpasswords.com/range/")
PASSWORD_BREACH_TIMEOUT = env_float("PASSWORD_BREACH_TIMEOUT", 2.0)
if PASSWORD_BREACH_CHECK:
    AUTH_PASSWORD_VALIDATORS.append({"NAME": "accounts.validators.BreachedPasswordValidator"})

# --- I18N -------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = env("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- Static and uploaded files ---------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = Path(env("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
# The web app's build (`make web`: Vite's output), served at / and under /static/app/.
WEB_APP_DIR = Path(env("WEB_APP_DIR", str(BASE_DIR / "frontend" / "dist")))
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    "config.webapp.WebAppFinder",
]
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env("MEDIA_ROOT", str(BASE_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
    "backups": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": Path(env("BACKUP_DIR", str(BASE_DIR / "backups")))},
    },
}
BACKUP_KEEP = env_int("BACKUP_KEEP", 0)  # manage.py backup's default --keep; 0 keeps all
# S3-compatible object storage (AWS, MinIO, ...): with AWS_S3_BUCKET set, uploaded
# lists go under media/ and backup archives under backups/ in that bucket. The
# other AWS_* names are django-storages' own; unset credentials fall back to
# boto3's chain (instance or pod role).
AWS_S3_BUCKET = env("AWS_S3_BUCKET")
AWS_S3_ENDPOINT_URL = env("AWS_S3_ENDPOINT_URL")
AWS_S3_REGION_NAME = env("AWS_S3_REGION_NAME")
AWS_ACCESS_KEY_ID = env("AWS_ACCESS_KEY_ID")
AWS_SECRET_ACCESS_KEY = env("AWS_SECRET_ACCESS_KEY")
AWS_S3_ADDRESSING_STYLE = env("AWS_S3_ADDRESSING_STYLE")
AWS_DEFAULT_ACL = None  # private objects; served through signed URLs
AWS_S3_FILE_OVERWRITE = False
if AWS_S3_BUCKET:
    for _name, _prefix in (("default", "media"), ("backups", "backups")):
        STORAGES[_name] = {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {"bucket_name": AWS_S3_BUCKET, "location": _prefix},
        }

# --- REST framework, JWT, OpenAPI ------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.api.authentication.JWTAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # Strict JSON: whatever it cannot take is a 400 parse_error, never a 500. JSON
    # only, as the schema says; the import upload declares its own multipart parser.
    "DEFAULT_PARSER_CLASSES": ["common.parsers.JSONParser"],
    "DEFAULT_FILTER_BACKENDS": [
        # Strict query parameters (common/filtering.py): a value the schema does not
        # allow is a 400 naming the parameter, never ignored and never a 500.
        "django_filters.rest_framework.DjangoFilterBackend",
        "common.filtering.SearchFilter",
        "common.filtering.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "common.filtering.StrictPageNumberPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "common.api.exception_handler",
    # drf-spectacular's AutoSchema plus the error answers every operation can give.
    "DEFAULT_SCHEMA_CLASS": "accounts.schema.LeadlineAutoSchema",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "DEFAULT_THROTTLE_CLASSES": ["common.ratelimit.AnonThrottle", "common.ratelimit.UserThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env("API_THROTTLE_ANON", "60/min"),
        "user": env("API_THROTTLE_USER", "1200/min"),
    },
}

# JWT_ACCESS_SECONDS, when set, wins over JWT_ACCESS_MINUTES (the end-to-end tests
# use a lifetime of a few seconds to see the web app refresh).
_access_seconds = env_int("JWT_ACCESS_SECONDS", None)
if _access_seconds is None:
    _access_seconds = 60 * env_int("JWT_ACCESS_MINUTES", 15)
if _access_seconds < 1:
    raise ImproperlyConfigured("JWT_ACCESS_SECONDS / JWT_ACCESS_MINUTES must be positive.")
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(seconds=_access_seconds),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env_int("JWT_REFRESH_DAYS", 7)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,
    "ALGORITHM": "HS256",
    "SIGNING_KEY": env("JWT_SIGNING_KEY") or ("" if not DEBUG else SECRET_KEY + ":jwt"),
    "AUTH_HEADER_TYPES": ("Bearer",),
    # simplejwt's AccessToken, verified with the JWT_SIGNING_KEY_FALLBACKS too.
    "AUTH_TOKEN_CLASSES": ("accounts.tokens.AccessToken",),
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
}
# Seconds during which presenting a just-rotated refresh token counts as a
# concurrent duplicate (refused) rather than theft (refused + all tokens revoked).
JWT_REFRESH_REUSE_GRACE_SECONDS = env_int("JWT_REFRESH_REUSE_GRACE_SECONDS", 0)
# The web app's refresh-token cookie (accounts/api/web_client.py) is Secure
# (sent over HTTPS only) unless this is off; off by default under DEBUG only.
JWT_REFRESH_COOKIE_SECURE = env_bool("JWT_REFRESH_COOKIE_SECURE", not DEBUG)
# Old JWT keys, comma-separated: tokens they signed still verify until they
# expire (accounts.tokens.KeyRotatingTokenBackend); new tokens are signed with
# JWT_SIGNING_KEY only. simplejwt itself knows one key.
JWT_SIGNING_KEY_FALLBACKS = env_list("JWT_SIGNING_KEY_FALLBACKS")
_django_keys = {env("DJANGO_SECRET_KEY", SECRET_KEY), *SECRET_KEY_FALLBACKS}
_jwt_problems = []
if not SIMPLE_JWT["SIGNING_KEY"]:
    _jwt_problems.append("JWT_SIGNING_KEY is required unless DJANGO_DEBUG=true.")
elif not DEBUG and len(SIMPLE_JWT["SIGNING_KEY"]) < 32:
    # HS256 keys shorter than the hash can be brute-forced offline from one token.
    _jwt_problems.append("JWT_SIGNING_KEY must be 32+ random characters in production.")
elif SIMPLE_JWT["SIGNING_KEY"] in _django_keys:
    _jwt_problems.append(
        "JWT_SIGNING_KEY must differ from DJANGO_SECRET_KEY (and DJANGO_SECRET_KEY_FALLBACKS)."
    )
if not DEBUG and any(len(key) < 32 for key in JWT_SIGNING_KEY_FALLBACKS):
    _jwt_problems.append(
        "Every JWT_SIGNING_KEY_FALLBACKS key must be 32+ random characters in production."
    )
if _django_keys.intersection(JWT_SIGNING_KEY_FALLBACKS):
    _jwt_problems.append("JWT_SIGNING_KEY_FALLBACKS must not contain a DJANGO_SECRET_KEY.")
if _jwt_problems:
    SECRET_PROBLEMS.extend(_jwt_problems)
    SIMPLE_JWT["SIGNING_KEY"] = secrets.token_urlsafe(50)
    JWT_SIGNING_KEY_FALLBACKS = []

SPECTACULAR_SETTINGS = {
    "TITLE": "Leadline API",
    "DESCRIPTION": "Lead desk: imports, fair distribution and the agents' work lists.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Every field a response always holds is required (accounts.schema), so a
    # client typed from the schema (frontend/) needs no casts.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "accounts.schema.require_paginated_fields",
    ],
    # Choice sets that share a field name get explicit names, so the schema
    # (and `check --deploy`) has no collision warning.
    "ENUM_NAME_OVERRIDES": {
        "StrategyEnum": "assignments.models.Strategy",
        "DistributionStrategyEnum": "assignments.distribution.STRATEGIES",
        "DedupeEnum": "leads.models.ImportBatch.Dedupe",
        "ImportStateEnum": "leads.models.ImportBatch.State",
        "ExportStateEnum": "leads.models.ExportJob.State",
    },
}

# --- Leadline ---------------------------------------------------------------
PHONE_DEFAULT_REGION = env("PHONE_DEFAULT_REGION", "IN").upper()
MAX_UPLOAD_SIZE = env_int("MAX_UPLOAD_SIZE", 10 * 1024 * 1024)
# Django refuses larger request bodies before our view sees them: leave room for
# the multipart envelope around the largest allowed file.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 2_621_440)
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
DISTRIBUTION_STRATEGY = env("DISTRIBUTION_STRATEGY", "round_robin")
LEAD_SLA_HOURS = env_int("LEAD_SLA_HOURS", 48)
# A backstop only: every write that changes the numbers retires them at once.
DASHBOARD_CACHE_SECONDS = env_int("DASHBOARD_CACHE_SECONDS", 300)
# Imports (imports/): rows per pipeline chunk, errors/duplicates kept per batch,
# from how many rows phones are parsed in worker processes and how many.
IMPORT_CHUNK_ROWS = env_int("IMPORT_CHUNK_ROWS", 10_000)
IMPORT_MAX_REPORTED_ROWS = env_int("IMPORT_MAX_REPORTED_ROWS", 10_000)
IMPORT_PARALLEL_MIN_ROWS = env_int("IMPORT_PARALLEL_MIN_ROWS", 10_000)
IMPORT_WORKERS = env_int("IMPORT_WORKERS", 0)  # 0: one per CPU
# Zip-bomb guard for XLSX: members, unpacked bytes, and compression ratio. A streamed
# sheet keeps only its shared strings in memory (packed, about a byte a character);
# a sheet written unusually is read by calamine, which keeps its text: 128 MiB of
# XML is about 250 MB of worker memory (the 10 MiB XLSX of `make bench-import`
# unpacks to 93 MB).
IMPORT_XLSX_MAX_ENTRIES = env_int("IMPORT_XLSX_MAX_ENTRIES", 1000)
IMPORT_XLSX_MAX_UNPACKED = env_int("IMPORT_XLSX_MAX_UNPACKED", 128 * 1024 * 1024)
IMPORT_XLSX_MAX_RATIO = env_int("IMPORT_XLSX_MAX_RATIO", 100)
# manage.py purge_import_files deletes the stored files of failed batches uploaded
# more than this many days ago (the batch rows stay).
IMPORT_FAILED_FILE_RETENTION_DAYS = env_int("IMPORT_FAILED_FILE_RETENTION_DAYS", 30)
# What a file may hold, checked before it is parsed (imports/readers.py,
# imports/spreadsheets.py): columns of a row or sheet; cells a spreadsheet's grid
# may span (python-calamine builds it dense, from A1 to the last cell, for an XLS
# and for an XLSX sheet it reads in place of the streamed reading); characters
# in one CSV field; bytes of JSON kept per lead for the columns that are not lead
# fields (Lead.extra; a row over it is an invalid row).
IMPORT_MAX_COLUMNS = env_int("IMPORT_MAX_COLUMNS", 200)
IMPORT_MAX_CELLS = env_int("IMPORT_MAX_CELLS", 2_000_000)
IMPORT_MAX_FIELD_CHARS = env_int("IMPORT_MAX_FIELD_CHARS", 131_072)
IMPORT_MAX_EXTRA_BYTES = env_int("IMPORT_MAX_EXTRA_BYTES", 16 * 1024)

# --- Email --------------------------------------------------------------------
# Invitations, password resets and assignment digests (accounts/mail.py), sent
# by Celery tasks after the writing transaction commits. EMAIL_URL says it in
# one value (dj-email-url: smtp://user:pass@host:587/?tls=1, submission://...,
# smtps://... for TLS from the first byte, console://, locmem://, dummy://);
# otherwise the usual EMAIL_HOST/EMAIL_PORT/... variables. With neither, the
# development server prints emails on the console; production speaks SMTP to
# EMAIL_HOST (localhost:25 unless set).
_EMAIL_SCHEME_ALIASES = {"locmem": "memory", "smtp+ssl": "smtps"}


def email_url_settings(url):
    """The EMAIL_* settings an EMAIL_URL stands for (a function for the tests)."""
    import dj_email_url

    scheme, sep, rest = url.partition("://")
    scheme = _EMAIL_SCHEME_ALIASES.get(scheme.lower(), scheme.lower())
    if not sep or scheme not in dj_email_url.SCHEMES:
        raise ImproperlyConfigured(
            f"EMAIL_URL must start with one of {', '.join(sorted(dj_email_url.SCHEMES))}"
            f" or locmem, got {url.partition('://')[0]!r}."
        )
    # smtps:// is implicit TLS (RFC 8314, port 465); dj-email-url reads it as
    # STARTTLS and plans to drop it, so it is parsed as smtp:// with ?ssl=1.
    implicit_tls = scheme == "smtps"
    try:
        parsed = dj_email_url.parse(f"{'smtp' if implicit_tls else scheme}://{rest}")
    except ValueError as exc:  # a port that is not a number, a bad timeout
        raise ImproperlyConfigured(f"EMAIL_URL cannot be read: {exc}") from None
    if implicit_tls:
        parsed.update(EMAIL_USE_SSL=True, EMAIL_USE_TLS=False)
        if urlsplit(url).port is None:
            parsed["EMAIL_PORT"] = 465
    return {key: value for key, value in parsed.items() if value not in (None, "")}


EMAIL_URL = env("EMAIL_URL")
EMAIL_BACKEND = (
    "django.core.mail.backends.smtp.EmailBackend"
    if env("EMAIL_HOST") or not DEBUG
    else "django.core.mail.backends.console.EmailBackend"
)
EMAIL_BACKEND = env("EMAIL_BACKEND", EMAIL_BACKEND)
EMAIL_HOST = env("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
# Seconds an SMTP connection may block a worker (Django's default: forever).
EMAIL_TIMEOUT = env_float("EMAIL_TIMEOUT", 10)
if EMAIL_URL:
    globals().update(email_url_settings(EMAIL_URL))
    EMAIL_TIMEOUT = float(EMAIL_TIMEOUT)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("EMAIL_USE_TLS and EMAIL_USE_SSL cannot both be on.")
DEFAULT_FROM_EMAIL = env(
    "DEFAULT_FROM_EMAIL", globals().get("DEFAULT_FROM_EMAIL", "Leadline <noreply@localhost>")
)
SERVER_EMAIL = env("SERVER_EMAIL", globals().get("SERVER_EMAIL", DEFAULT_FROM_EMAIL))
EMAIL_SUBJECT_PREFIX = "[Leadline] "
# Where the SPA lives: links in emails point at SITE_URL + /set-password?... and
# /leads. Unset in production: https:// and the first DJANGO_ALLOWED_HOSTS name
# that is not a wildcard.
_public_hosts = [host.lstrip(".") for host in ALLOWED_HOSTS if "*" not in host and host != "."]
SITE_URL = env("SITE_URL") or (
    "http://localhost:8000" if DEBUG or not _public_hosts else f"https://{_public_hosts[0]}"
)
SITE_URL = SITE_URL.rstrip("/")
_site = urlsplit(SITE_URL)
if _site.scheme not in ("http", "https") or not _site.hostname or _site.query or _site.fragment:
    raise ImproperlyConfigured(f"SITE_URL must be an absolute http(s) URL, got {SITE_URL!r}.")
# How long a password-reset link works (seconds; Django's setting), and an
# invitation link (a new agent may read it days later). Both links are single
# use: setting the password changes what their signature covers.
PASSWORD_RESET_TIMEOUT = env_int("PASSWORD_RESET_TIMEOUT", 3600)
INVITATION_TIMEOUT = env_int("INVITATION_TIMEOUT", 7 * 24 * 3600)
# SMTP failures (server down, 4xx) are retried with exponential backoff: at most
# this many times, waiting about 30 s, 1, 2, 4 ... minutes (jittered, capped at
# EMAIL_RETRY_MAX_DELAY seconds) between attempts.
EMAIL_MAX_RETRIES = env_int("EMAIL_MAX_RETRIES", 8)
EMAIL_RETRY_MAX_DELAY = env_int("EMAIL_RETRY_MAX_DELAY", 3600)
# With tasks in-process (no worker to retry), an email SMTP did not take is kept
# in the database and retried with the same backoff (accounts.mail.send_pending).
EMAIL_OUTBOX = CELERY_TASK_ALWAYS_EAGER

# --- Imports and exports through the queue (imports/queueing.py, leads/tasks.py)
# Uploads up to this size are processed inside the request (201) unless the
# client sends `Prefer: respond-async`; bigger ones are queued (202). The same
# size of the stored file decides for a commit and an undo.
IMPORT_INLINE_MAX_BYTES = env_int("IMPORT_INLINE_MAX_BYTES", 256 * 1024)
# Live progress is written at most this often (seconds) while a batch runs.
IMPORT_PROGRESS_INTERVAL = env_float("IMPORT_PROGRESS_INTERVAL", 1.0)
# Claims of one queued batch before it is given up (a worker killed each time).
IMPORT_MAX_ATTEMPTS = env_int("IMPORT_MAX_ATTEMPTS", 3)
# The sweep (a beat task every IMPORT_SWEEP_SECONDS, at a worker's start, and
# `manage.py sweep_imports`) requeues batches whose worker died, and sends again
# the message of a batch queued longer than IMPORT_REQUEUE_AFTER_SECONDS. 0
# turns the beat's and the workers' sweeps off: a dead worker's batch then waits
# for the broker's redelivery (CELERY_VISIBILITY_TIMEOUT).
IMPORT_SWEEP_SECONDS = env_float("IMPORT_SWEEP_SECONDS", 60.0)
IMPORT_REQUEUE_AFTER_SECONDS = env_int("IMPORT_REQUEUE_AFTER_SECONDS", 900)
# Lead exports of more rows than this are written to storage by a worker (202).
EXPORT_INLINE_MAX_ROWS = env_int("EXPORT_INLINE_MAX_ROWS", 50_000)
# `celery -A config beat` (or a worker with -B) runs the import sweep.
CELERY_BEAT_SCHEDULE = {
    "imports-sweep": {"task": "imports.sweep", "schedule": IMPORT_SWEEP_SECONDS},
}
if not IMPORT_SWEEP_SECONDS:
    CELERY_BEAT_SCHEDULE = {}

# --- CORS -------------------------------------------------------------------
CORS_ALLOWED_ORIGINS = env_list("CORS_ALLOWED_ORIGINS")
CORS_URLS_REGEX = r"^/api/.*$"

# --- Logging ----------------------------------------------------------------
LOG_LEVEL = env("LOG_LEVEL", "INFO")
LOG_FORMAT = env("LOG_FORMAT", "json")  # "json" (one object per line) or "plain"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "common.logging.RequestIdFilter"},
        "cache_error": {"()": "common.logging.CacheErrorFilter"},
        "circuit_open": {"()": "common.logging.SkipCircuitOpen"},
    },
    "formatters": {
        "json": {"()": "common.logging.JsonFormatter"},
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stdout",
            "formatter": "plain" if LOG_FORMAT == "plain" else "json",
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"config.cache": {"filters": ["circuit_open", "cache_error"]}},
}

# --- Rate limits (django-ratelimit on the shared "ratelimit" cache) ---------
RATELIMIT_USE_CACHE = "ratelimit"
RATELIMIT_IP_META_KEY = "common.clientip.client_ip"
RATELIMIT_LOGIN_IP = env("RATELIMIT_LOGIN_IP", "20/m")
RATELIMIT_LOGIN_EMAIL = env("RATELIMIT_LOGIN_EMAIL", "10/m")
RATELIMIT_REFRESH = env("RATELIMIT_REFRESH", "30/m")
RATELIMIT_UPLOAD = env("RATELIMIT_UPLOAD", "20/m")
# Password reset requests: per client IP and per address asked for; confirms per IP.
RATELIMIT_PASSWORD_RESET_IP = env("RATELIMIT_PASSWORD_RESET_IP", "10/m")
RATELIMIT_PASSWORD_RESET_EMAIL = env("RATELIMIT_PASSWORD_RESET_EMAIL", "5/h")
RATELIMIT_PASSWORD_RESET_CONFIRM = env("RATELIMIT_PASSWORD_RESET_CONFIRM", "20/m")
RATELIMIT_UNAVAILABLE_RETRY_AFTER = env_int("RATELIMIT_UNAVAILABLE_RETRY_AFTER", 5)
# Proxies (CIDRs) whose X-Forwarded-For is believed; nobody else's is.
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES")
DB_UNAVAILABLE_RETRY_AFTER = env_int("DB_UNAVAILABLE_RETRY_AFTER", 5)


# --- Metrics ----------------------------------------------------------------
METRICS_TOKEN = env("METRICS_TOKEN", "")
METRICS_ALLOWED_NETWORKS = env_list("METRICS_ALLOWED_NETWORKS")

# --- Content-Security-Policy (django-csp 4) ---------------------------------
# The admin and the API docs use only same-origin scripts; inline styles stay
# allowed because Redoc and a few admin widgets set style attributes.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "worker-src": ["'self'", "blob:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# --- Sentry -----------------------------------------------------------------
SENTRY_DSN = env("SENTRY_DSN")
if SENTRY_DSN:
    from config.sentry import init as _sentry_init

    _sentry_init(
        dsn=SENTRY_DSN,
        environment=env("SENTRY_ENVIRONMENT", "production" if not DEBUG else "development"),
        release=env("SENTRY_RELEASE"),
        traces_sample_rate=env_float("SENTRY_TRACES_SAMPLE_RATE", 0.0),
    )

# --- Production security ----------------------------------------------------
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^health$", r"^metrics$"]
SESSION_COOKIE_HTTPONLY = True
# The admin reads the token from its form, never from JavaScript.
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if env("SECURE_PROXY_SSL_HEADER"):
    # e.g. "HTTP_X_FORWARDED_PROTO,https" — only behind a proxy that sets it.
    SECURE_PROXY_SSL_HEADER = tuple(env_list("SECURE_PROXY_SSL_HEADER"))
