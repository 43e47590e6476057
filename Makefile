# OpenDSP: `make run` serves the platform (and its other processes) on its embedded defaults; `make test` runs the suite.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PORT   ?= 8000
# Hospitals' HL7 v2 ADT feed (MLLP), its own process beside the web server in `make run`.
MLLP_PORT ?= 2575
# The health ports (/healthz/live, /healthz/ready) of the processes that serve no web pages.
WORKER_HEALTH_PORT ?= 8101
MLLP_HEALTH_PORT ?= 8102
CHECKPOINTER_HEALTH_PORT ?= 8103
# The stand-in for the State's portal (MyGuichet.lu) that `make run` serves beside the server (docs/identity.md):
# scripts/myguichet_standin.mjs, the npm oidc-provider of the federation tests. Development only: production mode
# refuses an http or loopback issuer. The stand-in reads the same OPENDSP_OIDC_* variables as the platform.
OIDC_PORT ?= 8010
STANDIN_ENV := OPENDSP_OIDC_ISSUER=http://127.0.0.1:$(OIDC_PORT) OPENDSP_OIDC_CLIENT_ID=opendsp-demo \
	OPENDSP_OIDC_CLIENT_SECRET=demo-standin-secret-published-never-for-production \
	OPENDSP_OIDC_ACR_VALUES=urn:opendsp:standin:loa:substantial
export PORT

.PHONY: run test migrate demo lock bench bench-fhir bench-import clean catalogue-gaps css ips-package image

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Installs are keyed on the lock files: change a lock, and the next run reinstalls.
$(VENV)/.installed-run: requirements.lock pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

$(VENV)/.installed-test: requirements-dev.lock pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements-dev.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@ $(VENV)/.installed-run

# Front-end packages (GOV.UK Frontend, Sass and the Source Sans 3 font to build the portals' stylesheet;
# axe-core, oidc-provider and fhir-kit-client for the tests) from the committed lock file.
# --ignore-scripts: no package may run an install script (none may download a browser or a binary).
# The built stylesheet and fonts are committed (src/opendsp/web/static): the portals are styled without npm;
# without npm the browser and OpenID Connect tests are skipped, saying why.
node_modules/.installed: package.json package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --ignore-scripts --no-audit --no-fund --loglevel=error && touch $@; \
	else echo "npm not found: browser and OpenID Connect tests will be skipped"; fi

# The portals' stylesheet: GOV.UK Frontend themed as our own (docs/adr/0024-design-system.md). Run after changing
# src/opendsp/web/scss/portal.scss or the locked GOV.UK Frontend, and commit the result.
css: node_modules/.installed
	npm run --silent css

# The container image (deploy/Containerfile) with podman, from base images made from Debian's mirror by debootstrap
# (as root): for machines that cannot pull docker.io's images. With docker.io: `podman build -f deploy/Containerfile .`
IMAGE ?= localhost/opendsp:latest
image:
	sh scripts/build-image.sh $(IMAGE)

# The processes of docs/operations.md ("Processes"), started beside the server and stopped with it (SIGTERM, each
# finishing what it holds): the notification worker writes the e-mails to var/mail/ as .eml files without
# OPENDSP_SMTP_HOST (docs/notifications.md); the MLLP listener takes hospitals' ADT feed in plain TCP (development);
# the checkpointer signs the trace every minute, and once more when stopped.
run: $(VENV)/.installed-run node_modules/.installed
	$(BIN)/opendsp migrate
	$(BIN)/opendsp demo load
	$(BIN)/opendsp worker --health-port $(WORKER_HEALTH_PORT) & worker=$$!; \
	$(BIN)/opendsp mllp --port $(MLLP_PORT) --health-port $(MLLP_HEALTH_PORT) & mllp=$$!; \
	$(BIN)/opendsp trace checkpointer --every 60 --health-port $(CHECKPOINTER_HEALTH_PORT) & checkpointer=$$!; \
	export $(STANDIN_ENV); STANDIN_PORT=$(OIDC_PORT) STANDIN_IDENTITIES=$${OPENDSP_VAR_DIR:-var}/demo/identities.json node scripts/myguichet_standin.mjs & standin=$$!; \
	trap 'kill $$worker $$mllp $$checkpointer $$standin 2>/dev/null; wait $$worker $$mllp $$checkpointer $$standin 2>/dev/null' EXIT INT TERM; \
	$(BIN)/opendsp serve --port $(PORT)

# The suite runs in TEST_WORKERS parallel processes (pytest-xdist); `make test TEST_WORKERS=0` runs it in this one
# process. Tests that must share one process carry @pytest.mark.xdist_group (hence --dist loadgroup).
TEST_WORKERS ?= 3
test: $(VENV)/.installed-test node_modules/.installed ips-package
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

migrate: $(VENV)/.installed-run
	$(BIN)/opendsp migrate

# The International Patient Summary profiles (npm package hl7.fhir.uv.ips, checked against its published sha512) that
# tests/structured/test_ips_profiles.py validates the structured documents against (docs/adr/0039-ips-profile-
# validation.md); unpacked in var/fhir-packages/. Without npm or the registry the test is skipped, saying why.
ips-package:
	@./scripts/fetch-ips-package.sh || echo "hl7.fhir.uv.ips not fetched: the IPS profile tests will be skipped"

demo: $(VENV)/.installed-run
	$(BIN)/opendsp demo load

# The messages French has and German, English or Portuguese lacks (missing, empty, fuzzy, other placeholders).
catalogue-gaps: $(VENV)/.installed-run
	$(BIN)/python scripts/catalogue_gaps.py $(LANGUAGES)

# Regenerate the pinned, hashed locks after changing dependencies in pyproject.toml.
lock: | $(BIN)/python
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml -o requirements.lock --python-version 3.11 --generate-hashes -q
	$(BIN)/uv pip compile pyproject.toml --extra test -o requirements-dev.lock --python-version 3.11 --generate-hashes -q

bench: $(VENV)/.installed-test
	$(BIN)/python bench/bulk_load.py

# ITI-65 submissions/s and ITI-67 latency over the FHIR API on a million bulk-loaded documents (PostgreSQL).
bench-fhir: $(VENV)/.installed-test
	$(BIN)/python bench/fhir_api.py $(BENCH_ARGS)

# import-documents against a raw seal + write + COPY of the same 20,000 documents of 50 KB (PostgreSQL).
bench-import: $(VENV)/.installed-test
	$(BIN)/python bench/import_documents.py --documents 20000 --content-size 51200 $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache node_modules
