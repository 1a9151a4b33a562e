# The course in three commands:  make setup  ->  make test  ->  make lab
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.bert_ms-installed

.PHONY: setup setup-gpu setup-browser test-browser kernel notebooks test test-fast lab lint format bench lock clean-venv

KERNELS := $(VENV)/.bert_ms-kernels

## setup: build .venv from nothing with the pinned lock, install bert_ms editable, compile the fused CPU kernels,
## register the kernel
setup: $(STAMP) $(KERNELS) kernel notebooks
	@$(PY) -m bert_ms info

## the fused C++ CPU kernels (bert_ms.accel), compiled once here so that no lesson waits for a compiler; where
## none exists or the build fails, one line says so and training runs on MindSpore's ops
$(KERNELS): $(STAMP) $(wildcard bert_ms/accel/csrc/*.cc bert_ms/accel/csrc/*.h)
	@$(PY) -m bert_ms.accel
	@touch $(KERNELS)

$(STAMP): requirements/lock.txt requirements/lock-nodeps.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "setup: $(PYTHON) not found; install Python 3.11 (or run 'make setup PYTHON=/path/to/python3.11')"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip==26.0.1"
	$(PY) -m pip install --quiet --no-deps -r requirements/lock.txt
	$(PY) -m pip install --quiet --no-deps -r requirements/lock-nodeps.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	$(PY) -c "import mindspore, bert_ms; print('mindspore', mindspore.__version__, '+ bert_ms', bert_ms.__version__)"
	touch $(STAMP)

## setup-gpu: add the pinned NVIDIA CUDA 11 / cuDNN 8 wheels MindSpore's GPU plugin loads, make them findable
## (bert_ms_nvidia.pth, no LD_LIBRARY_PATH to edit), list what the plugin needs; then: bert-ms selftest --device GPU
setup-gpu: $(STAMP)
	$(PY) -m pip install --quiet --no-deps -r requirements/lock-gpu.txt
	$(PY) -m bert_ms.runtime.nvidia install
	$(PY) -m bert_ms.runtime.nvidia check

## setup-browser: the real-browser test's extra (Selenium, requirements/lock-browser.txt); Chromium and its driver
## come from the system (Debian: apt-get install chromium chromium-driver)
setup-browser: $(STAMP)
	$(PY) -m pip install --quiet --no-deps -r requirements/lock-browser.txt

## test-browser: lessons 00, 05 and 07 run through JupyterLab's UI in headless Chromium (screenshots: runs/browser/)
test-browser: setup-browser
	$(PY) -m pytest -q -m browser tests/test_browser.py

## kernel: register the Jupyter kernel "Python (bert-ms)" that runs .venv
kernel: $(STAMP)
	$(PY) -m ipykernel install --user --name bert-ms --display-name "Python (bert-ms)" >/dev/null
	@echo "kernel 'bert-ms' registered"

## notebooks: make the .ipynb twins of the jupytext notebooks/*.py (outputs never go into git), and the Chinese
## edition notebooks/zh/ from them and i18n/zh/ (scripts/editions.py: code cells byte for byte, prose translated)
notebooks: $(STAMP)
	$(PY) scripts/editions.py build
	$(VENV)/bin/jupytext --quiet --update --to ipynb notebooks/[0-9]*.py notebooks/zh/[0-9]*.py
	$(PY) scripts/ipynb_metadata.py notebooks/[0-9]*.ipynb notebooks/zh/[0-9]*.ipynb

## test: the whole suite, every notebook executed in smoke mode included
test: $(STAMP) $(KERNELS)
	$(PY) -m pytest -q

## test-fast: skip notebooks and slow tests
test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow and not notebook"

## lab: JupyterLab on the course kernel, both editions (notebooks/ and notebooks/zh/)
lab: setup
	$(PY) scripts/lab.py notebooks/

lint: $(STAMP)
	$(VENV)/bin/ruff check .

format: $(STAMP)
	$(VENV)/bin/ruff format . && $(VENV)/bin/ruff check --fix .

## bench: the speed benchmarks (see bench/README.md)
bench: $(STAMP)
	$(PY) bench/bench_model.py

## lock: re-resolve requirements/base.in in a scratch venv and rewrite the lock (maintainers only)
lock:
	bash requirements/relock.sh

clean-venv:
	rm -rf $(VENV)
