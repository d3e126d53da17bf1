SUMMARY = "Aisle appliance: the daemon, its models and the Jetson runtime it loads"
DESCRIPTION = "Everything the aisle daemon needs on a meta-tegra image. Add it to an image \
               with IMAGE_INSTALL:append = \" packagegroup-aisle\"."
SECTION = "misc"
LICENSE = "MIT"

# The runtime pieces are machine specific (L4T libraries).
PACKAGE_ARCH = "${MACHINE_ARCH}"

inherit packagegroup

# aisle loads these with dlopen at run time (no build dependency, so no automatic RDEPENDS):
#  - tegra-libraries-cuda: libcuda and libnvidia-ptxjitcompiler (the PTX JIT); cuda-nvrtc: NVRTC, which
#    compiles the preprocessing kernels on the device;
#  - tensorrt-core: libnvinfer, which ONNX Runtime's TensorRT execution provider uses
#    (needs `opengl` in DISTRO_FEATURES, even headless);
#  - onnxruntime: built with the TensorRT and CUDA providers (meta-tegra-community's recipe);
#  - tegra-libraries-multimedia-v4l: libnvv4l2 and the V4L2 plugin of the Orin hardware decoder
#    (/dev/v4l2-nvdec); the decode path of aisle that uses it is not written yet.
# Package names as of meta-tegra scarthgap (JetPack 6.2); check them on wrynose (JetPack 7.2),
# where onnxruntime's layer and the multimedia package split may differ.
RDEPENDS:${PN} = "\
    aisle \
    aisle-models \
    cuda-nvrtc \
    onnxruntime \
    tegra-libraries-cuda \
    tegra-libraries-multimedia-v4l \
    tensorrt-core \
"
