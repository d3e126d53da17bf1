// Aisle preprocessing kernels: NV12 frame -> model input tensor, and batched crop-and-resize
// of boxes -> batch tensor; RGB, BGR or gray channels, f32 or f16 values, NCHW or NHWC.
//
// The arithmetic is that of the CPU reference, crates/aisle-vision/src/preprocess.rs (its module
// docs are the specification), operation for operation, so that the results are bit-identical:
// integer BT.601 colour conversion of each of the four bilinear taps (nearest chroma sample),
// pixel-centre sampling positions clamped to the frame, interpolation and normalisation in f32
// in the reference's order. Every f32 add, subtract, multiply and divide is written with the
// round-to-nearest intrinsics (`__fadd_rn`, `__fsub_rn`, `__fmul_rn`, `__fdiv_rn`): they are
// never fused into FMAs and stay IEEE under any NVRTC flags (`--fmad`, `--use_fast_math`), so
// the result does not depend on how the launcher compiles this file.
//
// Built two ways, from this one file:
//   device: NVRTC, no headers; entry points are `extern "C" __global__` (unmangled names).
//   host:   c++ -std=c++17 -O2 -ffp-contract=off -include host_emulation.h (see host_driver.cpp
//           and tests/kernel_parity.rs, which hold the host build to the CPU reference).
// Only built-in types are used; nothing here may depend on a CUDA header.
//
// Launch (both kernels): 2-D blocks (16 x 16 is the reference configuration; any shape works),
// grid.x = ceil(out_w / block.x), grid.y = ceil(out_h / block.y); crop_resize_batch also uses
// grid.z (any value >= 1, at most 65535; each z-slice strides over the boxes). One thread writes
// the channels of one output pixel; threads never communicate (no shared memory, no sync).

// Constants of the `layout`, `color` and `dtype` arguments.
#define AISLE_LAYOUT_NCHW 0
#define AISLE_LAYOUT_NHWC 1
#define AISLE_COLOR_RGB 0
#define AISLE_COLOR_BGR 1
#define AISLE_COLOR_GRAY 2
#define AISLE_DTYPE_F32 0
#define AISLE_DTYPE_F16 1

// IEEE binary16 bits of `f`, rounded to nearest, ties to even (as half::f16::from_f32 of the
// Rust reference): overflow to infinity, gradual underflow to subnormals, NaN stays NaN. Written
// with integer operations so that it needs no CUDA header (cuda_fp16.h) and runs on the host.
__device__ __forceinline__ unsigned short aisle_f16_bits(float f) {
    const unsigned int x = __float_as_uint(f);
    const unsigned int sign = (x >> 16) & 0x8000u;
    const unsigned int ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) {  // infinity, NaN (quiet, top mantissa bits kept)
        const unsigned int man = ax & 0x7fffffu;
        return (unsigned short)(sign | 0x7c00u | (man != 0u ? 0x200u : 0u) | (man >> 13));
    }
    if (ax >= 0x477ff000u) return (unsigned short)(sign | 0x7c00u);  // >= 65520: infinity
    if (ax >= 0x38800000u) {  // normal: rebias the exponent, round 23 -> 10 mantissa bits
        const unsigned int r = ax - 0x38000000u;
        return (unsigned short)(sign | ((r + 0xfffu + ((r >> 13) & 1u)) >> 13));
    }
    if (ax < 0x33000000u) return (unsigned short)sign;  // < 2^-25: zero
    // Subnormal: value = m * 2^-24 with m = (1.mantissa) * 2^(e - 126 + 23) / 2^23.
    const unsigned int e = ax >> 23;
    const unsigned int m = (ax & 0x7fffffu) | 0x800000u;
    const unsigned int shift = 126u - e;  // 14..=24
    const unsigned int q = m >> shift;
    const unsigned int rem = m & ((1u << shift) - 1u);
    const unsigned int halfway = 1u << (shift - 1u);
    const unsigned int up = (rem > halfway || (rem == halfway && (q & 1u) != 0u)) ? 1u : 0u;
    return (unsigned short)(sign | (q + up));
}

// Writes `v` as element `idx` of the f32 or f16 tensor at `base`.
__device__ __forceinline__ void aisle_put(void* __restrict__ base, long long idx, int dtype,
                                          float v) {
    if (dtype == AISLE_DTYPE_F16) {
        ((unsigned short*)base)[idx] = aisle_f16_bits(v);
    } else {
        ((float*)base)[idx] = v;
    }
}

// clamp(x, 0, 255)
__device__ __forceinline__ int aisle_clamp_u8(int x) {
    return x < 0 ? 0 : (x > 255 ? 255 : x);
}

// BT.601 limited-range integer YUV -> RGB of the source pixel (x, y), chroma from (x/2, y/2)
// (nearest chroma sample). `>>` is an arithmetic shift for int on the device and on every host
// compiler we build with, as in the reference. Returns the values as f32 (exact, 0..255).
__device__ __forceinline__ void aisle_rgb_at(const unsigned char* __restrict__ y_plane, int y_pitch,
                                             const unsigned char* __restrict__ uv_plane,
                                             int uv_pitch, int x, int y, float rgb[3]) {
    const int c = (int)y_plane[(long long)y * y_pitch + x] - 16;
    const unsigned char* uv = uv_plane + (long long)(y >> 1) * uv_pitch + (x >> 1) * 2;
    const int d = (int)uv[0] - 128;
    const int e = (int)uv[1] - 128;
    rgb[0] = (float)aisle_clamp_u8((298 * c + 409 * e + 128) >> 8);
    rgb[1] = (float)aisle_clamp_u8((298 * c - 100 * d - 208 * e + 128) >> 8);
    rgb[2] = (float)aisle_clamp_u8((298 * c + 516 * d + 128) >> 8);
}

// The 8-bit gray value of an RGB pixel, OpenCV's COLOR_RGB2GRAY:
// (4899 R + 9617 G + 1868 B + 8192) >> 14, as f32 (exact, 0..255).
__device__ __forceinline__ float aisle_gray_of(const float rgb[3]) {
    const int g = (4899 * (int)rgb[0] + 9617 * (int)rgb[1] + 1868 * (int)rgb[2] + 8192) >> 14;
    return (float)g;
}

// One bilinear tap along one axis: the reference's `axis_taps`.
//   u  = ((o + 0.5) * scale) - 0.5, clamped to [0, n_src - 1] (NaN -> 0)
//   i0 = floor(u), i1 = min(i0 + 1, n_src - 1), f = u - i0
struct AisleTap {
    int i0;
    int i1;
    float f;
};

__device__ __forceinline__ AisleTap aisle_tap(float u, int n_src) {
    const float hi = (float)(n_src - 1);
    if (!(u >= 0.0f)) u = 0.0f;  // also maps NaN to 0 (unreachable for valid geometry)
    if (u > hi) u = hi;
    const float fl = floorf(u);
    AisleTap t;
    t.i0 = (int)fl;
    t.i1 = min(t.i0 + 1, n_src - 1);
    t.f = __fsub_rn(u, fl);
    return t;
}

// Bilinear sample of the RGB image (or, with AISLE_COLOR_GRAY, of its gray values, in
// value[0]) at the taps (xt, yt); `value` in reference order:
//   top = p00 + (p10 - p00) * fx, bottom = p01 + (p11 - p01) * fx, value = top + (bottom - top) * fy
__device__ __forceinline__ void aisle_bilinear(const unsigned char* __restrict__ y_plane,
                                               int y_pitch,
                                               const unsigned char* __restrict__ uv_plane,
                                               int uv_pitch, AisleTap xt, AisleTap yt, int color,
                                               float value[3]) {
    float p00[3], p10[3], p01[3], p11[3];
    aisle_rgb_at(y_plane, y_pitch, uv_plane, uv_pitch, xt.i0, yt.i0, p00);
    aisle_rgb_at(y_plane, y_pitch, uv_plane, uv_pitch, xt.i1, yt.i0, p10);
    aisle_rgb_at(y_plane, y_pitch, uv_plane, uv_pitch, xt.i0, yt.i1, p01);
    aisle_rgb_at(y_plane, y_pitch, uv_plane, uv_pitch, xt.i1, yt.i1, p11);
    if (color == AISLE_COLOR_GRAY) {
        const float g00 = aisle_gray_of(p00), g10 = aisle_gray_of(p10);
        const float g01 = aisle_gray_of(p01), g11 = aisle_gray_of(p11);
        const float top = __fadd_rn(g00, __fmul_rn(__fsub_rn(g10, g00), xt.f));
        const float bottom = __fadd_rn(g01, __fmul_rn(__fsub_rn(g11, g01), xt.f));
        value[0] = __fadd_rn(top, __fmul_rn(__fsub_rn(bottom, top), yt.f));
        return;
    }
    for (int c = 0; c < 3; ++c) {
        const float top = __fadd_rn(p00[c], __fmul_rn(__fsub_rn(p10[c], p00[c]), xt.f));
        const float bottom = __fadd_rn(p01[c], __fmul_rn(__fsub_rn(p11[c], p01[c]), xt.f));
        value[c] = __fadd_rn(top, __fmul_rn(__fsub_rn(bottom, top), yt.f));
    }
}

// Writes the channels of one output pixel (3, or 1 for gray): `vals` is RGB (or gray in
// vals[0]); with AISLE_COLOR_BGR output channel c takes colour 2 - c. `mean`/`std` are per
// *output* channel. `first` is the element index of the tensor's start (the batch item's, for
// crops) in `base`.
__device__ __forceinline__ void aisle_store(void* __restrict__ base, long long first, int out_w,
                                            int out_h, int ox, int oy, int layout, int color,
                                            int dtype, const float vals[3], const float mean[3],
                                            const float std_[3], bool normalise) {
    const long long plane = (long long)out_w * out_h;
    const long long pix = (long long)oy * out_w + ox;
    if (color == AISLE_COLOR_GRAY) {  // one channel: the index is the pixel's in either layout
        const float o = normalise ? __fdiv_rn(__fsub_rn(vals[0], mean[0]), std_[0]) : vals[0];
        aisle_put(base, first + pix, dtype, o);
        return;
    }
    // Channels picked by selects, not by a computed index: keeps `vals` in registers.
    const bool bgr = color == AISLE_COLOR_BGR;
    const float v[3] = {bgr ? vals[2] : vals[0], vals[1], bgr ? vals[0] : vals[2]};
    for (int c = 0; c < 3; ++c) {
        const float o = normalise ? __fdiv_rn(__fsub_rn(v[c], mean[c]), std_[c]) : v[c];
        const long long idx = layout == AISLE_LAYOUT_NHWC ? pix * 3 + c : c * plane + pix;
        aisle_put(base, first + idx, dtype, o);
    }
}

// NV12 frame -> one model input tensor, out_w x out_h x (3 or 1) values, NCHW or NHWC, f32 or
// f16 (`dtype`; `out` points to floats or to binary16 bit patterns).
//
// Geometry (computed on the host exactly as preprocess.rs `geometry()` does, passed in):
// the content region is [px, px + cw) x [py, py + ch) of the output; sx = W / cw, sy = H / ch
// (f32 divisions of the frame size). Stretch: px = py = 0, cw = out_w, ch = out_h.
// Letterbox: s = min(out_w / W, out_h / H), cw = round(W * s), ch = round(H * s) (clamped to
// 1..=out size), px = (out_w - cw) / 2, py = (out_h - ch) / 2 (integer division).
//
// Output pixel (ox, oy) in the content region samples u = ((ox - px) + 0.5) * sx - 0.5,
// v = ((oy - py) + 0.5) * sy - 0.5 (see aisle_tap), then out = (value - mean[c]) / std[c].
// Pixels outside the content region get (pad[c] - mean[c]) / std[c]; `pad` is the 0..255 colour
// per output channel (as the manifest's `pad`).
extern "C" __global__ void nv12_to_tensor(
    const unsigned char* __restrict__ y_plane, int y_pitch,
    const unsigned char* __restrict__ uv_plane, int uv_pitch, int frame_w, int frame_h,
    void* __restrict__ out, int out_w, int out_h, int px, int py, int cw, int ch, float sx,
    float sy, int layout, int color, int dtype, float mean0, float mean1, float mean2,
    float std0, float std1, float std2, float pad0, float pad1, float pad2) {
    const int ox = (int)(blockIdx.x * blockDim.x + threadIdx.x);
    const int oy = (int)(blockIdx.y * blockDim.y + threadIdx.y);
    if (ox >= out_w || oy >= out_h) return;
    const float mean[3] = {mean0, mean1, mean2};
    const float std_[3] = {std0, std1, std2};
    const bool inside = oy >= py && oy < py + ch && ox >= px && ox < px + cw;
    if (!inside) {
        // Already in output channel order: no BGR swap for the pad colour (gray: pad0 only).
        const float pad[3] = {pad0, pad1, pad2};
        float n[3];
        for (int c = 0; c < 3; ++c) n[c] = __fdiv_rn(__fsub_rn(pad[c], mean[c]), std_[c]);
        aisle_store(out, 0, out_w, out_h, ox, oy, layout,
                    color == AISLE_COLOR_GRAY ? AISLE_COLOR_GRAY : AISLE_COLOR_RGB, dtype, n, mean,
                    std_, false);
        return;
    }
    const AisleTap xt =
        aisle_tap(__fsub_rn(__fmul_rn(__fadd_rn((float)(ox - px), 0.5f), sx), 0.5f), frame_w);
    const AisleTap yt =
        aisle_tap(__fsub_rn(__fmul_rn(__fadd_rn((float)(oy - py), 0.5f), sy), 0.5f), frame_h);
    float value[3];
    aisle_bilinear(y_plane, y_pitch, uv_plane, uv_pitch, xt, yt, color, value);
    aisle_store(out, 0, out_w, out_h, ox, oy, layout, color, dtype, value, mean, std_, true);
}

// Batched crop-and-resize: box b = boxes[4b .. 4b + 4] = (x1, y1, x2, y2) in frame pixels (f32,
// continuous coordinates: pixel i covers [i, i + 1), its centre is i + 0.5) is stretched to
// out_w x out_h and written as batch item b of an [n, c, out_h, out_w] (NCHW) or
// [n, out_h, out_w, c] (NHWC) tensor, c = 3 (RGB, BGR) or 1 (gray), f32 or f16, normalised
// (value - mean[c]) / std[c].
//
// Sampling (the frame-level rule with the crop's origin and scale):
//   sx = (x2 - x1) / out_w,  u = (x1 + (ox + 0.5) * sx) - 0.5
//   sy = (y2 - y1) / out_h,  v = (y1 + (oy + 0.5) * sy) - 0.5
// each an f32 operation in that order, then clamped to [0, W - 1] x [0, H - 1] (NaN -> 0) and
// interpolated as in nv12_to_tensor. So parts of a box outside the frame repeat the edge pixels
// (no padding), a box of zero width samples the boundary column x1 - 0.5, and x2 < x1 mirrors.
extern "C" __global__ void crop_resize_batch(
    const unsigned char* __restrict__ y_plane, int y_pitch,
    const unsigned char* __restrict__ uv_plane, int uv_pitch, int frame_w, int frame_h,
    const float* __restrict__ boxes, int n_boxes, void* __restrict__ out, int out_w, int out_h,
    int layout, int color, int dtype, float mean0, float mean1, float mean2, float std0,
    float std1, float std2) {
    const int ox = (int)(blockIdx.x * blockDim.x + threadIdx.x);
    const int oy = (int)(blockIdx.y * blockDim.y + threadIdx.y);
    if (ox >= out_w || oy >= out_h) return;
    const float mean[3] = {mean0, mean1, mean2};
    const float std_[3] = {std0, std1, std2};
    const long long item = (color == AISLE_COLOR_GRAY ? 1LL : 3LL) * out_w * out_h;
    for (int b = (int)blockIdx.z; b < n_boxes; b += (int)gridDim.z) {
        const float x1 = boxes[4 * (long long)b + 0];
        const float y1 = boxes[4 * (long long)b + 1];
        const float x2 = boxes[4 * (long long)b + 2];
        const float y2 = boxes[4 * (long long)b + 3];
        const float sx = __fdiv_rn(__fsub_rn(x2, x1), (float)out_w);
        const float sy = __fdiv_rn(__fsub_rn(y2, y1), (float)out_h);
        const AisleTap xt = aisle_tap(
            __fsub_rn(__fadd_rn(x1, __fmul_rn(__fadd_rn((float)ox, 0.5f), sx)), 0.5f), frame_w);
        const AisleTap yt = aisle_tap(
            __fsub_rn(__fadd_rn(y1, __fmul_rn(__fadd_rn((float)oy, 0.5f), sy)), 0.5f), frame_h);
        float value[3];
        aisle_bilinear(y_plane, y_pitch, uv_plane, uv_pitch, xt, yt, color, value);
        aisle_store(out, item * b, out_w, out_h, ox, oy, layout, color, dtype, value, mean, std_,
                    true);
    }
}
