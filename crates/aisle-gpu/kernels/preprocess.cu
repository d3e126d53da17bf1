// Aisle preprocessing kernels: NV12 frame -> model input tensor (f32), and batched
// crop-and-resize of boxes -> batch tensor (f32).
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
// the 3 channels of one output pixel; threads never communicate (no shared memory, no sync).

// Constants of the `layout` and `channel_order` arguments.
#define AISLE_LAYOUT_NCHW 0
#define AISLE_LAYOUT_NHWC 1
#define AISLE_ORDER_RGB 0
#define AISLE_ORDER_BGR 1

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

// Bilinear sample of the RGB image at the taps (xt, yt); `value` in reference order:
//   top = p00 + (p10 - p00) * fx, bottom = p01 + (p11 - p01) * fx, value = top + (bottom - top) * fy
__device__ __forceinline__ void aisle_bilinear(const unsigned char* __restrict__ y_plane,
                                               int y_pitch,
                                               const unsigned char* __restrict__ uv_plane,
                                               int uv_pitch, AisleTap xt, AisleTap yt,
                                               float value[3]) {
    float p00[3], p10[3], p01[3], p11[3];
    aisle_rgb_at(y_plane, y_pitch, uv_plane, uv_pitch, xt.i0, yt.i0, p00);
    aisle_rgb_at(y_plane, y_pitch, uv_plane, uv_pitch, xt.i1, yt.i0, p10);
    aisle_rgb_at(y_plane, y_pitch, uv_plane, uv_pitch, xt.i0, yt.i1, p01);
    aisle_rgb_at(y_plane, y_pitch, uv_plane, uv_pitch, xt.i1, yt.i1, p11);
    for (int c = 0; c < 3; ++c) {
        const float top = __fadd_rn(p00[c], __fmul_rn(__fsub_rn(p10[c], p00[c]), xt.f));
        const float bottom = __fadd_rn(p01[c], __fmul_rn(__fsub_rn(p11[c], p01[c]), xt.f));
        value[c] = __fadd_rn(top, __fmul_rn(__fsub_rn(bottom, top), yt.f));
    }
}

// Writes the 3 channels of one output pixel: `vals` is RGB; with AISLE_ORDER_BGR output channel
// c takes colour 2 - c. `mean`/`std` are per *output* channel. `base` is the tensor's start
// (the batch item's, for crops).
__device__ __forceinline__ void aisle_store(float* __restrict__ base, int out_w, int out_h, int ox,
                                            int oy, int layout, int channel_order,
                                            const float vals[3], const float mean[3],
                                            const float std_[3], bool normalise) {
    const long long plane = (long long)out_w * out_h;
    const long long pix = (long long)oy * out_w + ox;
    for (int c = 0; c < 3; ++c) {
        const float v = vals[channel_order == AISLE_ORDER_BGR ? 2 - c : c];
        const float n = normalise ? __fdiv_rn(__fsub_rn(v, mean[c]), std_[c]) : v;
        const long long idx = layout == AISLE_LAYOUT_NHWC ? pix * 3 + c : c * plane + pix;
        base[idx] = n;
    }
}

// NV12 frame -> one model input tensor, out_w x out_h x 3 f32 (NCHW or NHWC).
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
    float* __restrict__ out, int out_w, int out_h, int px, int py, int cw, int ch, float sx,
    float sy, int layout, int channel_order, float mean0, float mean1, float mean2, float std0,
    float std1, float std2, float pad0, float pad1, float pad2) {
    const int ox = (int)(blockIdx.x * blockDim.x + threadIdx.x);
    const int oy = (int)(blockIdx.y * blockDim.y + threadIdx.y);
    if (ox >= out_w || oy >= out_h) return;
    const float mean[3] = {mean0, mean1, mean2};
    const float std_[3] = {std0, std1, std2};
    const bool inside = oy >= py && oy < py + ch && ox >= px && ox < px + cw;
    if (!inside) {
        // Already in output channel order: no BGR swap for the pad colour.
        const float pad[3] = {pad0, pad1, pad2};
        float n[3];
        for (int c = 0; c < 3; ++c) n[c] = __fdiv_rn(__fsub_rn(pad[c], mean[c]), std_[c]);
        aisle_store(out, out_w, out_h, ox, oy, layout, AISLE_ORDER_RGB, n, mean, std_, false);
        return;
    }
    const AisleTap xt =
        aisle_tap(__fsub_rn(__fmul_rn(__fadd_rn((float)(ox - px), 0.5f), sx), 0.5f), frame_w);
    const AisleTap yt =
        aisle_tap(__fsub_rn(__fmul_rn(__fadd_rn((float)(oy - py), 0.5f), sy), 0.5f), frame_h);
    float value[3];
    aisle_bilinear(y_plane, y_pitch, uv_plane, uv_pitch, xt, yt, value);
    aisle_store(out, out_w, out_h, ox, oy, layout, channel_order, value, mean, std_, true);
}

// Batched crop-and-resize: box b = boxes[4b .. 4b + 4] = (x1, y1, x2, y2) in frame pixels (f32,
// continuous coordinates: pixel i covers [i, i + 1), its centre is i + 0.5) is stretched to
// out_w x out_h and written as batch item b of an [n, 3, out_h, out_w] (NCHW) or
// [n, out_h, out_w, 3] (NHWC) f32 tensor, normalised (value - mean[c]) / std[c].
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
    const float* __restrict__ boxes, int n_boxes, float* __restrict__ out, int out_w, int out_h,
    int layout, int channel_order, float mean0, float mean1, float mean2, float std0, float std1,
    float std2) {
    const int ox = (int)(blockIdx.x * blockDim.x + threadIdx.x);
    const int oy = (int)(blockIdx.y * blockDim.y + threadIdx.y);
    if (ox >= out_w || oy >= out_h) return;
    const float mean[3] = {mean0, mean1, mean2};
    const float std_[3] = {std0, std1, std2};
    const long long item = 3LL * out_w * out_h;
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
        aisle_bilinear(y_plane, y_pitch, uv_plane, uv_pitch, xt, yt, value);
        aisle_store(out + item * b, out_w, out_h, ox, oy, layout, channel_order, value, mean, std_,
                    true);
    }
}
