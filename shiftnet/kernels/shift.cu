// Shift kernels for shiftnet (compiled at run time by CuPy/NVRTC; no build step).
//
// Semantics (docs/original.md#shift): channel c < cs = floor(C/k^2)*k^2 belongs to group g = c mod k^2,
// (i, j) = (g / k, g % k), (dy, dx) = sign*d*(i - k/2, j - k/2); Y[n,c,y,x] = X[n,c,y+dy,x+dx] when that
// lies inside the image, else 0. Channels c >= cs are copied. sign = -1 gives the adjoint (backward).
//
// A shift only moves data, so the kernels move raw bits: T is an unsigned integer of the element's
// width (u16 for float16/bfloat16, u32 for float32, u64 for float64). Zero bits are +0.0 in every
// float format, so no half-precision headers are needed and the result is bit-exact by construction.
//
// Each thread writes V consecutive elements of the innermost dimension (W for NCHW, C for NHWC) with
// one aligned vector store (V * sizeof(T) = 16 bytes where the shape allows, else V = 1); loads are
// scalar because a shifted window is not aligned. A grid-stride loop covers any size; IndexT is
// int for tensors below 2^31 elements and long long above. Every output element is written once.

template <typename T, int V>
struct __align__(sizeof(T) * V) Pack {
    T v[V];
};

template <typename T, int V, typename IndexT>
__device__ __forceinline__ void shift_nchw_body(const T* __restrict__ x, T* __restrict__ y, IndexT packs,
                                                int C, int H, int W, int k, int d, int cs, int sign) {
    const int groups = k * k;
    const int half = k / 2;
    const int wpacks = W / V;
    for (IndexT p = (IndexT)blockIdx.x * blockDim.x + threadIdx.x; p < packs; p += (IndexT)gridDim.x * blockDim.x) {
        const int w0 = (int)(p % wpacks) * V;
        IndexT t = p / wpacks;
        const int h = (int)(t % H);
        t /= H;
        const int c = (int)(t % C);
        const IndexT base = t * H * W + (IndexT)h * W + w0;  // t = n*C + c
        int dy = 0, dx = 0;
        if (c < cs) {
            const int g = c % groups;
            dy = sign * d * (g / k - half);
            dx = sign * d * (g % k - half);
        }
        const int sh = h + dy;
        const bool row_ok = sh >= 0 && sh < H;
        Pack<T, V> out;
#pragma unroll
        for (int v = 0; v < V; ++v) {
            const int sw = w0 + v + dx;
            out.v[v] = (row_ok && sw >= 0 && sw < W) ? x[base + v + (IndexT)dy * W + dx] : T(0);
        }
        *reinterpret_cast<Pack<T, V>*>(y + base) = out;
    }
}

template <typename T, int V, typename IndexT>
__device__ __forceinline__ void shift_nhwc_body(const T* __restrict__ x, T* __restrict__ y, IndexT packs,
                                                int C, int H, int W, int k, int d, int cs, int sign) {
    const int groups = k * k;
    const int half = k / 2;
    const int cpacks = C / V;
    for (IndexT p = (IndexT)blockIdx.x * blockDim.x + threadIdx.x; p < packs; p += (IndexT)gridDim.x * blockDim.x) {
        const int c0 = (int)(p % cpacks) * V;
        IndexT t = p / cpacks;
        const int w = (int)(t % W);
        t /= W;
        const int h = (int)(t % H);
        const IndexT base = ((t * W) + w) * C + c0;  // t = n*H + h
        Pack<T, V> out;
#pragma unroll
        for (int v = 0; v < V; ++v) {
            const int c = c0 + v;
            int dy = 0, dx = 0;
            if (c < cs) {
                const int g = c % groups;
                dy = sign * d * (g / k - half);
                dx = sign * d * (g % k - half);
            }
            const int sh = h + dy, sw = w + dx;
            out.v[v] = (sh >= 0 && sh < H && sw >= 0 && sw < W) ? x[base + v + ((IndexT)dy * W + dx) * C] : T(0);
        }
        *reinterpret_cast<Pack<T, V>*>(y + base) = out;
    }
}

typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;

#define SHIFTNET_KERNEL(LAYOUT, T, V, IDX, IDXNAME)                                                          \
    extern "C" __global__ void shift_##LAYOUT##_##T##_v##V##_##IDXNAME(                                     \
        const T* __restrict__ x, T* __restrict__ y, IDX packs, int C, int H, int W, int k, int d, int cs,   \
        int sign) {                                                                                         \
        shift_##LAYOUT##_body<T, V, IDX>(x, y, packs, C, H, W, k, d, cs, sign);                             \
    }

#define SHIFTNET_KERNELS_FOR(T, VEC)               \
    SHIFTNET_KERNEL(nchw, T, 1, int, i32)          \
    SHIFTNET_KERNEL(nchw, T, 1, long long, i64)    \
    SHIFTNET_KERNEL(nchw, T, VEC, int, i32)        \
    SHIFTNET_KERNEL(nchw, T, VEC, long long, i64)  \
    SHIFTNET_KERNEL(nhwc, T, 1, int, i32)          \
    SHIFTNET_KERNEL(nhwc, T, 1, long long, i64)    \
    SHIFTNET_KERNEL(nhwc, T, VEC, int, i32)        \
    SHIFTNET_KERNEL(nhwc, T, VEC, long long, i64)

SHIFTNET_KERNELS_FOR(u16, 8)
SHIFTNET_KERNELS_FOR(u32, 4)
SHIFTNET_KERNELS_FOR(u64, 2)
