# The two commands a newcomer needs (see README.md). Each installs what it needs first.
.PHONY: run test bootstrap lock bench

bootstrap:
	@./scripts/bootstrap.sh

# Launch Cove: the desktop app where there is a screen, the headless daemon where there is none.
run: bootstrap
	@.venv/bin/cove $(ARGS)

# The whole test suite, headless (Qt offscreen), as CI runs it.
test: bootstrap
	@QT_QPA_PLATFORM=offscreen .venv/bin/python -m pytest -q $(PYTEST_ARGS)

# Re-resolve requirements.lock after changing dependencies in pyproject.toml.
lock:
	uv pip compile pyproject.toml --extra dev --extra bundle --generate-hashes \
	    --python-version 3.11 -o requirements.lock -q
