"""A real single-node Slurm cluster for the tests, started by hand from Debian's packages.

munged, slurmctld and slurmd run from a private directory (their own config, key, state, logs and
ports), so nothing under /etc or /var is touched and a real Slurm installation on the machine is left
alone. The node offers two fake GPUs as ``gres/gpu`` (files linked to /dev/null: Slurm schedules and
enforces them and sets CUDA_VISIBLE_DEVICES, nothing is behind them). Without accounting (slurmdbd and
MariaDB would cost 24 more packages), Slurm's own per-job records come from the ``jobcomp/filetxt``
completion log, which slurmctld writes for every job that ends. Daemons are stopped by the PIDs they
wrote, never by name. See ../shared/reference/slurm.md for how this recipe was found.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

# The executor plugin strips SLURM_CONF from the `srun` it runs inside each job, so clients in jobs read
# Slurm's default config path: the cluster links its config there while it runs.
DEFAULT_CONF = Path("/etc/slurm/slurm.conf")
TEMP_PREFIX = "vocoder-slurm-"
DAEMONS = {"munged": "/usr/sbin/munged", "slurmctld": "/usr/sbin/slurmctld", "slurmd": "/usr/sbin/slurmd"}
CLIENTS = ("mungekey", "sbatch", "srun", "squeue", "scontrol", "scancel", "sinfo")


def unavailable_reason() -> str | None:
    """Why this machine cannot run the test cluster, or None when it can."""
    if not Path("/etc/debian_version").exists():
        return "the Slurm test cluster is set up from Debian's packages; this is not Debian"
    if os.geteuid() != 0:
        return "the Slurm test cluster needs root (slurmd starts jobs as their owner); run `make test` as root"
    if DEFAULT_CONF.exists() or DEFAULT_CONF.is_symlink():
        if not _left_by_an_earlier_test(DEFAULT_CONF):
            return f"{DEFAULT_CONF} exists: this machine has its own Slurm, which the test cluster would disturb"
    missing = [path for path in DAEMONS.values() if not os.access(path, os.X_OK)]
    missing += [name for name in CLIENTS if shutil.which(name) is None]
    if missing:
        return (
            f"Slurm/munge not installed ({', '.join(missing)} missing): "
            "`make test` installs tests/system/packages.txt as root"
        )
    return None


def _left_by_an_earlier_test(path: Path) -> bool:
    """A link to a test cluster's config whose directory is gone (a run killed before it cleaned up)."""
    if not path.is_symlink():
        return False
    target = Path(os.readlink(path))
    return target.parent.name.startswith(TEMP_PREFIX) and not target.exists()


def run_guarded(command: list[str], timeout: float, **kwargs) -> subprocess.CompletedProcess:
    """``subprocess.run`` that cannot hang a test: past ``timeout`` the whole process group gets SIGKILL
    (Snakemake can ignore SIGTERM while it waits on a lost job)."""
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True, **kwargs
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        stdout, stderr = process.communicate()
        raise AssertionError(
            f"{shlex.join(command)} still running after {timeout:.0f} s; killed.\n{stdout}\n{stderr}"
        ) from None
    except BaseException:  # e.g. Ctrl-C on pytest: leave nothing running
        os.killpg(process.pid, signal.SIGKILL)
        raise
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def free_ports(count: int) -> list[int]:
    """``count`` distinct free ports: every socket stays bound until all are chosen."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


class SlurmCluster:
    """One node named after this host on 127.0.0.1, ``gpus`` fake GPUs, one partition per name given
    (all on the node; the first is the default)."""

    def __init__(self, root: Path, partitions: list[str], gpus: int = 2):
        self.root = Path(root)
        self.partitions = list(dict.fromkeys(partitions))
        self.gpus = gpus
        self.node = socket.gethostname().split(".")[0]  # slurmd finds itself by its short host name
        self.conf = self.root / "slurm.conf"
        self.jobcomp = self.root / "jobcomp.log"
        self.allocations = self.root / "allocations.log"
        self.pids: dict[str, int] = {}
        self.linked_default_conf = False

    @property
    def env(self) -> dict[str, str]:
        """Environment for clients (and the jobs they submit, which inherit it): this cluster's config."""
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    # ------------------------------------------------------------------ start / stop
    def start(self, timeout: float = 60) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o755)  # munged wants its socket's directory searchable by all
        for sub in ("state", "spool", "fakegpu"):
            (self.root / sub).mkdir(exist_ok=True)
        for index in range(self.gpus):
            link = self.root / "fakegpu" / f"nvidia{index}"
            link.unlink(missing_ok=True)
            link.symlink_to("/dev/null")  # a character device: Slurm 22.05 rejects plain files
        self._write_config()
        if _left_by_an_earlier_test(DEFAULT_CONF):
            DEFAULT_CONF.unlink()
        DEFAULT_CONF.parent.mkdir(parents=True, exist_ok=True)
        DEFAULT_CONF.symlink_to(self.conf)  # fails if a config appeared meanwhile: then it is not ours
        self.linked_default_conf = True
        try:
            self._start_munge(timeout)
            self._start_daemon("slurmctld", timeout)
            self._wait_for("slurmctld", self._controller_up, timeout)
            self._start_daemon("slurmd", timeout)
            self._wait_for("slurmd", self._node_idle, timeout)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Cancel what is left of this cluster's jobs, then stop the daemons this object started, by PID."""
        if "slurmctld" in self.pids and self._alive(self.pids["slurmctld"]):
            self.command(["scancel", "--full", "--user", str(os.geteuid())], check=False)
            try:
                self._wait(lambda: not self.command(["squeue", "-h"], check=False).stdout.strip(), 40, "jobs gone")
            except TimeoutError:
                pass
        for name in ("slurmd", "slurmctld", "munged"):
            pid = self.pids.pop(name, None)
            if pid is None or not self._alive(pid):
                continue
            os.kill(pid, signal.SIGTERM)
            try:
                self._wait(lambda pid=pid: not self._alive(pid), 15, f"{name} to stop")
            except TimeoutError:
                os.kill(pid, signal.SIGKILL)
        if self.linked_default_conf and DEFAULT_CONF.is_symlink() and Path(os.readlink(DEFAULT_CONF)) == self.conf:
            DEFAULT_CONF.unlink()
            self.linked_default_conf = False

    def __enter__(self) -> SlurmCluster:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------------ clients and records
    def command(self, argv: list[str], timeout: float = 30, check: bool = True) -> subprocess.CompletedProcess:
        result = run_guarded(argv, timeout, env=self.env)
        if check and result.returncode != 0:
            raise AssertionError(f"{shlex.join(argv)} failed ({result.returncode}):\n{result.stdout}{result.stderr}")
        return result

    def finished_jobs(self) -> dict[int, dict[str, str]]:
        """Slurm's completion records (jobcomp/filetxt), one per finished job: {job id: {field: value}}."""
        if not self.jobcomp.exists():
            return {}
        records = {}
        for line in self.jobcomp.read_text().splitlines():
            fields = dict(re.findall(r"(\w+)=(\S*)", line))
            if "JobId" in fields:
                records[int(fields["JobId"])] = fields
        return records

    def allocations_by_job(self) -> dict[int, dict[str, str]]:
        """What the prolog saw at each job's start: {job id: {"Partition", "GPUs", "CUDA_VISIBLE_DEVICES"}}."""
        if not self.allocations.exists():
            return {}
        lines = self.allocations.read_text().splitlines()
        records = [dict(re.findall(r"(\w+)=(\S*)", line)) for line in lines]
        return {int(r["JobId"]): r for r in records if r.get("JobId")}

    def job_details(self, job_id: int) -> str:
        """``scontrol show job -d``: the live record (kept MinJobAge seconds after the job ends)."""
        return self.command(["scontrol", "show", "job", "-d", str(job_id)], check=False).stdout

    def log(self, daemon: str) -> str:
        path = self.root / f"{daemon}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    # ------------------------------------------------------------------ internals
    def _write_config(self) -> None:
        hardware = run_guarded([DAEMONS["slurmd"], "-C"], 30).stdout.splitlines()[0]
        cpus = int(re.search(r"CPUs=(\d+)", hardware)[1])
        memory = int(int(re.search(r"RealMemory=(\d+)", hardware)[1]) * 0.9)  # above free memory drains the node
        hardware = re.sub(r"RealMemory=\d+", f"RealMemory={memory}", hardware).replace(f"NodeName={self.node}", "")
        root = self.root
        controller_port, node_port = free_ports(2)
        partitions = "\n".join(
            f"PartitionName={name} Nodes={self.node} Default={'YES' if i == 0 else 'NO'} MaxTime=INFINITE State=UP"
            for i, name in enumerate(self.partitions)
        )
        self.conf.write_text(f"""\
ClusterName=vocodertest
SlurmctldHost={self.node}(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
AuthInfo=socket={root}/munge.sock
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity
ReturnToService=2
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldPort={controller_port}
SlurmdPort={node_port}
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=500
GresTypes=gpu
JobAcctGatherType=jobacct_gather/linux
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc={self.jobcomp}
Prolog={root}/prolog.sh
InactiveLimit=0
KillWait=30
MinJobAge=300
SlurmctldTimeout=120
SlurmdTimeout=300
Waittime=0
NodeName={self.node} NodeAddr=127.0.0.1 {hardware.strip()} Gres=gpu:{self.gpus} State=UNKNOWN
{partitions}
""")
        # slurmd runs the prolog as root at each job's start with the allocation in its environment:
        # a record of which GPUs each job was given.
        prolog = root / "prolog.sh"
        prolog.write_text(
            "#!/bin/sh\n"
            f'echo "JobId=$SLURM_JOB_ID Partition=$SLURM_JOB_PARTITION GPUs=$SLURM_JOB_GPUS '
            f'CUDA_VISIBLE_DEVICES=$CUDA_VISIBLE_DEVICES" >> {self.allocations}\n'
        )
        prolog.chmod(0o755)
        last = self.gpus - 1
        (root / "gres.conf").write_text(
            f"AutoDetect=off\nNodeName={self.node} Name=gpu File={root}/fakegpu/nvidia[0-{last}]\n"
        )
        self.cpus = cpus

    def _start_munge(self, timeout: float) -> None:
        key = self.root / "munge.key"
        if not key.exists():
            run_guarded(["mungekey", "--create", f"--keyfile={key}"], 30)
        options = [f"--{o}={self.root}/munge{suffix}" for o, suffix in (("socket", ".sock"), ("key-file", ".key"))]
        options += [f"--{o}={self.root}/munged.{o.split('-')[0]}" for o in ("pid-file", "log-file", "seed-file")]
        result = run_guarded([DAEMONS["munged"], *options], timeout)  # daemonizes once its socket is up
        if result.returncode != 0:
            raise RuntimeError(f"munged did not start: {result.stderr}")
        self.pids["munged"] = self._pid_from_file("munged", timeout)

    def _start_daemon(self, name: str, timeout: float) -> None:
        result = run_guarded([DAEMONS[name], "-f", str(self.conf)], timeout, env=self.env)  # daemonizes
        if result.returncode != 0:
            raise RuntimeError(f"{name} did not start: {result.stderr}\n{self.log(name)[-3000:]}")
        self.pids[name] = self._pid_from_file(name, timeout)

    def _wait_for(self, name: str, ready, timeout: float) -> None:
        """Wait until ``ready()``; a daemon that died meanwhile fails at once, with its log."""

        def check() -> bool:
            if not self._alive(self.pids[name]):
                raise RuntimeError(f"{name} exited:\n{self.log(name)[-3000:]}")
            return ready()

        self._wait(check, timeout, f"{name} to be ready")

    def _pid_from_file(self, name: str, timeout: float) -> int:
        path = self.root / f"{name}.pid"
        self._wait(lambda: path.exists() and path.read_text().strip(), timeout, f"{path}")
        return int(path.read_text().split()[0])

    def _controller_up(self) -> bool:
        return "is UP" in self.command(["scontrol", "ping"], check=False).stdout

    def _node_idle(self) -> bool:
        state = self.command(["sinfo", "-h", "-N", "-n", self.node, "-o", "%T"], check=False).stdout.split()
        return bool(state) and all(s == "idle" for s in state)

    @staticmethod
    def _alive(pid: int) -> bool:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True

    @staticmethod
    def _wait(condition, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
            time.sleep(0.25)
