# oelint-adv: scripts/lint-yocto.sh suppresses HOMEPAGE, BUGTRACKER, CVE_PRODUCT and BBCLASSEXTEND
# findings (recipe-wide, so they cannot be suppressed inline); the reasons are given there.
SUMMARY = "Aisle: privacy-first retail analytics from store cameras"
DESCRIPTION = "The aisle daemon and command line: cameras (RTSP) are decoded, people detected \
               and tracked on the device's GPU, and only aggregated per-zone metrics leave the \
               device, over MQTT."
SECTION = "console/network"
# The workspace's licence (Cargo.toml, [workspace.package]); the crates linked in carry their own
# (MIT, Apache-2.0, BSD-2-Clause for openh264, ...).
LICENSE = "Apache-2.0"
LIC_FILES_CHKSUM = "file://Cargo.toml;beginline=9;endline=9;md5=2507bd5f0713f05419cd2f22fa06fe62"

# The source: by default the git checkout this layer sits in (AISLE_REPO_DIR, conf/layer.conf),
# at its current commit (AUTOREV). A release build pins both, e.g. in local.conf or a distro config:
#   AISLE_GIT_URI = "git://git.example.com/aisle.git;protocol=https;branch=main"
#   AISLE_SRCREV = "<release commit>"
AISLE_GIT_URI ??= "git://${AISLE_REPO_DIR};protocol=file;branch=main"
AISLE_SRCREV ??= "${AUTOREV}"
PV .= "+git"
SRC_URI = "${AISLE_GIT_URI};destsuffix=git"
SRCREV = "${AISLE_SRCREV}"

# scarthgap unpacks into WORKDIR; from styhead on, UNPACKDIR is set by oe-core.
UNPACKDIR ??= "${WORKDIR}"
S = "${UNPACKDIR}/git"

# Every crates.io dependency of Cargo.lock with its checksum (scripts/gen-yocto-crates.py; CI
# checks it is current). Not `bitbake -c update_crates`: that would also read fuzz/Cargo.lock.
require aisle-crates.inc

inherit cargo cargo-update-recipe-crates systemd useradd

# Build only the daemon's package of the workspace (the `aisle` binary).
CARGO_SRC_DIR = "crates/aisled"

# H.265 on the CPU through FFmpeg (aisled's default `ffmpeg` feature) needs ffmpeg (oe-core,
# LICENSE_FLAGS "commercial") and bindgen's libclang (clang-native: meta-clang on scarthgap).
# Off by default: on Jetson, video is decoded by the hardware decoder, and H.264 by openh264.
PACKAGECONFIG ??= ""
PACKAGECONFIG[ffmpeg] = "--features ffmpeg,,ffmpeg clang-native"

# The GPU libraries (CUDA, NVRTC, TensorRT, ONNX Runtime) are loaded at run time with dlopen, so
# there is no build dependency on them: packagegroup-aisle installs them.
do_compile() {
    oe_cargo_build --no-default-features ${PACKAGECONFIG_CONFARGS}
}

do_install:append() {
    install -d ${D}${systemd_system_unitdir}
    install -m 0644 ${S}/systemd/aisle.service ${D}${systemd_system_unitdir}/aisle.service
    install -m 0644 ${S}/systemd/aisle-prepare.service ${D}${systemd_system_unitdir}/aisle-prepare.service
    install -d ${D}${nonarch_libdir}/sysusers.d ${D}${nonarch_libdir}/tmpfiles.d
    install -m 0644 ${S}/systemd/aisle.sysusers ${D}${nonarch_libdir}/sysusers.d/aisle.conf
    install -m 0644 ${S}/systemd/aisle.tmpfiles ${D}${nonarch_libdir}/tmpfiles.d/aisle.conf
    install -d ${D}${sysconfdir}/aisle
    install -m 0644 ${S}/examples/appliance.toml ${D}${sysconfdir}/aisle/aisle.toml
    install -d ${D}${docdir}/aisle
    install -m 0644 ${S}/docs/appliance.md ${D}${docdir}/aisle/appliance.md
}

# aisle-prepare.service has no [Install] section: aisle.service pulls it in.
SYSTEMD_SERVICE:${PN} = "aisle.service"
SYSTEMD_AUTO_ENABLE:${PN} = "enable"

# The system user of the units (the same as systemd/aisle.sysusers), in the groups of the GPU and
# codec device nodes. `render` is created here when the image has no such group yet.
USERADD_PACKAGES = "${PN}"
GROUPADD_PARAM:${PN} = "--system render"
USERADD_PARAM:${PN} = "--system --home-dir ${localstatedir}/lib/aisle --no-create-home \
                       --shell /sbin/nologin --user-group --groups video,render aisle"

FILES:${PN} += "${systemd_system_unitdir}/aisle-prepare.service \
                ${nonarch_libdir}/sysusers.d/aisle.conf \
                ${nonarch_libdir}/tmpfiles.d/aisle.conf"
CONFFILES:${PN} = "${sysconfdir}/aisle/aisle.toml"

RRECOMMENDS:${PN} = "aisle-models"
