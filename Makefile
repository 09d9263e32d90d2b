# Shortcuts; the scripts do the work (and install what is missing).
.PHONY: demo test test-lua test-python test-notebook bench bench-quick clean
demo:
	bash scripts/demo.sh
test:
	bash scripts/test.sh
test-lua:
	bash scripts/test_lua.sh
test-python:
	bash scripts/test_python.sh
test-notebook:
	bash scripts/test_notebook.sh
bench:
	bash scripts/bench.sh $(ARGS)
bench-quick:
	bash scripts/bench.sh --quick
clean:
	rm -rf build build-asan build-tsan build-release build-demo build-lua build-lua-asan build-python build-python-asan build-notebook
