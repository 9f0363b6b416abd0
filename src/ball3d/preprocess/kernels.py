"""Per-pixel pre-processing operations, written once, compiled for the CPU and for CUDA.

``_define(jit)`` holds the only copy of every per-pixel function. It is called with
``numba.njit`` (CPU; the kernels loop over rows with ``prange``) and, lazily, with
``numba.cuda.jit(device=True)`` (GPU; one thread per output pixel). Sampling is fixed-point
integer arithmetic (positions in 1/32 px, like OpenCV's remap), so both back-ends produce
bit-identical outputs on any hardware; the tests check this under ``NUMBA_ENABLE_CUDASIM=1``.

Operations: bilinear ``remap`` (undistortion) at T precomputed taps per output pixel, averaged
(downscaling; tables from ``ball3d.preprocess.fixed_point_tables``), ``tone`` (colour
normalisation and low-light gain through a per-channel 256-entry look-up table), ``background``
(running mean of the luminance and foreground mask) and ``stack`` (consecutive frames as channels).
"""
from __future__ import annotations

from numba import njit, prange


def _define(jit):
    @jit
    def tap(src, x0, y0, c, w00, w01, w10, w11):
        return (int(src[y0, x0, c]) * w00 + int(src[y0, x0 + 1, c]) * w01
                + int(src[y0 + 1, x0, c]) * w10 + int(src[y0 + 1, x0 + 1, c]) * w11)

    @jit
    def bilinear3(src, x0, y0, fx, fy):
        """Fixed-point bilinear sample (fx, fy in 1/32 px, weights sum to 1024) of 3 channels, x 1024."""
        w00, w01, w10, w11 = (32 - fx) * (32 - fy), fx * (32 - fy), (32 - fx) * fy, fx * fy
        return (tap(src, x0, y0, 0, w00, w01, w10, w11), tap(src, x0, y0, 1, w00, w01, w10, w11),
                tap(src, x0, y0, 2, w00, w01, w10, w11))

    @jit
    def remap_px(src, tx, ty, tfx, tfy, y, x):
        """Undistort + downscale: mean of the T bilinear taps of output pixel (y, x); tx < 0 = outside."""
        n = tx.shape[0]
        if n == 1:  # the common case (scale 2): one tap, a shift instead of a division
            x0 = int(tx[0, y, x])
            if x0 < 0:
                return 0, 0, 0
            b, g, r = bilinear3(src, x0, int(ty[0, y, x]), int(tfx[0, y, x]), int(tfy[0, y, x]))
            return (b + 512) >> 10, (g + 512) >> 10, (r + 512) >> 10
        b = g = r = 0
        for k in range(n):
            x0 = int(tx[k, y, x])
            if x0 >= 0:
                sb, sg, sr = bilinear3(src, x0, int(ty[k, y, x]), int(tfx[k, y, x]), int(tfy[k, y, x]))
                b, g, r = b + sb, g + sg, r + sr
        half, den = 512 * n, 1024 * n
        return (b + half) // den, (g + half) // den, (r + half) // den

    @jit
    def tone_px(lut, c, v):
        """Colour normalisation + low-light gain: per-channel uint8 look-up table (0 <= v <= 255 by construction)."""
        return lut[c, v]

    @jit
    def background_px(lum, bg, y, x, alpha_q, thr_q):
        """Running-mean background (grey x 256, int32) updated by alpha_q / 65536; 1 = foreground."""
        d = lum * 256 - int(bg[y, x])
        bg[y, x] = int(bg[y, x]) + ((alpha_q * d) >> 16)
        return 1 if abs(d) > thr_q else 0

    @jit
    def remap_tone_px(src, tx, ty, tfx, tfy, lut, out, y, x):
        b, g, r = remap_px(src, tx, ty, tfx, tfy, y, x)
        qb, qg, qr = tone_px(lut, 0, b), tone_px(lut, 1, g), tone_px(lut, 2, r)
        out[y, x, 0], out[y, x, 1], out[y, x, 2] = qb, qg, qr
        return (29 * int(qb) + 150 * int(qg) + 77 * int(qr) + 128) >> 8  # luminance, BT.601 weights / 256

    @jit
    def chain_px(src, tx, ty, tfx, tfy, lut, bg, out, mask, y, x, alpha_q, thr_q):
        lum = remap_tone_px(src, tx, ty, tfx, tfy, lut, out, y, x)
        mask[y, x] = background_px(lum, bg, y, x, alpha_q, thr_q)

    @jit
    def stack_px(frames, t, k, y, x, out):
        C = frames.shape[3]
        for j in range(k):
            s = max(t - (k - 1) + j, 0)
            for c in range(C):
                out[y, x, j * C + c] = frames[s, y, x, c]

    return {"remap_tone_px": remap_tone_px, "chain_px": chain_px, "stack_px": stack_px}


_CPU = _define(njit(inline="always"))  # IR inlining: 3x faster than calls
_cpu_remap_tone_px, _cpu_chain_px, _cpu_stack_px = _CPU["remap_tone_px"], _CPU["chain_px"], _CPU["stack_px"]


@njit(parallel=True, cache=True)
def _cpu_remap_tone(src, tx, ty, tfx, tfy, lut, out):
    for y in prange(out.shape[0]):
        for x in range(out.shape[1]):
            _cpu_remap_tone_px(src, tx, ty, tfx, tfy, lut, out, y, x)


@njit(parallel=True, cache=True)
def _cpu_chain(src, tx, ty, tfx, tfy, lut, bg, out, mask, alpha_q, thr_q):
    for y in prange(out.shape[0]):
        for x in range(out.shape[1]):
            _cpu_chain_px(src, tx, ty, tfx, tfy, lut, bg, out, mask, y, x, alpha_q, thr_q)


@njit(parallel=True, cache=True)
def _cpu_stack(frames, t, k, out):
    for y in prange(out.shape[0]):
        for x in range(out.shape[1]):
            _cpu_stack_px(frames, t, k, y, x, out)


_GPU: dict | None = None
cuda = None  # numba.cuda, imported on first GPU use


def gpu_available() -> bool:
    """True when numba finds a CUDA device (or the CUDA simulator is enabled)."""
    try:
        from numba import cuda

        return bool(cuda.is_available())
    except Exception:  # noqa: BLE001 - a broken CUDA install means "no GPU"
        return False


def gpu_kernels() -> dict:
    """CUDA kernels built from the same per-pixel functions (compiled on first use)."""
    global _GPU, cuda  # kernels must see `cuda` as a module global (the CUDA simulator swaps it)
    if _GPU is None:
        from numba import cuda

        ns = _define(cuda.jit(device=True))
        remap_tone_px, chain_px, stack_px = ns["remap_tone_px"], ns["chain_px"], ns["stack_px"]

        @cuda.jit
        def remap_tone(src, tx, ty, tfx, tfy, lut, out):
            y, x = cuda.grid(2)
            if y < out.shape[0] and x < out.shape[1]:
                remap_tone_px(src, tx, ty, tfx, tfy, lut, out, y, x)

        @cuda.jit
        def chain(src, tx, ty, tfx, tfy, lut, bg, out, mask, alpha_q, thr_q):
            y, x = cuda.grid(2)
            if y < out.shape[0] and x < out.shape[1]:
                chain_px(src, tx, ty, tfx, tfy, lut, bg, out, mask, y, x, alpha_q, thr_q)

        @cuda.jit
        def stack(frames, t, k, out):
            y, x = cuda.grid(2)
            if y < out.shape[0] and x < out.shape[1]:
                stack_px(frames, t, k, y, x, out)

        _GPU = {"remap_tone": remap_tone, "chain": chain, "stack": stack, "cuda": cuda}
    return _GPU


def launch_grid(h: int, w: int, block: tuple[int, int] = (8, 32)):
    """(blocks, threads) covering an h x w output with one thread per pixel."""
    return ((h + block[0] - 1) // block[0], (w + block[1] - 1) // block[1]), block


CPU_KERNELS = {"remap_tone": _cpu_remap_tone, "chain": _cpu_chain, "stack": _cpu_stack}
