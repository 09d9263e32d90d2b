# Shortcuts; the scripts do the work (and install what is missing).
.PHONY: demo test test-lua test-python bench clean
demo:
	bash scripts/demo.sh
test:
	bash scripts/test.sh
test-lua:
	bash scripts/test_lua.sh
test-python:
	bash scripts/test_python.sh
bench:
	cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DLSMLOG_TESTS=OFF >/dev/null
	cmake --build build-release -j --target bench_log >/dev/null
	./build-release/bench_log
clean:
	rm -rf build build-asan build-tsan build-release build-demo build-lua build-lua-asan build-python build-python-asan
