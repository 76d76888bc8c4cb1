# The README's two commands: `make demo` and `make test`. Both set up .venv first.
#
# `make test` runs the suite on ROS 2 Kilted (.venv, Python 3.11) and again on ROS 2 Jazzy.
# Where Python 3.12 is found (Jazzy's own Python, Ubuntu 24.04) Jazzy runs there
# (.venv-jazzy-py312), where the tests marked `torch` skip: the local torch wheel is for 3.11
# only. Of those, .venv-jazzy (3.11) then runs the ones marked `ros` too (conftest.py marks
# them); the others use no ROS and ran on Kilted's same Python and torch. Without a 3.12,
# .venv-jazzy runs everything. Each run starts with a line naming its ROS 2, rclpy and Python;
# every run goes ahead even if one before it failed, and a last line names those that failed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
JAZZY_VENV := .venv-jazzy
JAZZY_STAMP := $(JAZZY_VENV)/.installed
PY312_VENV := .venv-jazzy-py312
PY312_STAMP := $(PY312_VENV)/.installed
LEROBOT_VENV := .venv-lerobot
LEROBOT_STAMP := $(LEROBOT_VENV)/.installed
PYTEST_ARGS ?=
# python3.12 if it runs, else pyenv's newest 3.12 (pyenv's shim runs only a selected version).
ifndef PYTHON312
PYTHON312 := $(shell python3.12 -c 'import sys; print(sys.executable)' 2>/dev/null || \
	ls -d "$${PYENV_ROOT:-$$HOME/.pyenv}"/versions/3.12*/bin/python3.12 2>/dev/null | \
	sort -V | tail -n 1)
endif
# What .venv-jazzy runs: what needs both torch and ROS where Python 3.12 runs the rest.
JAZZY_PART := $(if $(PYTHON312),-m 'torch and ros')
JAZZY_NOTE := $(if $(PYTHON312),: the ROS tests that need torch; the rest run on Python 3.12)

PIP := pip install --quiet --disable-pip-version-check
# $(call make-venv,python,requirements file): the target's venv with the pinned deps and
# this package (editable).
define make-venv
$(1) -m venv $(@D)
$(@D)/bin/$(PIP) -r $(2)
$(@D)/bin/$(PIP) --no-deps -r requirements-nodeps.txt
$(@D)/bin/$(PIP) --no-deps --no-build-isolation -e .
touch $@
endef

# $(call run-suite,distribution,venv,rclpy wheel,pytest selection,note): a line naming ROS 2,
# rclpy and Python, then pytest. Exit 5 (nothing selected, e.g. PYTEST_ARGS=-k ... outside
# the torch part) counts as a pass only for a run with a selection.
define run-suite
@$(2)/bin/python -c "import importlib.metadata as m, platform; \
	print('== ROS 2 $(1) ($(3)', m.version('$(3)') + ', Python', platform.python_version() + \
	')$(5)')"
ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST $(2)/bin/python -m pytest test $(4) $(PYTEST_ARGS) \
	$(if $(4),|| [ $$? -eq 5 ])
endef

.PHONY: venv venvs demo test test-kilted test-jazzy test-jazzy-py312 bench lint clean
# The runs share two cores and time ROS traffic: never two at once.
.NOTPARALLEL:

venv: $(STAMP)

venvs: $(STAMP) $(JAZZY_STAMP) $(if $(PYTHON312),$(PY312_STAMP)) $(LEROBOT_STAMP)

$(STAMP): requirements.txt requirements-common.txt requirements-nodeps.txt setup.py
	$(call make-venv,$(PYTHON),requirements.txt)

# Python 3.11 like .venv: the local torch wheel is for 3.11 only.
$(JAZZY_STAMP): requirements-jazzy.txt requirements-common.txt requirements-nodeps.txt setup.py
	$(call make-venv,$(PYTHON),requirements-jazzy.txt)

# requirements-common.txt leaves torch out on 3.12; the tests marked torch skip there.
$(PY312_STAMP): requirements-jazzy.txt requirements-common.txt requirements-nodeps.txt setup.py
	$(call make-venv,$(PYTHON312),requirements-jazzy.txt)

# lerobot itself, for the test that loads the LeRobot export with it (no robotok inside).
$(LEROBOT_STAMP): requirements-lerobot.txt
	$(PYTHON) -m venv $(@D)
	$(@D)/bin/$(PIP) --no-deps -r requirements-lerobot.txt
	touch $@

demo: $(STAMP)
	ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST $(BIN)/robotok demo

test: venvs
	@failed=; \
	$(MAKE) --no-print-directory test-kilted || failed="$$failed Kilted"; \
	$(MAKE) --no-print-directory test-jazzy || failed="$$failed Jazzy"; \
	$(MAKE) --no-print-directory test-jazzy-py312 || failed="$$failed Jazzy-on-Python-3.12"; \
	if [ -n "$$failed" ]; then echo "== FAILED on ROS 2:$$failed"; exit 1; fi

test-kilted: $(STAMP)
	$(call run-suite,Kilted,$(VENV),ros-rclpy)

test-jazzy: $(JAZZY_STAMP)
	$(call run-suite,Jazzy,$(JAZZY_VENV),ros-jazzy-rclpy,$(JAZZY_PART),$(JAZZY_NOTE))

ifneq ($(PYTHON312),)
test-jazzy-py312: $(PY312_STAMP)
	$(call run-suite,Jazzy,$(PY312_VENV),ros-jazzy-rclpy)
else
test-jazzy-py312:
	@echo '== ROS 2 Jazzy on Python 3.12: no python3.12 found (PYTHON312=...); Jazzy ran all'
endif

bench: $(STAMP)
	for b in $(filter-out bench/timing.py,$(wildcard bench/*.py)); do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) $(JAZZY_VENV) $(PY312_VENV) $(LEROBOT_VENV) build install log .pytest_cache .hypothesis \
		*.egg-info
