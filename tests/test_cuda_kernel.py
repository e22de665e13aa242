"""The CuPy shift kernel: compiled here without a GPU (NVRTC or nvcc), and checked bit for bit
against the PyTorch path on a GPU (tests marked ``cuda``, skipped without one)."""

from __future__ import annotations

import itertools
import shutil
import subprocess

import pytest
import torch

from shiftnet.kernels import cuda as shift_cuda_module
from shiftnet.kernels import shift
from shiftnet.kernels.reference import shift_torch


def _compile_ptx(arch: str) -> str:
    """PTX of shift.cu for ``arch`` through CuPy's NVRTC, else nvcc; skip if neither is here."""
    source = shift_cuda_module.kernel_source()
    try:
        from cupy.cuda import nvrtc

        program = nvrtc.createProgram(source, "shift.cu", [], [])
        try:
            nvrtc.compileProgram(program, [f"--gpu-architecture=compute_{arch}", "-std=c++17"])
        except Exception as exc:  # noqa: BLE001
            raise AssertionError(f"NVRTC failed: {exc}\n{nvrtc.getProgramLog(program)}") from exc
        ptx = nvrtc.getPTX(program)
        return ptx.decode() if isinstance(ptx, bytes) else ptx
    except (ImportError, RuntimeError) as exc:  # no CuPy, or CuPy without the NVRTC library
        nvcc = shutil.which("nvcc")
        if nvcc is None:
            pytest.skip(f"neither CuPy's NVRTC ({exc}) nor nvcc is available to compile the kernel")
        proc = subprocess.run(
            [nvcc, "--ptx", f"-arch=compute_{arch}", "-std=c++17", "-x", "cu", "-", "-o", "-"],
            input=source, capture_output=True, text=True,
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout


@pytest.mark.parametrize("arch", ["80", "90"])
def test_kernel_source_compiles_every_variant(arch):
    ptx = _compile_ptx(arch)
    for name in shift_cuda_module.kernel_names():
        assert f".entry {name}(" in ptx, name


def test_kernel_names_cover_every_dtype_layout_and_index_width():
    names = shift_cuda_module.kernel_names()
    assert len(names) == 24 and len(set(names)) == 24
    assert "shift_nhwc_u16_v8_i64" in names and "shift_nchw_u32_v1_i32" in names


# ---------------------------------------------------------------- on a GPU

DTYPES = [torch.float32, torch.float16, torch.bfloat16, torch.float64]
SHAPES = [(2, 23, 7, 9), (1, 144, 32, 32), (3, 16, 1, 1), (1, 9, 5, 3), (4, 48, 16, 8), (2, 20, 8, 16)]


def _poisoned_like(x: torch.Tensor) -> torch.Tensor:
    out = torch.empty_like(x)
    out.fill_(float("nan"))
    return out


@pytest.mark.cuda
@pytest.mark.parametrize("dtype,shape,kd,channels_last,transpose", list(itertools.product(
    DTYPES, SHAPES, [(3, 1), (3, 2), (5, 1), (1, 1)], [False, True], [False, True])))
def test_kernel_matches_reference_bit_for_bit(dtype, shape, kd, channels_last, transpose):
    torch.manual_seed(0)
    x = torch.randn(shape, device="cuda").to(dtype)
    if channels_last:
        x = x.to(memory_format=torch.channels_last)
    out = _poisoned_like(x)
    shift_cuda_module.launch(x, out, *kd, transpose)
    expected = shift_torch(x.cpu(), *kd, transpose)
    assert torch.equal(out.cpu(), expected), "kernel differs from the reference (or left an element unwritten)"


@pytest.mark.cuda
@pytest.mark.parametrize("channels_last", [False, True])
def test_autograd_and_dispatch_on_cuda(channels_last, monkeypatch):
    x = torch.randn(4, 50, 12, 10, device="cuda")
    if channels_last:
        x = x.to(memory_format=torch.channels_last)
    x.requires_grad_(True)
    g = torch.randn_like(x)
    results = {}
    for impl in ("cupy", "torch"):
        y = shift(x, 3, 1, impl=impl)
        (grad,) = torch.autograd.grad(y, x, g)
        results[impl] = (y, grad)
    assert torch.equal(results["cupy"][0], results["torch"][0]) and torch.equal(results["cupy"][1], results["torch"][1])
    assert results["cupy"][0].is_contiguous(memory_format=torch.channels_last) == channels_last
    monkeypatch.setenv("SHIFTNET_SHIFT_IMPL", "torch")
    assert torch.equal(shift(x.detach()), results["torch"][0])


@pytest.mark.cuda
def test_non_dense_and_offset_inputs_on_cuda():
    base = torch.randn(2, 40, 9, 13, device="cuda")
    x = base[:, 1::2, :, 1:]  # strided: made contiguous once
    assert torch.equal(shift(x, impl="cupy").cpu(), shift_torch(x.cpu().contiguous(), 3, 1))
    y = base[1:]  # dense but with a storage offset
    assert torch.equal(shift(y, impl="cupy").cpu(), shift_torch(y.cpu(), 3, 1))


@pytest.mark.cuda
def test_kernel_on_the_current_stream():
    x = torch.randn(8, 144, 32, 32, device="cuda")
    stream = torch.cuda.Stream()
    with torch.cuda.stream(stream):
        y = shift(x, impl="cupy")
        z = y * 2  # ordered after the kernel on the same stream
    stream.synchronize()
    assert torch.equal(z.cpu(), shift_torch(x.cpu(), 3, 1) * 2)


@pytest.mark.cuda
def test_shiftconv_under_torch_compile_matches_eager():
    from shiftnet.models import ShiftConv

    torch._dynamo.reset()
    block = ShiftConv(16, 32, stride=2, mid=96).cuda().eval()
    x = torch.randn(8, 16, 32, 32, device="cuda")
    with torch.no_grad():
        eager = block(x)
        compiled = torch.compile(block, fullgraph=True)(x)
    torch.testing.assert_close(compiled, eager, rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------- the CUDA source's logic, on the host

_HARNESS = r"""
// Compile shift.cu as plain C++: CUDA qualifiers vanish, the launch geometry becomes globals that
// the test sets, so each extern "C" kernel runs one (block, thread) of a grid-stride launch.
struct shiftnet_dim3 { unsigned x; };
static shiftnet_dim3 blockIdx, blockDim, threadIdx, gridDim;
#define __global__
#define __device__
#define __forceinline__ inline
#define __restrict__ __restrict
#define __align__(n) alignas(n)
#include "shift.cu"
extern "C" void shiftnet_set_launch(unsigned grid, unsigned block, unsigned b, unsigned t) {
    gridDim.x = grid; blockDim.x = block; blockIdx.x = b; threadIdx.x = t;
}
"""

_BITS = {torch.float16: ("u16", torch.int16), torch.float32: ("u32", torch.int32), torch.float64: ("u64", torch.int64)}


@pytest.fixture(scope="module")
def host_kernels(tmp_path_factory):
    import ctypes

    compiler = shutil.which("g++") or shutil.which("c++")
    if compiler is None:
        pytest.skip("no C++ compiler to run the kernel source on the host")
    folder = tmp_path_factory.mktemp("hostkernel")
    (folder / "shift.cu").write_text(shift_cuda_module.kernel_source())
    (folder / "harness.cpp").write_text(_HARNESS)
    library = folder / "libshift.so"
    proc = subprocess.run([compiler, "-std=c++17", "-O1", "-shared", "-fPIC", "-I", str(folder),
                           str(folder / "harness.cpp"), "-o", str(library)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return ctypes.CDLL(str(library))


def _run_on_host(lib, x: torch.Tensor, out: torch.Tensor, layout: str, vec: int, index: str, k: int, d: int,
                 transpose: bool, grid: int, block: int) -> None:
    import ctypes

    bits = _BITS[x.dtype][0]
    function = getattr(lib, f"shift_{layout}_{bits}_v{vec}_{index}")
    packs_type = ctypes.c_int32 if index == "i32" else ctypes.c_int64
    function.argtypes = [ctypes.c_void_p, ctypes.c_void_p, packs_type] + [ctypes.c_int] * 7
    n, c, h, w = x.shape
    cs = (c // (k * k)) * (k * k)
    for b in range(grid):
        for t in range(block):
            lib.shiftnet_set_launch(grid, block, b, t)
            function(x.data_ptr(), out.data_ptr(), x.numel() // vec, c, h, w, k, d, cs, -1 if transpose else 1)


@pytest.mark.parametrize("dtype", list(_BITS))
@pytest.mark.parametrize("layout", ["nchw", "nhwc"])
@pytest.mark.parametrize(
    "kd,transpose", [((3, 1), False), ((3, 1), True), ((3, 2), False), ((5, 1), True), ((1, 1), False)]
)
def test_kernel_source_logic_matches_reference_on_the_host(host_kernels, dtype, layout, kd, transpose):
    """The real shift.cu, compiled for the CPU, against the PyTorch path, bit for bit, every
    element written (output poisoned first), for both vector widths, both index widths and a
    grid-stride launch with several blocks and threads."""
    torch.manual_seed(0)
    for shape in [(2, 23, 5, 8), (1, 18, 4, 4), (3, 16, 7, 16)]:
        x = torch.randn(shape).to(dtype)
        if layout == "nhwc":
            x = x.contiguous(memory_format=torch.channels_last)
        expected = shift_torch(x, *kd, transpose)
        inner = shape[3] if layout == "nchw" else shape[1]
        wide = {torch.float16: 8, torch.float32: 4, torch.float64: 2}[dtype]
        for vec in sorted({1, wide if inner % wide == 0 else 1}):
            for index, (grid, block) in (("i32", (1, 1)), ("i64", (3, 5))):
                out = torch.empty_like(x)
                out.view(_BITS[dtype][1]).fill_(-1)  # poison: all bits set
                _run_on_host(host_kernels, x, out, layout, vec, index, *kd, transpose, grid, block)
                assert torch.equal(out.view(_BITS[dtype][1]), expected.view(_BITS[dtype][1])), (shape, vec, index)


def test_a_kernel_that_cannot_be_built_is_reported_and_disables_itself(monkeypatch):
    def broken(device_index):
        raise RuntimeError("NVRTC_ERROR_COMPILATION (6)")

    monkeypatch.setattr(shift_cuda_module, "_module", broken)
    monkeypatch.setattr(shift_cuda_module, "_broken", None)
    shift_cuda_module._function.cache_clear()
    with pytest.raises(shift_cuda_module.KernelUnavailable, match="could not be built.*NVRTC_ERROR_COMPILATION"):
        shift_cuda_module._function(0, "shift_nchw_u32_v1_i32")
    assert not shift_cuda_module.available()  # later calls go straight to the PyTorch path
    shift_cuda_module._function.cache_clear()
    with pytest.warns(UserWarning, match="could not be built"):
        monkeypatch.setattr(shift_cuda_module, "_warned", False)
        shift_cuda_module.warn_fallback_once(shift_cuda_module._broken)
