# The two commands: `make run` serves the demo portal, `make test` runs every check.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
FLASK := $(BIN)/flask --app portal
PIP_QUIET := --quiet --disable-pip-version-check

.PHONY: run test check install chromium pango clean

# The debtor's pages in German: messages.mo is compiled here, never committed (see README).
$(INSTALLED): pyproject.toml $(wildcard portal/translations/*/LC_MESSAGES/messages.po)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install $(PIP_QUIET) --upgrade pip
	$(BIN)/pip install $(PIP_QUIET) -e '.[dev]'
	$(BIN)/pybabel compile -d portal/translations
	touch $(INSTALLED)

install: $(INSTALLED)

run: $(INSTALLED) pango
	$(FLASK) db upgrade
	$(FLASK) demo load
	@echo "Serving the portal on http://127.0.0.1:5000 (Ctrl-C to stop)"
	$(FLASK) run --host 127.0.0.1 --port 5000

# Browser tests drive Debian's Chromium; install it where we can (root with apt-get).
chromium:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "Installing Debian's chromium for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "Chromium is not installed and cannot be installed here: browser tests will be skipped"; fi

# PDF letters (WeasyPrint) need Debian's pango; install it where we can (root with apt-get).
PANGO_PACKAGES := libpango-1.0-0 libpangoft2-1.0-0
pango:
	@if dpkg-query -W -f='$${Status}\n' $(PANGO_PACKAGES) 2>/dev/null | grep -qv '^install ok installed$$' \
		|| ! dpkg-query -W $(PANGO_PACKAGES) >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "Installing Debian's pango for PDF letters"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(PANGO_PACKAGES) >/dev/null; \
		else echo "pango is not installed and cannot be installed here: PDF letter tests will be skipped"; fi; \
	fi

check: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy portal tenants
	$(BIN)/lint-imports
	$(BIN)/bandit -q -r portal tenants

test: check chromium pango
	$(BIN)/pytest -n 2 --dist loadfile

clean:
	rm -rf $(VENV) instance .pytest_cache .mypy_cache .ruff_cache
