# segcourse: two commands do all the set-up on a fresh machine.
#   make run    create .venv, install, prepare the data, execute every notebook into build/
#   make test   create .venv, install, lint, run the whole test suite (notebooks included)
# SEGCOURSE_PROFILE=ci|cpu|gpu picks the size of the runs (default: gpu if the backend
# sees a GPU, else cpu; make test defaults to ci). KERAS_BACKEND=tensorflow|jax|torch.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
NOTEBOOKS := $(sort $(wildcard notebooks/*.ipynb)) $(wildcard lab/solution/*.ipynb)
TEST_PROFILE ?= ci

.PHONY: install run test lint data lab clean

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

data: install
	$(PY) -m segcourse prepare

run: install data
	@mkdir -p build
	@for nb in $(NOTEBOOKS); do \
	  out=build/$$(basename $$nb); \
	  echo "== $$nb -> $$out"; \
	  $(PY) -m papermill --cwd $$(dirname $$nb) --progress-bar $$nb $$out || exit 1; \
	  $(PY) -m jupyter nbconvert --log-level WARN --to html $$out || exit 1; \
	done
	@echo "Executed notebooks, HTML and results are in build/"

lint: install
	$(PY) -m ruff check segcourse tests notebooks lab lesson

test: install lint
	$(PY) -m segcourse prepare --profile $${SEGCOURSE_PROFILE:-$(TEST_PROFILE)}
	SEGCOURSE_PROFILE=$${SEGCOURSE_PROFILE:-$(TEST_PROFILE)} $(PY) -m pytest tests notebooks lab/solution \
	  --nbval-lax --nbval-current-env --nbval-cell-timeout=1800 --nbval-kernel-startup-timeout=300

lab: install
	$(PY) -m segcourse lab build

clean:
	rm -rf build
