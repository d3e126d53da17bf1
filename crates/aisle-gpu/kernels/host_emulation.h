// Host emulation of the little CUDA that kernels/preprocess.cu uses, so the very same source
// compiles as plain C++17 and runs on the CPU:
//
//   c++ -std=c++17 -O2 -ffp-contract=off -include host_emulation.h ... preprocess.cu
//
// `-ffp-contract=off` matters: it keeps `a + b * c` two IEEE roundings, as on the device (where
// the kernels use the `__f*_rn` intrinsics, which are never fused) and as in the Rust reference.
// Never add -ffast-math.
//
// What is emulated: the `__global__`/`__device__`/`__host__`/`__forceinline__` qualifiers, `dim3`,
// `uint3`, the index variables `threadIdx`, `blockIdx`, `blockDim`, `gridDim`, the IEEE
// round-to-nearest intrinsics `__fadd_rn`, `__fsub_rn`, `__fmul_rn`, `__fdiv_rn`, the bit cast
// `__float_as_uint`, and `min`, `max`, `floorf`. `launch(grid, block, kernel, args...)` runs every thread of every block one
// after the other on the calling thread. Nothing else is: no shared memory, no `__syncthreads`,
// no atomics, no warp functions (using one is a compile error, which is the point). Kernels
// written against this header must therefore be "one thread, one output" kernels whose threads
// never talk to each other.

#ifndef AISLE_HOST_EMULATION_H
#define AISLE_HOST_EMULATION_H

#if defined(__CUDACC__) || defined(__CUDACC_RTC__)
#error "host_emulation.h is for host (CPU) builds only; NVRTC compiles preprocess.cu without it"
#endif

#define AISLE_HOST_EMULATION 1

#include <algorithm>
#include <cmath>
#include <cstring>
#include <math.h>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
// `__restrict__` is a GCC and Clang keyword already.

struct uint3 {
    unsigned int x, y, z;
};

struct dim3 {
    unsigned int x, y, z;
    constexpr dim3(unsigned int x_ = 1, unsigned int y_ = 1, unsigned int z_ = 1)
        : x(x_), y(y_), z(z_) {}
};

// One set per host thread (C++17 inline variables: one definition across translation units).
inline thread_local uint3 threadIdx = {0, 0, 0};
inline thread_local uint3 blockIdx = {0, 0, 0};
inline thread_local dim3 blockDim;
inline thread_local dim3 gridDim;

// Round-to-nearest-even single-precision arithmetic: on x86-64 (SSE) and AArch64 the plain
// operators are exactly that, as long as the compiler does not contract them (see above).
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fdiv_rn(float a, float b) { return a / b; }

// The bits of a float, as the device intrinsic.
inline unsigned int __float_as_uint(float f) {
    unsigned int u;
    std::memcpy(&u, &f, sizeof u);
    return u;
}

using std::max;
using std::min;
// floorf comes from <math.h> in the global namespace, as on the device.

// Runs `kernel(args...)` for every (block, thread) of the launch, blocks and threads in
// x-fastest order, sequentially. The index variables are set before each call.
template <typename Kernel, typename... Args>
void launch(dim3 grid, dim3 block, Kernel kernel, Args... args) {
    gridDim = grid;
    blockDim = block;
    for (unsigned int bz = 0; bz < grid.z; ++bz)
        for (unsigned int by = 0; by < grid.y; ++by)
            for (unsigned int bx = 0; bx < grid.x; ++bx) {
                blockIdx = uint3{bx, by, bz};
                for (unsigned int tz = 0; tz < block.z; ++tz)
                    for (unsigned int ty = 0; ty < block.y; ++ty)
                        for (unsigned int tx = 0; tx < block.x; ++tx) {
                            threadIdx = uint3{tx, ty, tz};
                            kernel(args...);
                        }
            }
}

#endif  // AISLE_HOST_EMULATION_H
