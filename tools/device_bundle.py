"""What a GPU machine without network lacks, made here (on a machine with network) and carried with the
working tree: `.whl/` (wheels for its Python) and `.gpu-data/` (the JPEG stand-in and its builder).

    python tools/device_bundle.py [--dry-run]

The GPU machine (docs/gpu.md) has Python 3.12 on x86-64 with torch 2.11 and no network; the
distributions it already has are listed in tools/device_packages.txt. This script takes the project's
dependencies (pyproject.toml, but torch and torchvision, which are the machine's own), follows their
requirements through this environment's installed distributions (so the machine gets the versions the
tests ran with), leaves out what the machine has, and fetches each of the rest as a wheel for CPython 3.12
manylinux x86-64; a distribution published only as a source archive is built into a wheel here, which
must come out pure Python (`py3-none-any`), else it stops with one line. It adds airbench (for the data
calibration, benchmarks/airbench_calibration.py) and copies the stand-in data, then prints what would travel
and checks it against the 64 MiB that can travel with the working tree. `--dry-run` only lists the distributions.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import tomllib
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parent.parent
WHEELS, DATA = REPO / ".whl", REPO / ".gpu-data"
DEVICE_PACKAGES = Path(__file__).with_name("device_packages.txt")
STAND_IN = REPO.parent / "shared/data"
EXTRA = ["airbench==0.1.8"]  # the calibration's reference trainings (benchmarks/airbench_calibration.py)
DEVICE_OWN = {"torch", "torchvision"}  # the machine's builds, matched to its CUDA: never carried
# The machine's interpreter, for markers and wheel tags.
TARGET = {"python_version": "3.12", "python_full_version": "3.12.3", "implementation_name": "cpython",
          "platform_machine": "x86_64", "sys_platform": "linux", "platform_system": "Linux", "os_name": "posix"}
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")
CARRY_LIMIT = 64 * 2**20  # bytes that can travel with the working tree to the GPU machine


def device_packages(path: Path = DEVICE_PACKAGES) -> set[str]:
    lines = (line.strip() for line in path.read_text().splitlines())
    return {canonicalize_name(line) for line in lines if line and not line.startswith("#")}


def project_requirements(pyproject: Path = REPO / "pyproject.toml") -> list[str]:
    deps = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    return [d for d in deps if canonicalize_name(Requirement(d).name) not in DEVICE_OWN]


def closure(requirements: list[str], environment: dict[str, str] | None = None) -> dict[str, str]:
    """Every distribution the requirements need on the target, name -> the version installed here."""
    env = default_environment() | TARGET | (environment or {})
    found: dict[str, str] = {}
    stack = [Requirement(r) for r in requirements]
    while stack:
        req = stack.pop()
        name = canonicalize_name(req.name)
        if name in found or (req.marker and not req.marker.evaluate(env | {"extra": ""})):
            continue
        try:
            dist = distribution(req.name)
        except PackageNotFoundError:
            raise SystemExit(f"device_bundle: {req.name} (needed by the project) is not installed here; "
                             f"run ./run.sh setup first") from None
        found[name] = dist.version
        stack += [Requirement(r) for r in dist.requires or []]
    return found


def missing_on_device(needed: dict[str, str], present: set[str]) -> dict[str, str]:
    return {name: version for name, version in sorted(needed.items()) if name not in present}


def _pip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pip", *args, "--disable-pip-version-check", "--quiet"],
                          capture_output=True, text=True)


def fetch_wheel(spec: str, into: Path) -> Path:
    """A wheel of `spec` for the machine: a published binary for it, else one built here (pure Python only)."""
    before = set(into.glob("*.whl"))
    platform_args = [arg for p in PLATFORMS for arg in ("--platform", p)]
    got = _pip("download", "--no-deps", "--only-binary=:all:", "--python-version", TARGET["python_version"],
               "--implementation", "cp", *platform_args, "-d", str(into), spec)
    built = got.returncode != 0  # no published wheel for the machine: build one here from the source archive
    if built:
        got = _pip("wheel", "--no-deps", "-w", str(into), spec)
        if got.returncode != 0:
            raise SystemExit(f"device_bundle: no wheel of {spec} for CPython 3.12 x86-64 and none could be built: "
                             f"{(got.stderr.strip().splitlines() or ['?'])[-1]}")
    new = sorted(set(into.glob("*.whl")) - before)
    if not new:  # already there from an earlier run
        return next(into.glob(f"{canonicalize_name(spec.split('==')[0]).replace('-', '_')}-*.whl"), into)
    if built and not new[0].name.endswith("-none-any.whl"):
        raise SystemExit(f"device_bundle: {spec} has no binary for the machine and builds only as {new[0].name} "
                         f"here, which will not install on CPython 3.12")
    return new[0]


def folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def tracked_bytes() -> int:
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    return sum((REPO / f).stat().st_size for f in files.split("\0") if f and (REPO / f).is_file())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dry-run", action="store_true", help="list what would be carried, fetch nothing")
    args = parser.parse_args(argv)
    needed = closure(project_requirements())
    missing = missing_on_device(needed, device_packages())
    specs = [f"{name}=={version}" for name, version in missing.items()] + EXTRA
    print(f"device_bundle: the project needs {len(needed)} distributions there; the machine lacks {len(missing)} "
          f"(+ {', '.join(EXTRA)})")
    if args.dry_run:
        print("\n".join(specs))
        return 0
    WHEELS.mkdir(exist_ok=True)
    for spec in specs:
        fetch_wheel(spec, WHEELS)
    DATA.mkdir(exist_ok=True)
    for name in ("cifar10-jpeg.tar.gz", "make_cifar10_archive.py"):
        if not (STAND_IN / name).is_file():
            raise SystemExit(f"device_bundle: {STAND_IN / name} not found: the stand-in data lives in ../shared/data")
        shutil.copy2(STAND_IN / name, DATA / name)
    sizes = {".whl/": folder_bytes(WHEELS), ".gpu-data/": folder_bytes(DATA), "tracked files": tracked_bytes()}
    total = sum(sizes.values())
    print("device_bundle: would travel " + ", ".join(f"{k} {v / 2**20:.1f} MiB" for k, v in sizes.items())
          + f"; {total / 2**20:.1f} MiB of the {CARRY_LIMIT / 2**20:.0f} MiB carried")
    if total > CARRY_LIMIT:
        print(f"device_bundle: that is more than the {CARRY_LIMIT / 2**20:.0f} MiB that can travel", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
