# Thin wrapper: every target is implemented in tools/dev.py, so Windows users
# get the same behaviour with `py tools\dev.py <target>`.  Environment variables
# (or make arguments) such as LAB_ARGS, PIP_INDEX_URL and PIP_EXTRA_INDEX_URL
# reach tools/dev.py and pip unchanged.
PYTHON ?= python3

.PHONY: lab test bench images notebooks clean
lab:
	$(PYTHON) tools/dev.py lab
test:
	$(PYTHON) tools/dev.py test
bench:
	$(PYTHON) tools/dev.py bench
images:
	$(PYTHON) tools/dev.py images
notebooks:
	$(PYTHON) tools/dev.py notebooks
clean:
	$(PYTHON) tools/dev.py clean
