# The two commands of a fresh machine: `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test venv initdb bench clean

$(VENV)/.installed: requirements.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "需要 Python 3.11 ($(PYTHON))"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

venv: $(VENV)/.installed

initdb: venv
	$(PY) -m bot initdb

run: venv
	$(PY) -m bot initdb
	$(PY) -m bot demo --if-empty
	BOT_LOCAL_CHANNEL=1 BOT_DEMO_LOGIN=1 BOT_SIMULATOR=1 $(PY) -m bot serve --host $(HOST) --port $(PORT)

test: venv
	$(PY) -m pytest -q

bench: venv
	$(PY) bench/commands.py

clean:
	rm -rf $(VENV) data/bot.db*
