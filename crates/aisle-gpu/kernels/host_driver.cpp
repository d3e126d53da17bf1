// Test-only host driver: builds kernels/preprocess.cu as plain C++ (under host_emulation.h) into
// a shared library with a C ABI, so tests/kernel_parity.rs can run the kernels on the CPU and
// compare them with the Rust reference. Never shipped; the device build is NVRTC's.
//
//   c++ -std=c++17 -O2 -ffp-contract=off -fPIC -shared -include host_emulation.h
//       host_driver.cpp -o libaisle_kernels_host.so
//
// The kernel source is included (one translation unit), so the launch wrappers below call the
// kernels with their real signatures: a mismatch is a compile error, not a silent ABI bug.
// Each wrapper launches the way the device launcher does: 2-D blocks of block_x x block_y
// threads, grid = ceil(out / block); crop_resize_batch also takes grid.z.

#ifndef AISLE_HOST_EMULATION
#error "compile with -include host_emulation.h"
#endif

#include "preprocess.cu"

namespace {
unsigned int blocks_for(int n, unsigned int block) {
    return (static_cast<unsigned int>(n) + block - 1) / block;
}
}  // namespace

extern "C" {

// The ABI version of this file's exports; the test checks it before calling anything.
int aisle_host_abi_version(void) { return 2; }

void aisle_host_nv12_to_tensor(const unsigned char* y_plane, int y_pitch,
                               const unsigned char* uv_plane, int uv_pitch, int frame_w,
                               int frame_h, void* out, int out_w, int out_h, int px, int py,
                               int cw, int ch, float sx, float sy, int layout, int color, int dtype,
                               const float* mean, const float* std_, const float* pad,
                               unsigned int block_x, unsigned int block_y) {
    const dim3 block(block_x, block_y, 1);
    const dim3 grid(blocks_for(out_w, block_x), blocks_for(out_h, block_y), 1);
    launch(grid, block, nv12_to_tensor, y_plane, y_pitch, uv_plane, uv_pitch, frame_w, frame_h,
           out, out_w, out_h, px, py, cw, ch, sx, sy, layout, color, dtype, mean[0], mean[1],
           mean[2], std_[0], std_[1], std_[2], pad[0], pad[1], pad[2]);
}

void aisle_host_crop_resize_batch(const unsigned char* y_plane, int y_pitch,
                                  const unsigned char* uv_plane, int uv_pitch, int frame_w,
                                  int frame_h, const float* boxes, int n_boxes, void* out,
                                  int out_w, int out_h, int layout, int color, int dtype,
                                  const float* mean, const float* std_, unsigned int block_x,
                                  unsigned int block_y, unsigned int grid_z) {
    const dim3 block(block_x, block_y, 1);
    const dim3 grid(blocks_for(out_w, block_x), blocks_for(out_h, block_y), grid_z);
    launch(grid, block, crop_resize_batch, y_plane, y_pitch, uv_plane, uv_pitch, frame_w,
           frame_h, boxes, n_boxes, out, out_w, out_h, layout, color, dtype, mean[0], mean[1],
           mean[2], std_[0], std_[1], std_[2]);
}

// The kernels' f32 -> f16 conversion, element by element.
void aisle_host_f16_bits(const float* in, unsigned short* out, long long n) {
    for (long long i = 0; i < n; ++i) out[i] = aisle_f16_bits(in[i]);
}

}  // extern "C"
