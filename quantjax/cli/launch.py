"""``quantjax launch -n N -- COMMAND ...``: start N processes of one multi-process run on this
machine (the coordinator on localhost), watch them, and stop them all when one fails."""

from __future__ import annotations

import argparse

DESCRIPTION = (
    "Run a quantjax command as N processes of one jax.distributed run on this machine: each "
    "gets JAX_COORDINATOR_ADDRESS=127.0.0.1:PORT, JAX_NUM_PROCESSES, JAX_PROCESS_ID and "
    "QUANTJAX_DISTRIBUTED=1 (the command's --distributed), with --cpu-devices XLA CPU devices "
    "each. Process 0 prints the command's output (the others only their errors) and writes the "
    "run files. When a process fails, the others are stopped at once and the launcher exits "
    "with its code, after one line naming it. Example: quantjax launch -n 2 -- train hft "
    "--config configs/hft_lstm_tiny.yaml --synthetic --workdir runs/hft2. For SLURM and "
    "several hosts see docs/gpu.md."
)


def register(sub, parents) -> None:
    p = sub.add_parser("launch", help="run a command as N local processes (jax.distributed)",
                       description=DESCRIPTION, parents=parents)
    p.add_argument("-n", "--processes", type=int, default=2, metavar="N",
                   help="number of processes (default 2)")
    p.add_argument("--cpu-devices", type=int, default=1, metavar="K",
                   help="XLA CPU devices per process (default 1)")
    p.add_argument("--port", type=int, default=0,
                   help="coordinator port on 127.0.0.1 (default: a free port)")
    p.add_argument("--timeout", type=int, default=60, metavar="S",
                   help="seconds for the processes to meet and for the heartbeat that detects a "
                        "dead process (QUANTJAX_DISTRIBUTED_TIMEOUT, default 60)")
    p.add_argument("--pin-cores", action="store_true",
                   help="pin process i to CPU core i (Linux; for scaling measurements)")
    p.add_argument("--all-output", action="store_true",
                   help="show the standard output of every process, not only process 0's")
    p.add_argument("command", nargs=argparse.REMAINDER,
                   help="the quantjax command and its arguments, after --")
    p.set_defaults(func=run_launch)


def run_launch(args: argparse.Namespace) -> int:
    import os
    import sys

    from quantjax.errors import UserError

    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        raise UserError("launch: give the command after --, e.g. quantjax launch -n 2 -- "
                        "train hft --synthetic")
    if command[0] == "launch":
        raise UserError("launch: the command cannot itself be 'launch'")
    if args.processes < 1:
        raise UserError(f"-n: must be >= 1, got {args.processes}")
    if args.cpu_devices < 1:
        raise UserError(f"--cpu-devices: must be >= 1, got {args.cpu_devices}")
    if args.timeout < 1:
        raise UserError(f"--timeout: must be >= 1, got {args.timeout}")
    if args.pin_cores and args.processes > (os.cpu_count() or 1):
        raise UserError(f"--pin-cores: {args.processes} processes but only "
                        f"{os.cpu_count()} cores")
    port = args.port or _free_port()
    base = dict(os.environ, JAX_COORDINATOR_ADDRESS=f"127.0.0.1:{port}",
                JAX_NUM_PROCESSES=str(args.processes), QUANTJAX_DISTRIBUTED="1",
                QUANTJAX_CPU_DEVICES=str(args.cpu_devices),
                QUANTJAX_DISTRIBUTED_TIMEOUT=str(args.timeout), QUANTJAX_LAUNCHED="1")
    argv = [sys.executable, "-m", "quantjax.cli.main", *command]
    return _supervise(argv, base, args.processes, args.pin_cores, args.all_output)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _supervise(argv, base_env, n: int, pin: bool, all_output: bool) -> int:
    """Start ``n`` processes of ``argv`` and wait: all exit 0 -> 0; the first that fails ->
    one line naming it, SIGTERM to the others (SIGKILL after 5 s), its exit code."""
    import signal
    import subprocess
    import sys

    procs = []
    try:
        for i in range(n):
            env = dict(base_env, JAX_PROCESS_ID=str(i))
            pre = (lambda core=i: __import__("os").sched_setaffinity(0, {core})) if pin else None
            out = None if (i == 0 or all_output) else subprocess.DEVNULL
            procs.append(subprocess.Popen(argv, env=env, stdout=out, preexec_fn=pre))
        while True:
            _wait_for_any_exit()
            codes = [p.poll() for p in procs]
            # a process killed by a signal is the cause; one that exited with an error code in
            # the same instant is usually a peer that saw the dead process's collective fail
            bad = sorted(((c >= 0, i, c) for i, c in enumerate(codes) if c not in (None, 0)))
            if bad:
                _, i, code = bad[0]
                why = (f"was killed by {signal.Signals(-code).name}" if code < 0
                       else f"exited with code {code}")
                others = [p for p in procs if p.poll() is None]
                stop = (f"stopping the other {len(others)} process(es)" if others else
                        "no other process is left")
                sys.stderr.write(f"quantjax launch: process {i}/{n} {why}; {stop}\n")
                sys.stderr.flush()
                _stop(others)
                return 128 - code if code < 0 else code
            if all(c == 0 for c in codes):
                return 0
    except KeyboardInterrupt:
        _stop([p for p in procs if p.poll() is None])
        raise


def _wait_for_any_exit() -> None:
    """Block until a child process has exited, without reaping it (``waitid`` with ``WNOWAIT``),
    so the launcher sees the first failure at once instead of at its next poll; where
    ``waitid`` is missing, sleep 50 ms."""
    import os
    import time

    if hasattr(os, "waitid"):
        try:
            os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOWAIT)
            return
        except ChildProcessError:
            return
    time.sleep(0.05)


def _stop(procs, grace_s: float = 5.0) -> None:
    import time

    for p in procs:
        p.terminate()
    deadline = time.time() + grace_s
    for p in procs:
        try:
            p.wait(timeout=max(deadline - time.time(), 0.01))
        except Exception:  # noqa: BLE001 - still running after the grace period
            p.kill()
            p.wait()
