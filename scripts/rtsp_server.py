#!/usr/bin/python3
"""A real RTSP server on loopback for Aisle's tests and manual checks (GStreamer gst-rtsp-server).

Serves the sample video without re-encoding:

  /vtest       H.264 from an MP4 (default: $AISLE_CACHE/media/vtest.mp4)
  /vtest_h265  H.265 from an MP4, only when --h265-file is given

Two ways of playing:

  default   every client gets its own pipeline that starts at the file's first frame and ends at
            its end (filesrc ! qtdemux ! h26Xparse ! rtph26Xpay), at real-time rate.
  --loop    a live "camera": one shared pipeline whose picture is a function of the wall clock
            since the server started, looping over the file forever. A client that connects
            after a few seconds joins mid-GOP, as with a real camera.

With --user and --password the server requires authentication: HTTP Basic, or Digest with
--digest.

Prints "READY <port>" on stdout once it listens; logs go to stderr. Stop it with SIGTERM or SIGINT.
Needs Debian's python3-gi, gir1.2-gst-rtsp-server-1.0 and the GStreamer plugins (scripts/setup.sh);
run it with the system /usr/bin/python3, not a virtual environment.
"""

import argparse
import os
import signal
import sys
import threading
import time

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402


def log(msg):
    print(f"rtsp_server: {msg}", file=sys.stderr, flush=True)


def default_file():
    cache = os.environ.get("AISLE_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "aisle")
    return os.path.join(cache, "media", "vtest.mp4")


class Clip:
    """The file's coded samples (no decoding), loaded once: caps (with codec_data) and buffers."""

    def __init__(self, path):
        self.path = path
        pipe = Gst.parse_launch(
            f'filesrc location="{path}" ! qtdemux ! queue ! appsink name=sink sync=false'
        )
        sink = pipe.get_by_name("sink")
        pipe.set_state(Gst.State.PLAYING)
        self.caps = None
        self.samples = []  # (pts_ns, bytes, is_delta)
        while True:
            sample = sink.emit("pull-sample")
            if sample is None:
                break
            if self.caps is None:
                self.caps = sample.get_caps()
            buf = sample.get_buffer()
            ok, info = buf.map(Gst.MapFlags.READ)
            if not ok:
                continue
            data = bytes(info.data)
            buf.unmap(info)
            pts = buf.pts if buf.pts != Gst.CLOCK_TIME_NONE else buf.dts
            self.samples.append((pts, data, bool(buf.get_flags() & Gst.BufferFlags.DELTA_UNIT)))
        pipe.set_state(Gst.State.NULL)
        if not self.samples:
            raise SystemExit(f"rtsp_server: {path}: no video samples could be read")
        first = self.samples[0][0]
        self.samples = [(p - first, d, delta) for p, d, delta in self.samples]
        n = len(self.samples)
        step = self.samples[-1][0] // max(n - 1, 1) if n > 1 else Gst.SECOND // 10
        self.duration = self.samples[-1][0] + step
        log(f"{path}: {n} samples, {self.duration / Gst.SECOND:.1f} s loop")


class LoopFactory(GstRtspServer.RTSPMediaFactory):
    """A shared live pipeline fed by an appsrc whose content follows the wall clock."""

    def __init__(self, clip, parse, pay, start):
        super().__init__()
        self.clip = clip
        self.launch = (
            f"( appsrc name=src is-live=true do-timestamp=true format=time "
            f"! {parse} ! {pay} name=pay0 pt=96 config-interval=-1 )"
        )
        self.start = start
        self.set_shared(True)
        self.connect("media-configure", self.on_configure)

    def do_create_element(self, url):
        return Gst.parse_launch(self.launch)

    def on_configure(self, _factory, media):
        src = media.get_element().get_by_name("src")
        src.set_property("caps", self.clip.caps)
        started = threading.Event()
        src.connect("need-data", lambda *_: started.set())
        threading.Thread(target=self.feed, args=(src, started), daemon=True).start()

    def feed(self, src, started):
        if not started.wait(30):
            return
        clip = self.clip
        dur = clip.duration
        elapsed = int((time.monotonic() - self.start) * Gst.SECOND)
        loop, playhead = divmod(elapsed, dur)
        i = next((k for k, s in enumerate(clip.samples) if s[0] >= playhead), 0)
        if i == 0 and playhead > clip.samples[-1][0]:
            loop += 1
        log(f"live feed joins at sample {i} (loop {loop})")
        while True:
            pts, data, delta = clip.samples[i]
            due = self.start + (loop * dur + pts) / Gst.SECOND
            wait = due - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            buf = Gst.Buffer.new_wrapped(data)
            if delta:
                buf.set_flags(Gst.BufferFlags.DELTA_UNIT)
            ret = src.emit("push-buffer", buf)
            if ret != Gst.FlowReturn.OK:
                log(f"live feed stops: {ret.value_nick}")
                return
            i += 1
            if i == len(clip.samples):
                i = 0
                loop += 1


def file_factory(path, parse, pay):
    f = GstRtspServer.RTSPMediaFactory()
    f.set_launch(
        f'( filesrc location="{path}" ! qtdemux ! {parse} ! {pay} name=pay0 pt=96 config-interval=-1 )'
    )
    f.set_shared(False)
    return f


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, default=8554, help="TCP port on 127.0.0.1 (0: any free port)")
    ap.add_argument("--file", default=default_file(), help="H.264 MP4 served at /vtest")
    ap.add_argument("--h265-file", help="H.265 MP4 served at /vtest_h265")
    ap.add_argument("--loop", action="store_true", help="a shared live stream looping forever")
    ap.add_argument("--user", help="require Basic authentication with this user name")
    ap.add_argument("--password", help="... and this password")
    ap.add_argument("--digest", action="store_true", help="Digest instead of Basic authentication")
    ap.add_argument(
        "--exit-on-stdin-eof",
        action="store_true",
        help="stop when standard input closes (a test harness that dies takes the server with it)",
    )
    args = ap.parse_args()
    if (args.user is None) != (args.password is None):
        ap.error("--user and --password go together")

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    mounts = server.get_mount_points()

    start = time.monotonic()
    served = [("/vtest", args.file, "h264parse", "rtph264pay")]
    if args.h265_file:
        served.append(("/vtest_h265", args.h265_file, "h265parse", "rtph265pay"))
    factories = []
    for mount, path, parse, pay in served:
        if not os.path.isfile(path):
            raise SystemExit(f"rtsp_server: {path}: no such file (run scripts/fetch-media.sh)")
        if args.loop:
            factory = LoopFactory(Clip(path), parse, pay, start)
        else:
            factory = file_factory(path, parse, pay)
        mounts.add_factory(mount, factory)
        factories.append(factory)

    if args.user is not None:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", "user")
        if args.digest:
            auth.add_digest(args.user, args.password, token)
            auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
        else:
            auth.add_basic(GstRtspServer.RTSPAuth.make_basic(args.user, args.password), token)
        server.set_auth(auth)
        for factory in factories:
            factory.add_role_from_structure(
                Gst.Structure.from_string(
                    "user, media.factory.access=(boolean)true, media.factory.construct=(boolean)true"
                )[0]
            )

    if server.attach(None) == 0:
        raise SystemExit(f"rtsp_server: cannot listen on 127.0.0.1:{args.port} (port in use?)")
    port = server.get_bound_port()
    loop = GLib.MainLoop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, loop.quit)
    if args.exit_on_stdin_eof:

        def watch_stdin():
            while sys.stdin.buffer.read(4096):
                pass
            log("standard input closed; stopping")
            GLib.idle_add(loop.quit)

        threading.Thread(target=watch_stdin, daemon=True).start()
    log(f"serving {', '.join(m for m, *_ in served)} on rtsp://127.0.0.1:{port}")
    print(f"READY {port}", flush=True)
    loop.run()


if __name__ == "__main__":
    main()
