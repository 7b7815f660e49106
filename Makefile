# Leadline: `make run` serves a demo on http://127.0.0.1:8000, `make test` runs the suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)
# Local development: DEBUG on, so no secrets are needed. Production sets its own env.
DEV_ENV := DJANGO_DEBUG=$${DJANGO_DEBUG:-true}

.PHONY: install run test test-fast lint format migrate bench-import bench-api bench-scale clean web web-dev schema bench-web

$(STAMP): requirements.txt requirements-dev.txt
	./scripts/system-deps.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	rm -f $(VENV)/.installed-*
	touch $@

install: $(STAMP)

migrate: install
	$(DEV_ENV) $(BIN)/python manage.py migrate --noinput

run: migrate web
	@if [ -z "$$REDIS_URL$$CELERY_BROKER_URL" ]; then echo "Background tasks (imports, exports, emails) run in-process: no REDIS_URL, so no worker is needed."; else echo "Background tasks go to the Celery workers: run 'celery -A config worker --pool threads -B' too."; fi
	$(DEV_ENV) $(BIN)/python manage.py seed_demo
	$(DEV_ENV) $(BIN)/python manage.py runserver 127.0.0.1:8000

# Two xdist workers, each with its own test database and Redis database
# (config/pytest_workers.py); PYTEST_ARGS adds or overrides (e.g. PYTEST_ARGS="-n 0 -x").
test: install web
	./scripts/test-deps.sh
	PYTHONPATH=$(CURDIR) $(BIN)/pytest -p config.pytest_workers -n 2 $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# gunicorn (production settings) + wrk on loopback; installs wrk when missing.
bench-api: install
	command -v wrk >/dev/null || apt-get install -y wrk || (apt-get update && apt-get install -y wrk)
	DATABASE_URL=$${BENCH_DATABASE_URL:-mysql://root@127.0.0.1:3306/leadline_bench_api} \
	  REDIS_URL=$${BENCH_REDIS_URL:-redis://127.0.0.1:6379/9} \
	  $(BIN)/python bench/api_bench.py $(BENCH_API_ARGS)

# 100k-row import vs LOAD DATA on MariaDB; BENCH_IMPORT_ARGS="--upload --million" for more.
bench-import: install
	DATABASE_URL=$${BENCH_DATABASE_URL:-mysql://root@127.0.0.1:3306/leadline_bench} \
	  $(BIN)/python bench/import_bench.py $(BENCH_IMPORT_ARGS)

# 10k then 1M leads through import_leads, gunicorn in production settings: each endpoint's
# median/p95 at both sizes and the growth; BENCH_SCALE_ARGS="--large 100000" for a quick run.
bench-scale: install
	DATABASE_URL=$${BENCH_DATABASE_URL:-mysql://root@127.0.0.1:3306/leadline_bench_scale} \
	  REDIS_URL=$${BENCH_REDIS_URL:-redis://127.0.0.1:6379/10} \
	  $(BIN)/python bench/scale_bench.py $(BENCH_SCALE_ARGS)

# The web app (frontend/): built into frontend/dist, skipped when nothing changed.
web:
	./scripts/system-deps.sh
	./scripts/build_web.sh

# Vite's dev server on :5173 (hot reload), proxying /api, /admin and /static to
# runserver on :8000 (start `make run` in another terminal).
web-dev:
	./scripts/build_web.sh
	npm --prefix frontend run dev

# The OpenAPI schema, then the TypeScript types the web app is checked against.
# The schema is generated on the embedded database: integer bounds come from the database
# backend (MariaDB's unsigned INT vs SQLite's 64-bit), and the committed file must not depend on it.
schema: install
	env -u DATABASE_URL $(DEV_ENV) $(BIN)/python manage.py spectacular --file frontend/openapi.yaml
	npm --prefix frontend run schema

# The agent's first screen: JS+CSS gzip bytes and ms to the first lead row (Chromium).
bench-web: install web
	$(BIN)/python bench/web_bench.py $(BENCH_WEB_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache staticfiles
