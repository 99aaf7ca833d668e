# The two commands of README.md: `make run` and `make test`. Both bootstrap .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: install run test lint bench clean

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements.lock
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

install: $(STAMP)

## Set up and serve the app on the embedded default (SQLite, eager tasks, demo data) at http://127.0.0.1:8000
run: install
	env -u DATABASE_URL -u REDIS_URL $(BIN)/python manage.py migrate --noinput
	env -u DATABASE_URL -u REDIS_URL $(BIN)/python manage.py seed_demo
	env -u DATABASE_URL -u REDIS_URL $(BIN)/python manage.py runserver 127.0.0.1:8000

## Set up everything (venv, Chromium, Postgres and Redis if installed) and run the whole suite
test: install
	@bash scripts/test.sh $(ARGS)

## Lint and type gates: ruff (rules and format) on the whole tree, mypy on the apps it covers (pyproject.toml),
## and static/tracking/t.js rebuilt from tracker/src/t.js and compared with the committed file (sizes printed)
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	cd tracker && npm ci --no-audit --no-fund --loglevel=error && npm run --silent check

## Benchmarks (run by hand; they print ratios against a baseline measured in the same run)
bench: install
	@bash scripts/bench.sh

clean:
	rm -rf $(VENV) staticfiles test-artifacts db.sqlite3* tracker/node_modules
