#!/usr/bin/env bash
# Fetch the test media into $AISLE_MEDIA (see models/README.md for the cache layout):
#   vtest.avi   pedestrians, 768x576, 10 fps, 795 frames (Debian opencv-doc, MS-MPEG4v3)
#   vtest.mp4   the same as H.264 Constrained Baseline (openh264 decodes only that), faststart
#   vtest.h264  the same H.264 stream as Annex B
#   vtest_h265.mp4  the same as H.265 Main (libx265, hvc1), faststart
#   vtest.h265      that H.265 stream as Annex B
#   faces/sample1.jpg .. sample6.jpg   group photos (npm @vladmandic/face-api demo/)
#   faces/astronaut.png   a portrait (PyPI scikit-image wheel, skimage/data/)
#   faces/*.y4m     each photo as one limited-range BT.601 4:2:0 frame (what a camera's NV12 frame
#                   holds): the face tests and scripts/reference_faces.py read these, so the Rust
#                   pipeline and the Python reference start from the same pixels
# Idempotent: a re-run checks the files (ffprobe for the videos) and takes about a second.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

OPENCV_DOC=(debian opencv-doc 4.6.0+dfsg-12)
VTEST_AVI=usr/share/doc/opencv-doc/examples/data/vtest.avi
VTEST_SHA256=45cddc9490be69345cbdab64ca583be65987e864ca408038e648db99e10516cf
FACE_API=(npm @vladmandic/face-api 1.7.15)
SKIMAGE=(pypi scikit-image 0.26.0)
# JPEG/PNG -> limited-range 4:2:0, reproducibly (swscale's bit-exact path).
Y4M=(-vf scale=out_range=tv:flags=accurate_rnd+bitexact+full_chroma_int -pix_fmt yuv420p -frames:v 1
  -fflags +bitexact -f yuv4mpegpipe)
X264=(-c:v libx264 -profile:v baseline -pix_fmt yuv420p -preset medium -crf 20 -g 20 -bf 0 -threads 1
  -map_metadata -1 -fflags +bitexact -flags:v +bitexact)
X265=(-c:v libx265 -preset medium -crf 24 -x265-params keyint=20:bframes=0:pools=1:frame-threads=1:log-level=error
  -pix_fmt yuv420p -tag:v hvc1 -map_metadata -1 -fflags +bitexact -flags:v +bitexact)
FRAMES=795 SIZE=768x576

need ffmpeg ffprobe sha256sum
mkdir -p "$AISLE_MEDIA/faces"

# install_file SRC DST: copy unless identical, atomically.
install_file() {
  cmp -s "$1" "$2" && return 0
  cp "$1" "$2.tmp" && mv -f "$2.tmp" "$2"
}

# video_ok FILE [frames [CODEC,PROFILE]]: H.264 Constrained Baseline (or CODEC,PROFILE), SIZE,
# FRAMES packets (or decoded frames).
video_ok() {
  local what=${2:-packets} want=${3:-h264,Constrained Baseline} got
  [[ -s $1 ]] || return 1
  got=$(ffprobe -v error -select_streams v:0 "-count_$what" -of csv=p=0 \
    -show_entries "stream=codec_name,profile,width,height,nb_read_$what" "$1") || return 1
  [[ $got == "$want,${SIZE/x/,},$FRAMES" ]] || { log "$1: got '$got'"; return 1; }
}

# encode DST CMD...: run an ffmpeg command writing to a temp name, verify by decoding, rename.
# $WANT (CODEC,PROFILE as ffprobe names them) defaults to H.264 Constrained Baseline.
encode() {
  local dst=$1 tmp want=${WANT:-h264,Constrained Baseline}
  shift
  tmp="$(dirname "$dst")/.tmp.$(basename "$dst")"
  log "writing $dst"
  ffmpeg -nostdin -v error -y "$@" "$tmp" || { rm -f "$tmp"; die "ffmpeg failed writing $dst"; }
  video_ok "$tmp" frames "$want" || { rm -f "$tmp"; die "$dst: not '$want' $SIZE with $FRAMES frames (ffmpeg version?)"; }
  mv -f "$tmp" "$dst"
}

# --- vtest.avi (content pinned by sha256)
ocv=$(fetch_pkg "${OPENCV_DOC[@]}")
avi=$ocv/$VTEST_AVI
[[ -f $avi && $(sha256sum <"$avi") == "$VTEST_SHA256  -" ]] \
  || die "$avi is missing or has an unexpected sha256 (expected $VTEST_SHA256): rm -rf $AISLE_DL/opencv-doc_*.deb $ocv and re-run"
install_file "$avi" "$AISLE_MEDIA/vtest.avi"

# --- vtest.mp4 / vtest.h264, re-encoded when the settings above change (stamp .vtest.params)
params=$(printf '%s\n' "$VTEST_SHA256" "${X264[@]}" "$(ffmpeg -version | head -n1)" | sha256sum)
stamp=$AISLE_MEDIA/.vtest.params
if [[ ! -f $stamp || $(<"$stamp") != "$params" ]] || ! video_ok "$AISLE_MEDIA/vtest.mp4"; then
  rm -f "$stamp"
  encode "$AISLE_MEDIA/vtest.mp4" -i "$AISLE_MEDIA/vtest.avi" -map 0:v:0 -an "${X264[@]}" -movflags +faststart -f mp4
  rm -f "$AISLE_MEDIA/vtest.h264"
fi
if ! video_ok "$AISLE_MEDIA/vtest.h264"; then
  encode "$AISLE_MEDIA/vtest.h264" -i "$AISLE_MEDIA/vtest.mp4" -map 0:v:0 -c:v copy -bsf:v h264_mp4toannexb -f h264
fi
echo "$params" >"$stamp"

# --- vtest_h265.mp4 / vtest.h265: H.265 Main (libx265), re-encoded when X265 changes (stamp .vtest_h265.params)
HEVC="hevc,Main"
params=$(printf '%s\n' "$VTEST_SHA256" "${X265[@]}" "$(ffmpeg -version | head -n1)" | sha256sum)
stamp=$AISLE_MEDIA/.vtest_h265.params
if [[ ! -f $stamp || $(<"$stamp") != "$params" ]] || ! video_ok "$AISLE_MEDIA/vtest_h265.mp4" packets "$HEVC"; then
  rm -f "$stamp"
  WANT=$HEVC encode "$AISLE_MEDIA/vtest_h265.mp4" -i "$AISLE_MEDIA/vtest.avi" -map 0:v:0 -an "${X265[@]}" -movflags +faststart -f mp4
  rm -f "$AISLE_MEDIA/vtest.h265"
fi
if ! video_ok "$AISLE_MEDIA/vtest.h265" packets "$HEVC"; then
  WANT=$HEVC encode "$AISLE_MEDIA/vtest.h265" -i "$AISLE_MEDIA/vtest_h265.mp4" -map 0:v:0 -c:v copy -bsf:v hevc_mp4toannexb -f hevc
fi
echo "$params" >"$stamp"

# --- face photos
demo=$(fetch_pkg "${FACE_API[@]}")/demo
for i in 1 2 3 4 5 6; do
  install_file "$demo/sample$i.jpg" "$AISLE_MEDIA/faces/sample$i.jpg"
done
install_file "$(fetch_pkg "${SKIMAGE[@]}")/skimage/data/astronaut.png" "$AISLE_MEDIA/faces/astronaut.png"
params=$(printf '%s\n' "${Y4M[@]}" "$(ffmpeg -version | head -n1)" | sha256sum)
stamp=$AISLE_MEDIA/faces/.y4m.params
for photo in "$AISLE_MEDIA"/faces/sample[1-6].jpg "$AISLE_MEDIA/faces/astronaut.png"; do
  y4m=${photo%.*}.y4m
  if [[ ! -s $y4m || ! -f $stamp || $(<"$stamp") != "$params" || $photo -nt $y4m ]]; then
    log "writing $y4m"
    if ! ffmpeg -nostdin -v error -y -i "$photo" "${Y4M[@]}" "$y4m.tmp"; then
      rm -f "$y4m.tmp"
      die "ffmpeg failed writing $y4m"
    fi
    mv -f "$y4m.tmp" "$y4m"
  fi
done
echo "$params" >"$stamp"
log "media ok in $AISLE_MEDIA"
