# segcourse: two commands do all the set-up on a fresh machine.
#   make run    create .venv, install, prepare the data, execute every notebook into build/
#   make test   create .venv, install, lint, run the whole test suite (notebooks included)
# SEGCOURSE_PROFILE=ci|cpu|gpu picks the size of the runs (default: gpu if the backend
# sees a GPU, else cpu; make test defaults to ci). KERAS_BACKEND=tensorflow|jax|torch.
# SEGCOURSE_LANG=nb makes `make run` execute the Norwegian notebooks (into build/nb/) instead
# of the English ones (`python -m segcourse run --lang all` runs both).
# Without make (Windows): the README's PowerShell lines do the same through python -m segcourse.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# TensorFlow's C++ start-up INFO lines are noise for a newcomer; warnings still show.
export TF_CPP_MIN_LOG_LEVEL ?= 1

.PHONY: install run test lint data lab clean

install: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

data: install
	$(PY) -m segcourse prepare

# The jobs themselves live in segcourse/course.py (`python -m segcourse run|test|lint`), so
# that Windows, where make is missing, runs the same code; see the README. `run` reads
# SEGCOURSE_LANG from the environment itself (en, nb or all; default en).
run: install
	$(PY) -m segcourse run

lint: install
	$(PY) -m segcourse lint

test: install
	$(PY) -m segcourse test

lab: install
	$(PY) -m segcourse lab build

clean:
	rm -rf build
