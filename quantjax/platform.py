"""Every backend- and XLA-specific setting of quantjax, in one bottom-layer module.

Library code never branches on the backend name or edits ``XLA_FLAGS`` itself; it calls the
helpers here. Each records why it exists and what it measured (docs/benchmarks.md):

- **Process settings** (call before the first JAX computation; the CLI does):
  :func:`set_cpu_async_dispatch` (inline CPU calls for latency-critical serving),
  :func:`enable_fast_cpu_loops` (XLA:CPU compiles small while loops into one kernel: the
  backtest scan 2-4x faster), :func:`request_cpu_devices` (one XLA CPU device per core for
  sharded sweeps), :func:`use_cpu_collectives` (gloo collectives between CPU processes of a
  ``jax.distributed`` run). :func:`backends_initialized` tells whether it is too late.
- **Per-executable compiler options**: :func:`batch_compiler_options` (the static rule of
  batch work), :func:`compiler_option_choices` (the sets a compiled predictor times at
  warm-up and chooses from, per bucket, on the running machine).
- **Device facts**: :func:`device_free_bytes` (what a memory budget may use).
- **Program choices** made inside traced code: :func:`fusion_barrier` (a CPU-only fusion
  boundary in the LSTM scans), :func:`is_cpu` (the default backend is a CPU).

CPU async dispatch: JAX queues each CPU executable call to a worker thread. A serving loop that
needs each result before the next tick pays two thread hand-offs per call (37-60 µs on the
2-core dev machine, about a third of the streaming update of one symbol). JAX's own
``jax_cpu_enable_async_dispatch`` option (``JAX_CPU_ENABLE_ASYNC_DISPATCH=false``) runs calls
inline; it only affects single-device CPU computations.

Batch compiler options: on CPU, XLA's YNNPACK fusions (a matmul fused with the elementwise work
around it) made forward passes of 64+ rows slower, while a single row and training were faster
with them (2-core dev machine, stop 13): credit scoring, 128-row chunks, 530 -> 610
applications/s; HFT forward, batch 64 826 -> 980 and batch 256 928 -> 1068 windows/s; one HFT
window 399 -> 376 /s; HFT training 256 -> 237 samples/s. So inference executables of at least
``min_rows`` rows turn them off; everything else keeps XLA's defaults.
"""

from __future__ import annotations

import os

import jax

#: XLA options of a CPU inference executable of many rows (see the module doc).
CPU_BATCH_OPTIONS = {"xla_cpu_experimental_ynn_fusion_type": ""}

SMALL_LOOP_OPTION = "xla_cpu_small_while_loop_byte_threshold"
FAST_LOOP_BYTES = 1 << 24  # per-iteration bytes; the 100-symbol engine loop needs ~256 KiB


def is_cpu() -> bool:
    """True when JAX's default backend is a CPU."""
    return jax.default_backend() == "cpu"


def backends_initialized() -> bool:
    """True once JAX has created its backends (process-level settings are then fixed).

    Public-API probe: JAX refuses a change of ``jax_num_cpu_devices`` with a ``RuntimeError``
    once its backends exist; before that the probe's change is undone at once.
    """
    current = jax.config.values["jax_num_cpu_devices"]
    probe = 2 if current == 1 else 1
    try:
        jax.config.update("jax_num_cpu_devices", probe)
    except RuntimeError:
        return True
    jax.config.update("jax_num_cpu_devices", current)
    return False


def set_cpu_async_dispatch(enabled: bool) -> bool:
    """Set JAX's CPU async dispatch for this process. Returns the setting in effect: the
    requested one, or the current one when JAX's backend already exists (then nothing changes)."""
    if backends_initialized():
        return bool(jax.config.values["jax_cpu_enable_async_dispatch"])
    jax.config.update("jax_cpu_enable_async_dispatch", bool(enabled))
    return bool(enabled)


def request_cpu_devices(n: int) -> int:
    """Expose ``n`` XLA CPU devices to this process (``jax_num_cpu_devices``) if JAX has not
    started yet and ``XLA_FLAGS`` does not already set a count. Returns the number in effect:
    ``n``, the ``XLA_FLAGS`` count, or 1 when it is too late to change."""
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" in flags:
        count = flags.split("xla_force_host_platform_device_count=")[1].split()[0]
        return int(count)
    if n == 1:
        return 1
    if backends_initialized():
        return 1
    jax.config.update("jax_num_cpu_devices", int(n))
    return int(n)


CPU_COLLECTIVES = "gloo"


def use_cpu_collectives(implementation: str = CPU_COLLECTIVES) -> bool:
    """Let CPU devices of different processes run collectives (``jax_cpu_collectives_implementation``,
    gloo over TCP), which a multi-process run on CPUs needs: without it a cross-process
    reduction fails at compile time. Call before JAX starts a backend; returns whether the
    setting is in effect (it is harmless on GPU hosts, whose collectives are NCCL's)."""
    if jax.config.values.get("jax_cpu_collectives_implementation") == implementation:
        return True
    if backends_initialized():
        return False
    jax.config.update("jax_cpu_collectives_implementation", implementation)
    return True


def fast_cpu_loops_flag(byte_threshold: int = FAST_LOOP_BYTES) -> str:
    """The ``XLA_FLAGS`` entry that compiles small while loops (scans) into one CPU kernel."""
    return f"--xla_backend_extra_options={SMALL_LOOP_OPTION}={int(byte_threshold)}"


def enable_fast_cpu_loops(byte_threshold: int = FAST_LOOP_BYTES) -> bool:
    """Add :func:`fast_cpu_loops_flag` to ``XLA_FLAGS`` if JAX has not started a backend yet.

    XLA:CPU dispatches every fusion of a scan body separately (~30 kernels per backtest bar);
    with this option it compiles loops whose single iteration touches < ``byte_threshold``
    bytes into one kernel: the backtest 2-4x faster on CPU, independent books bitwise
    identical, portfolio mode (sums across symbols) may differ in the last bits. XLA reads its
    flags once, so call this at program start. Leaves an ``xla_backend_extra_options`` already
    set by the user untouched. Returns ``True`` when the option is in effect for this process
    (set now or by the user).
    """
    flags = os.environ.get("XLA_FLAGS", "")
    if SMALL_LOOP_OPTION in flags:
        return True
    if "xla_backend_extra_options" in flags or backends_initialized():
        return False
    os.environ["XLA_FLAGS"] = f"{flags} {fast_cpu_loops_flag(byte_threshold)}".strip()
    return True


def device_free_bytes() -> int:
    """Free memory of one local device: ``memory_stats`` on accelerators, else the host's
    available RAM divided by the number of local devices (CPU devices share the RAM)."""
    dev = jax.local_devices()[0]
    try:
        st = dev.memory_stats() or {}
    except Exception:  # noqa: BLE001 - backends without stats
        st = {}
    if "bytes_limit" in st:
        return int(st["bytes_limit"] - st.get("bytes_in_use", 0))
    try:
        with open("/proc/meminfo") as f:
            info = {ln.split(":")[0]: int(ln.split()[1]) * 1024 for ln in f}
        avail = info.get("MemAvailable", 8 << 30)
    except OSError:
        avail = 8 << 30
    return int(avail // max(jax.local_device_count(), 1))


def batch_compiler_options(rows: int, min_rows: int = 64) -> dict | None:
    """Per-executable XLA compiler options for an inference call of ``rows`` rows: on the CPU
    backend with ``rows >= min_rows``, :data:`CPU_BATCH_OPTIONS` (YNNPACK fusions off);
    otherwise ``None`` (XLA's defaults). Pass to ``jax.jit(..., compiler_options=...)`` or
    ``lowered.compile(compiler_options=...)``."""
    if rows >= min_rows and is_cpu():
        return dict(CPU_BATCH_OPTIONS)
    return None


def compiler_option_choices() -> dict[str, dict | None]:
    """Named per-executable XLA option sets worth timing for an inference executable on this
    backend: on CPU ``default`` (XLA's defaults) and ``ynn_off`` (:data:`CPU_BATCH_OPTIONS`),
    elsewhere ``default`` only. Which one is faster depends on the CPU and the batch (the
    2-core dev machine: ``ynn_off`` for 64+ rows, ``default`` for a single window), so
    :class:`quantjax.inference.predictor.CompiledPredictor` measures them at warm-up."""
    if is_cpu():
        return {"default": None, "ynn_off": dict(CPU_BATCH_OPTIONS)}
    return {"default": None}


def option_set_name(options: dict | None) -> str:
    """The :func:`compiler_option_choices` name of an option set (``custom`` if none)."""
    for name, opts in compiler_option_choices().items():
        if opts == (options or None):
            return name
    return "custom"


def fusion_barrier(read, s):
    """``read(s)``, on CPU computed inside a ``lax.cond`` so that it is its own small copy.

    XLA:CPU fuses a dynamic slice into the elementwise fusion that consumes it, and such a
    fusion with ``tanh``/``sigmoid`` in it runs several times slower than the same fusion
    on a plain array (a micro-benchmark, ``[2, 64, 512]`` gates: 167 µs vs 22 µs per step;
    with the slice in a ``cond``: 38 µs). A conditional is a fusion boundary, so the slice
    becomes a copy and the gate math reads an ordinary buffer. ``s >= 0`` always holds; the
    other branch only exists to make it a conditional. Other platforms read directly
    (``lax.platform_dependent``: the choice is made per lowering platform, not per process).
    """
    def cond(s):
        return jax.lax.cond(s >= 0, read, lambda _: read(jax.numpy.zeros_like(s)), s)

    return jax.lax.platform_dependent(s, cpu=cond, default=read)
