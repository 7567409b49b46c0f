"""End to end on a real Slurm: scaleout/slurm.sbatch submitted as an array over every training stage of the smoke
profile, as docs/scaling-out.md gives it, to a single-node cluster this module starts (munged, slurmctld and
slurmd from Debian's Slurm packages, under a temporary folder with their own key, socket, ports and state) and
stops at the end. The tasks clone a bare git repository of the pipeline and share a folder DVC remote; a fresh
clone's `dvc repro --pull` then trains nothing and gets the metrics of the one-machine `dvc repro` (the
`smoke_repo` fixture).

Skipped, with the reason, where Slurm is not installed or cannot start (it needs root: slurmd runs the jobs);
.ci/run installs the packages and sets STUDY_SLURM_REQUIRED=1, which turns such a skip into a failure.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from helpers import ROOT, commit_everything, copy_pipeline, dvc, pipeline_env

BINARIES = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "scancel", "sinfo")
INSTALL = "apt-get install slurmctld slurmd slurm-client munge"
REQUIRED = os.environ.get("STUDY_SLURM_REQUIRED") == "1"
ARRAY_TIMEOUT = 1500  # s: the smoke array takes a few minutes on 2 cores; a task that hangs fails the test
PYTHON = Path(sys.executable).parent / "python"  # the venv's, which a task must find on its PATH
FAILING_STAGE = "stage4@seed_7"  # no such stage: DVC refuses it, so its task fails


def unavailable(reason: str):
    if REQUIRED:
        pytest.fail(f"Slurm is required here (STUDY_SLURM_REQUIRED=1) but {reason}")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class Cluster:
    """A one-node Slurm under `root`: the node is this machine, with all of its CPUs, one partition, no GPUs."""

    def __init__(self, root: Path):
        self.root, self.conf = root, root / "slurm.conf"
        self.env = {"SLURM_CONF": str(self.conf)}
        self.host = socket.gethostname().split(".")[0]
        # stopped in this order: the node, then the controller, then the authentication daemon
        self.pidfiles = [root / "slurmd.pid", root / "slurmctld.pid", root / "munge" / "munged.pid"]
        self.jobs: list[str] = []

    def run(self, *args: str, cwd: Path | None = None, env: dict | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(args, cwd=cwd, env=(env or dict(os.environ)) | self.env, capture_output=True,
                              text=True, timeout=timeout)

    def start(self) -> None:
        munge = self.root / "munge"
        munge.mkdir(mode=0o755)  # munged refuses a socket in a folder that not everyone can search
        key = munge / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o600)
        for sub in ("state", "spool"):
            (self.root / sub).mkdir()
        self.conf.write_text(f"""\
ClusterName=study
SlurmctldHost={self.host}(127.0.0.1)
SlurmctldPort={free_port()}
SlurmdPort={free_port()}
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket={munge}/munge.socket
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
StateSaveLocation={self.root}/state
SlurmdSpoolDir={self.root}/spool
SlurmctldPidFile={self.root}/slurmctld.pid
SlurmdPidFile={self.root}/slurmd.pid
SlurmctldLogFile={self.root}/slurmctld.log
SlurmdLogFile={self.root}/slurmd.log
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
# finished tasks stay visible to scontrol for an hour (the default, 5 minutes, is shorter than the array)
MinJobAge=3600
NodeName={self.host} NodeAddr=127.0.0.1 CPUs={os.cpu_count()} State=UNKNOWN
PartitionName=study Nodes=ALL Default=YES MaxTime=INFINITE State=UP
""")
        commands = [["munged", f"--key-file={key}", f"--socket={munge}/munge.socket",
                     f"--pid-file={munge}/munged.pid", f"--log-file={munge}/munged.log",
                     f"--seed-file={munge}/munged.seed"],
                    ["slurmctld", "-f", str(self.conf)],
                    ["slurmd", "-f", str(self.conf), "-N", self.host]]
        for command in commands:
            result = self.run(*command)
            if result.returncode != 0:
                unavailable(f"{command[0]} did not start: {(result.stderr or result.stdout).strip()[-500:]}")
        deadline = time.monotonic() + 60
        while (state := self.run("sinfo", "-h", "-N", "-o", "%T").stdout.strip()) != "idle":
            if time.monotonic() > deadline:
                unavailable(f"the node is {state or 'unknown'} 60 s after slurmd started; slurmd.log ends: "
                            + self.log("slurmd.log")[-500:])
            time.sleep(0.5)

    def log(self, name: str) -> str:
        path = self.root / name
        return path.read_text(errors="replace") if path.exists() else ""

    def submit(self, command: list[str] | str, cwd: Path, env: dict) -> str:
        """Run a submission command (a list, or a bash script) in `cwd`; the job id sbatch printed."""
        args = ["bash", "-euo", "pipefail", "-c", command] if isinstance(command, str) else command
        result = self.run(*args, cwd=cwd, env=env, timeout=300)
        found = re.search(r"Submitted batch job (\d+)", result.stdout)
        assert result.returncode == 0 and found, result.stdout + result.stderr
        self.jobs.append(found.group(1))
        return found.group(1)

    def wait(self, job: str, timeout: float = ARRAY_TIMEOUT) -> dict[int, tuple[str, str]]:
        """Poll squeue until no task of `job` is pending or running; then each task's state and exit code."""
        deadline = time.monotonic() + timeout
        while queued := self.run("squeue", "-h", "-j", job, "-o", "%i %T").stdout.strip():
            if time.monotonic() > deadline:
                self.run("scancel", job)
                pytest.fail(f"array job {job} not done after {timeout} s; still queued:\n{queued}")
            time.sleep(2)
        shown = self.run("scontrol", "-o", "show", "job", job)
        assert shown.returncode == 0, shown.stderr
        return {int(re.search(r"\bArrayTaskId=(\d+)", line).group(1)):
                (re.search(r"\bJobState=(\S+)", line).group(1), re.search(r"\bExitCode=(\S+)", line).group(1))
                for line in shown.stdout.splitlines()}

    def stop(self) -> None:
        """Cancel what is left of this module's jobs, then end the three daemons by their pid files."""
        for job in self.jobs:
            self.run("scancel", job)
        stuck = []
        for pidfile in self.pidfiles:
            if not pidfile.exists():
                continue
            pid = int(pidfile.read_text().split()[0])
            if not alive(pid):
                continue
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 20
            while alive(pid) and time.monotonic() < deadline:
                time.sleep(0.2)
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
                stuck.append(f"{pidfile.stem} (pid {pid})")
        assert not stuck, f"killed after 20 s without stopping on SIGTERM: {', '.join(stuck)}"


@pytest.fixture(scope="module")
def cluster():
    missing = [b for b in BINARIES if shutil.which(b) is None]
    if missing:
        unavailable(f"Slurm is not installed (no {', '.join(missing)}); on Debian: {INSTALL}")
    if os.geteuid() != 0:
        unavailable("the single-node Slurm runs its jobs through slurmd as root; run the tests as root")
    # mkdtemp, not pytest's tmp_path: munged needs every folder above its socket searchable by everyone
    root = Path(tempfile.mkdtemp(prefix="study-slurm-"))
    root.chmod(0o755)
    slurm = Cluster(root)
    try:
        slurm.start()
        yield slurm
    finally:
        slurm.stop()
        shutil.rmtree(root, ignore_errors=True)


def doc_commands() -> tuple[str, str]:
    """The Slurm commands of docs/scaling-out.md: the submission, and what runs when the array is done."""
    doc = (ROOT / "docs/scaling-out.md").read_text()
    block = re.search(r"\*\*On a Slurm cluster\*\*.*?```bash\n(.*?)```", doc, re.S).group(1)
    submit, after = block.split("# when the array is done:\n")
    return submit, after.strip()


@dataclass
class Array:
    checkout: Path  # the submitting checkout: sbatch ran here, the task logs are here
    bare: Path  # the repository the tasks clone
    rev: str
    job: str
    stages: list[str]  # the stage list, in task order
    tasks: dict[int, tuple[str, str]]
    nodes: Path  # the tasks' TMPDIR, where they clone
    seconds: float

    def log(self, task: int, job: str | None = None) -> str:
        return (self.checkout / f"slurm-{job or self.job}_{task}.out").read_text()


@pytest.fixture(scope="module")
def array(cluster, tmp_path_factory) -> Array:
    """The smoke pipeline in a bare repository with a folder remote in its .dvc/config (docs/scaling-out.md's
    "A shared DVC remote"), the user's checkout of it, and from there the documented `sbatch --array`, waited
    for. The archive is committed (git add -f), as a download would give every task the same bytes: those of
    the one-machine run's archive (copy_pipeline writes the same archive every time)."""
    base = tmp_path_factory.mktemp("slurm")
    origin = copy_pipeline(base / "origin")
    assert dvc(origin, "remote", "add", "-d", "shared", str(base / "remote")).returncode == 0
    subprocess.run(["git", "add", "-f", "data/raw/cifar-10-python.tar.gz"], cwd=origin, check=True)
    commit_everything(origin)
    bare, checkout, nodes = base / "study.git", base / "checkout", base / "nodes"
    subprocess.run(["git", "clone", "-q", "--bare", str(origin), str(bare)], check=True)
    subprocess.run(["git", "clone", "-q", str(bare), str(checkout)], check=True)
    nodes.mkdir()
    rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=checkout, capture_output=True, text=True,
                         check=True).stdout.strip()
    stages = subprocess.run(["python", "-m", "cifar10_study.experiments.stage_list"], cwd=checkout,
                            env=pipeline_env(checkout), capture_output=True, text=True, check=True).stdout.split()
    submit, _ = doc_commands()
    start = time.monotonic()
    env = pipeline_env(checkout) | {"TMPDIR": str(nodes)}
    job = cluster.submit(submit.replace("<git url>", str(bare)), checkout, env)
    tasks = cluster.wait(job)
    seconds = time.monotonic() - start
    print(f"slurm array: {len(tasks)} tasks in {seconds:.1f} s")
    return Array(checkout, bare, rev, job, stages, tasks, nodes, seconds)


def ran(log: str) -> list[str]:
    """The stages a DVC log says it ran."""
    return re.findall(r"Running stage '([^']+)'", log)


def test_every_task_succeeds_and_every_training_stage_is_trained_once(array):
    assert len(array.stages) >= 15 and array.stages[0] == "stage1@seed_0"  # the smoke profile's every training stage
    assert array.tasks == {k: ("COMPLETED", "0:0") for k in range(len(array.stages))}, array.tasks
    trained = {}
    for task, stage in enumerate(array.stages):
        log = array.log(task)
        assert log.startswith(f"array task {task} of job {array.job} on "), log[:300]
        assert log.splitlines()[0].endswith(f": stage {stage}, commit {array.rev}, python {PYTHON}"), log[:300]
        for name in ran(log):
            if name in array.stages:
                trained.setdefault(name, []).append(task)
    assert trained == {stage: [task] for task, stage in enumerate(array.stages)}
    assert list(array.nodes.glob("cifar10-study-*")) == []  # each task removed its clone: its stage is on the remote


def test_a_fresh_clone_restores_every_stage_and_gets_the_one_machine_metrics(array, request, tmp_path):
    """The doc's `dvc repro --pull` when the array is done, in a fresh clone without the archive: every stage
    the array trained, and the data, come from the remote; only the analysis, the report and the skip markers
    of seeds the profile does not train run; every metrics file is the one-machine run's, byte for byte."""
    _, after = doc_commands()
    assert after == "dvc repro --pull"
    fresh = tmp_path / "fresh"
    subprocess.run(["git", "clone", "-q", str(array.bare), str(fresh)], check=True)
    (fresh / "data/raw/cifar-10-python.tar.gz").unlink()  # nothing to prepare the data from here
    result = dvc(fresh, *after.split()[1:])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for stage in ["download", *array.stages]:
        assert f"Stage '{stage}' is cached - skipping run, checking out outputs" in result.stdout, stage
    assert not set(ran(result.stdout)) & {"download", *array.stages}, ran(result.stdout)
    assert {"stage1_analysis", "stage45_analysis", "report"} <= set(ran(result.stdout))
    # asked for here, not as an argument: pytest sets session fixtures up first, and a machine without Slurm
    # skips (in `cluster`) before it would reproduce the pipeline for nothing
    smoke_repo = request.getfixturevalue("smoke_repo")
    base = subprocess.run(["git", "rev-list", "--max-parents=0", "HEAD"], cwd=smoke_repo, capture_output=True,
                          text=True, check=True).stdout.strip()
    names = subprocess.run(["git", "ls-tree", "-r", "--name-only", base, "metrics"], cwd=smoke_repo,
                           capture_output=True, text=True, check=True).stdout.split()
    one_machine = {name: subprocess.run(["git", "show", f"{base}:{name}"], cwd=smoke_repo, capture_output=True,
                                        check=True).stdout for name in names}
    assert len(one_machine) >= 5
    here = {str(p.relative_to(fresh)): p.read_bytes() for p in sorted((fresh / "metrics").rglob("*")) if p.is_file()}
    assert here.keys() == one_machine.keys()
    assert [name for name in names if here[name] != one_machine[name]] == []


def test_a_task_restores_a_stage_already_trained_and_a_failed_task_names_its_stage(array, cluster):
    """A second array over two named stages: `stage1@seed_0`, which the first array trained (its task restores it from
    the remote's run cache instead of training it again), and a stage that does not exist (its task fails, and
    its log ends with one line naming the stage and the clone it keeps). Submitted from a shell without the
    venv on PATH: the tasks get it from STUDY_ENV_SETUP, as on a cluster whose nodes set up their own."""
    activate = Path(sys.prefix) / "bin" / "activate"
    assert activate.is_file(), f"no {activate}: the tests run from a venv (./run.sh setup makes .venv)"
    venv_bin = str(PYTHON.parent)
    env = pipeline_env(array.checkout) | {"TMPDIR": str(array.nodes)}
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if p != venv_bin)
    job = cluster.submit(["sbatch", "--array=0-1",
                          f"--export=ALL,REPO_URL={array.bare},REPO_REV={array.rev},STUDY_ENV_SETUP=source {activate}",
                          "scaleout/slurm.sbatch", "stage1@seed_0", FAILING_STAGE], array.checkout, env)
    tasks = cluster.wait(job, timeout=600)
    assert tasks[0] == ("COMPLETED", "0:0"), tasks
    restored = array.log(0, job)
    assert restored.splitlines()[0].endswith(f", python {PYTHON}"), restored[:300]  # the venv, from the setup
    assert "Stage 'stage1@seed_0' is cached - skipping run, checking out outputs" in restored, restored[-2000:]
    assert ran(restored) == [], restored[-2000:]
    assert tasks[1][0] == "FAILED" and tasks[1][1] != "0:0", tasks
    failed = array.log(1, job)
    assert failed.splitlines()[0].endswith(f": stage {FAILING_STAGE}, commit {array.rev}, python {PYTHON}"), \
        failed[:300]
    last = failed.strip().splitlines()[-1]
    clone = array.nodes / f"cifar10-study-{job}-1"
    status = tasks[1][1].split(":")[0]  # the script's exit status: DVC's, which is 255 for an unknown stage
    assert last == f"slurm.sbatch: array task 1, stage {FAILING_STAGE}: failed (exit status {status}); " \
                   f"its clone: {clone}"
    assert (clone / "dvc.yaml").is_file()


def test_the_script_asks_for_no_gpu_and_a_documented_gpu_request_reaches_slurm(cluster, array):
    """As committed, the script is accepted by this node without GPUs (`sbatch --test-only`: scheduled, not run);
    each GPU request its header documents, on the command line or as sbatch's variable, reaches Slurm, which
    refuses it here."""
    env = pipeline_env(array.checkout) | {"REPO_URL": str(array.bare), "REPO_REV": array.rev}

    def test_only(*args: str, **extra: str) -> subprocess.CompletedProcess:
        return cluster.run("sbatch", "--test-only", "--array=0-1", *args, "scaleout/slurm.sbatch",
                           cwd=array.checkout, env=env | extra)

    plain = test_only()
    assert plain.returncode == 0 and "to start at" in plain.stderr, plain.stderr
    for refused in (test_only("--gpus=1"), test_only("--gres=gpu:1"), test_only(SBATCH_GPUS="1"),
                    test_only(SBATCH_GRES="gpu:1")):
        assert refused.returncode != 0, refused.stderr
        assert "Invalid generic resource (gres) specification" in refused.stderr, refused.stderr
