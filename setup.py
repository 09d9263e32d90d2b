"""Builds the extension lsmlog._lsmlog from the C core and the CPython binding.

The metadata is in pyproject.toml. The version has one source: LSMLOG_VERSION
in core/include/lsmlog.h (read here, and exposed at run time as
lsmlog.__version__ by the extension itself).

LSMLOG_SANITIZE=1 builds with AddressSanitizer + UndefinedBehaviorSanitizer
(into build-python-asan/); load it with
LD_PRELOAD=$(gcc -print-file-name=libasan.so) ASAN_OPTIONS=detect_leaks=0.
"""

import glob
import os
import re

from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))
os.chdir(HERE)  # setuptools wants source paths relative to the project


def read_version() -> str:
    with open(os.path.join("core", "include", "lsmlog.h"), encoding="utf-8") as f:
        m = re.search(r'^#define\s+LSMLOG_VERSION\s+"([^"]+)"', f.read(), re.M)
    if not m:
        raise RuntimeError("LSMLOG_VERSION not found in core/include/lsmlog.h")
    return m.group(1)


sanitize = os.environ.get("LSMLOG_SANITIZE", "") not in ("", "0")

# The warnings of the CMake build (CMakeLists.txt), so both builds agree on
# what "warning-clean" means.
compile_args = ["-std=c11", "-Wall", "-Wextra", "-Wshadow", "-Wstrict-prototypes", "-Wno-unused-parameter"]
# Only PyInit__lsmlog is exported; the core's internal symbols stay inside
# (as in the CMake build's C_VISIBILITY_PRESET hidden).
compile_args += ["-fvisibility=hidden"]
link_args = []
if sanitize:
    # -UNDEBUG: the core's asserts count in the sanitizer run (Python's own
    # CFLAGS define NDEBUG).
    compile_args += [
        "-fsanitize=address,undefined",
        "-fno-omit-frame-pointer",
        "-fno-sanitize-recover=undefined",
        "-UNDEBUG",
        "-O1",
    ]
    link_args += ["-fsanitize=address,undefined"]

sources = sorted(glob.glob("core/src/*.c")) + sorted(glob.glob("bindings/python/*.c"))
depends = (
    ["core/include/lsmlog.h"]
    + sorted(glob.glob("core/src/*.h"))
    + sorted(glob.glob("bindings/python/*.h"))
)

extension = Extension(
    "lsmlog._lsmlog",
    sources=sources,
    depends=depends,
    include_dirs=["core/include"],
    define_macros=[("_GNU_SOURCE", None)],
    extra_compile_args=compile_args,
    extra_link_args=link_args,
    libraries=["pthread"],
)

setup(
    version=read_version(),
    ext_modules=[extension],
    # Our own build directory: build/ and build-asan/ belong to the C build.
    options={
        "build": {"build_base": "build-python-asan" if sanitize else "build-python"},
        "build_ext": {"parallel": os.cpu_count() or 1},
    },
)
