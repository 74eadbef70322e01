#!/usr/bin/env python3
"""Real-browser check of a self-contained HTML page (kiln's report).

Drives headless Chromium over the DevTools protocol on a pipe (--remote-debugging-pipe: no
port, no websocket library), then:
  (a) fails on any console error / console.assert, uncaught exception, or error log entry of
      the page, and on any request the page makes for anything but the file itself and
      data:/blob:/about: URLs (http(s) and ftp requests are blocked, never sent; a WebSocket
      is reported when the page opens it);
  (b) writes a full-page screenshot to OUT_DIR/screenshot.png;
  (c) crops every plot (each <svg> not inside another plot, and each element whose id starts
      with "plot-") from the screenshot and fails the ones with too little ink: the share of
      pixels that differ from the crop's dominant (background) colour, and the number of
      distinct ink colours.
Only the page's own events count: Chromium's attempts to reach Google services belong to the
browser, not the page, and never show up in the page's session (they go to chromium.log).

Exit status: 0 pass, 1 the page failed a check, 2 the check itself could not run.
OUT_DIR also gets result.json (what failed, per plot numbers), plots/*.png (the crops) and
chromium.log (the browser's stderr).
"""

import argparse
import base64
import fcntl
import json
import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

try:
    from PIL import Image
except ImportError:  # pragma: no cover - the shell wrapper installs Pillow
    Image = None

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Quieter and steadier still: no extensions, translation or metrics, no default browser
    # prompt, /tmp instead of /dev/shm, sRGB colours, 1 CSS px = 1 screenshot px.
    "--disable-extensions",
    "--disable-default-apps",
    "--disable-features=Translate,MediaRouter,OptimizationHints,DialMediaRouteProvider",
    "--disable-breakpad",
    "--metrics-recording-only",
    "--no-default-browser-check",
    "--disable-dev-shm-usage",
    "--mute-audio",
    "--hide-scrollbars",
    "--force-color-profile=srgb",
    "--force-device-scale-factor=1",
    "--remote-debugging-pipe",
]

BLOCKED_URL_PATTERNS = ["http://*", "https://*", "ws://*", "wss://*", "ftp://*"]

# Elements to check, in document order, with their boxes in document coordinates.
COLLECT_PLOTS_JS = r"""
(() => {
  const all = Array.from(document.querySelectorAll('svg, [id^="plot-"]'));
  const set = new Set(all);
  const out = [];
  let svgIndex = 0;
  for (const el of all) {
    const isSvg = el.tagName.toLowerCase() === 'svg';
    if (isSvg) svgIndex += 1;
    // An <svg> inside another checked element (a plot-* container, or an outer <svg>) is
    // checked as part of it.
    let p = el.parentElement, nested = false;
    while (p) { if (set.has(p)) { nested = true; break; } p = p.parentElement; }
    if (nested) continue;
    let label = el.id ? el.id : null;
    if (!label) {
      // svg[N] (N counts every <svg> on the page, from 1) and what names it: its figure's
      // caption, its aria-label or <title>, or the nearest ancestor with an id.
      const fig = el.closest('figure');
      const cap = fig && fig.querySelector('figcaption');
      const t = el.querySelector(':scope > title');
      let name = (cap && cap.textContent) || el.getAttribute('aria-label') ||
                 (t && t.textContent) || '';
      if (!name) { const a = el.parentElement && el.parentElement.closest('[id]');
                   if (a) name = '#' + a.id; }
      name = name.replace(/\s+/g, ' ').trim();
      if (name.length > 40) name = name.slice(0, 39) + '…';
      label = (isSvg ? 'svg[' + svgIndex + ']' : el.tagName.toLowerCase()) +
              (name ? ' ' + name : '');
    }
    const r = el.getBoundingClientRect();
    const cs = getComputedStyle(el);
    out.push({
      label, id: el.id || null, tag: el.tagName.toLowerCase(),
      x: r.left + window.scrollX, y: r.top + window.scrollY, w: r.width, h: r.height,
      hidden: cs.display === 'none' || cs.visibility === 'hidden',
    });
  }
  return JSON.stringify(out);
})()
"""

PAGE_SIZE_JS = r"""
JSON.stringify({
  w: Math.ceil(Math.max(document.documentElement.scrollWidth,
                        document.body ? document.body.scrollWidth : 0)),
  h: Math.ceil(Math.max(document.documentElement.scrollHeight,
                        document.body ? document.body.scrollHeight : 0)),
})
"""

SETTLE_JS = r"""
(async () => {
  if (document.fonts && document.fonts.ready) await document.fonts.ready;
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  await new Promise(r => setTimeout(r, %d));
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  return true;
})()
"""


class CheckError(Exception):
    """The check itself could not run (exit 2)."""


class Browser:
    """Chromium with the DevTools protocol on fds 3 (commands in) and 4 (replies out)."""

    def __init__(self, chromium, log_path):
        self.profile = tempfile.mkdtemp(prefix="kiln-browser-check-")
        to_chrome_r, self._to_chrome_w = os.pipe()
        self._from_chrome_r, from_chrome_w = os.pipe()

        def child_fds():
            # Move both ends above 3/4 first so that dup2 cannot clobber one with the other.
            a = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD, 10)
            b = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD, 10)
            os.dup2(a, 3)
            os.dup2(b, 4)

        self.log = open(log_path, "wb")
        args = [chromium] + CHROMIUM_FLAGS + ["--user-data-dir=" + self.profile, "about:blank"]
        self.proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            # Python runs preexec_fn before it closes the fds not in pass_fds. The pipes and
            # the log are open before Popen's own error pipe, so that pipe is never fd 3 or 4.
            preexec_fn=child_fds,
            pass_fds=(3, 4),
            close_fds=True,
        )
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._next_id = 0
        self._replies = {}
        self.events = queue.Queue()
        self._lock = threading.Condition()
        self._closed = False
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._reader.start()

    def _read_loop(self):
        buf = b""
        while True:
            try:
                chunk = os.read(self._from_chrome_r, 1 << 20)
            except OSError:
                chunk = b""
            if not chunk:
                break
            buf += chunk
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                msg = json.loads(raw)
                if "id" in msg:
                    with self._lock:
                        self._replies[msg["id"]] = msg
                        self._lock.notify_all()
                else:
                    self.events.put(msg)
        with self._lock:
            self._closed = True
            self._lock.notify_all()

    def send(self, method, params=None, session=None, timeout=30.0):
        self._next_id += 1
        mid = self._next_id
        msg = {"id": mid, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        data = json.dumps(msg).encode() + b"\0"
        try:
            while data:
                data = data[os.write(self._to_chrome_w, data):]
        except OSError as e:
            raise CheckError("chromium went away (%s)" % e)
        deadline = time.monotonic() + timeout
        with self._lock:
            while mid not in self._replies:
                left = deadline - time.monotonic()
                if self._closed:
                    raise CheckError("chromium exited while waiting for %s" % method)
                if left <= 0:
                    raise CheckError("no reply to %s within %.0f s" % (method, timeout))
                self._lock.wait(left)
            reply = self._replies.pop(mid)
        if "error" in reply:
            raise CheckError("%s failed: %s" % (method, reply["error"].get("message")))
        return reply.get("result", {})

    def close(self):
        try:
            if self.proc.poll() is None:
                try:
                    self.send("Browser.close", timeout=5)
                except CheckError:
                    pass
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(timeout=10)
        finally:
            for fd in (self._to_chrome_w, self._from_chrome_r):
                try:
                    os.close(fd)
                except OSError:
                    pass
            self.log.close()
            shutil.rmtree(self.profile, ignore_errors=True)


class Page:
    """One tab: records what the page logs, throws and requests."""

    def __init__(self, browser, report_url):
        self.b = browser
        self.report_url = report_url
        self.failures = []  # dicts with "kind" and "message"
        self.warnings = []
        self.requests = []
        self.navigated = False  # the main frame has committed the report
        self.loaded = False  # and its load event has fired
        target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = browser.send(
            "Target.attachToTarget", {"targetId": target, "flatten": True}
        )["sessionId"]

    def cmd(self, method, params=None, timeout=30.0):
        result = self.b.send(method, params, session=self.session, timeout=timeout)
        self.drain()
        return result

    def evaluate(self, expression, timeout=30.0, await_promise=False):
        r = self.cmd(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": await_promise},
            timeout=timeout,
        )
        if "exceptionDetails" in r:
            raise CheckError("evaluating the check's own script failed: %s"
                             % r["exceptionDetails"].get("text"))
        return r["result"].get("value")

    def drain(self, wait=0.0):
        deadline = time.monotonic() + wait
        while True:
            left = deadline - time.monotonic()
            try:
                ev = self.b.events.get(timeout=left) if left > 0 else self.b.events.get_nowait()
            except queue.Empty:
                return
            if ev.get("sessionId") == self.session:
                self._on_event(ev["method"], ev.get("params", {}))

    def _is_report(self, url):
        # Compared decoded: Chromium and urllib.parse.quote escape different characters.
        return (urllib.parse.unquote(url.split("#", 1)[0])
                == urllib.parse.unquote(self.report_url))

    def _allowed(self, url):
        if self._is_report(url):
            return True
        return url.split(":", 1)[0].lower() in ("data", "blob", "about")

    def _on_event(self, method, p):
        if method == "Page.frameNavigated":
            frame = p.get("frame", {})
            if not frame.get("parentId") and self._is_report(frame.get("url", "")):
                self.navigated = True
        elif method == "Page.loadEventFired":
            # Only the report's load counts, not that of the about:blank the tab started with.
            self.loaded = self.loaded or self.navigated
        elif method == "Runtime.consoleAPICalled":
            text = " ".join(_remote_text(a) for a in p.get("args", []))
            where = _where(p.get("stackTrace"))
            if p.get("type") in ("error", "assert"):
                self.failures.append({"kind": "console",
                                      "message": "console.%s: %s%s" % (p["type"], text, where)})
            elif p.get("type") == "warning":
                self.warnings.append("console.warn: %s%s" % (text, where))
        elif method == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            text = d.get("text", "")
            exc = d.get("exception") or {}
            if exc.get("description"):
                text = "%s %s" % (text, exc["description"].splitlines()[0])
            loc = " (line %s:%s)" % (d.get("lineNumber", 0) + 1, d.get("columnNumber", 0) + 1)
            self.failures.append({"kind": "exception",
                                  "message": "uncaught exception: %s%s" % (text.strip(), loc)})
        elif method == "Log.entryAdded":
            e = p.get("entry", {})
            if e.get("level") == "error":
                msg = e.get("text", "")
                if e.get("url"):
                    msg += " [%s]" % e["url"]
                self.failures.append({"kind": "log",
                                      "message": "%s error: %s" % (e.get("source", "log"), msg)})
            elif e.get("level") == "warning":
                self.warnings.append("%s warning: %s" % (e.get("source", "log"), e.get("text")))
        elif method == "Network.webSocketCreated":
            # setBlockedURLs does not stop WebSockets: report the attempt itself.
            url = p.get("url", "")
            self.requests.append(url)
            self.failures.append({"kind": "request",
                                  "message": "WebSocket leaves the file: %s" % _short(url)})
        elif method == "Network.requestWillBeSent":
            url = p.get("request", {}).get("url", "")
            self.requests.append(url)
            if not self._allowed(url):
                self.failures.append({"kind": "request",
                                      "message": "request leaves the file: %s %s (initiator: %s)"
                                      % (p.get("request", {}).get("method", "GET"),
                                         _short(url), p.get("initiator", {}).get("type", "?"))})


def _short(s, n=160):
    return s if len(s) <= n else s[: n - 3] + "..."


def _remote_text(a):
    if "value" in a:
        return a["value"] if isinstance(a["value"], str) else json.dumps(a["value"])
    return a.get("description") or a.get("unserializableValue") or a.get("type", "?")


def _where(stack):
    frames = (stack or {}).get("callFrames") or []
    if not frames:
        return ""
    f = frames[0]
    return " (line %d:%d)" % (f.get("lineNumber", 0) + 1, f.get("columnNumber", 0) + 1)


def ink(img, tolerance, chroma):
    """Of the pixels that differ from the crop's dominant colour by more than `tolerance` in
    some channel: their share, how many distinct colours they have, and the share of pixels
    that are also coloured (max - min channel > `chroma`: data series, not grey axes/text)."""
    n = img.width * img.height
    colors = img.getcolors(maxcolors=n)
    _, bg = max(colors)
    ink_px = ink_colors = colored_px = 0
    for c, rgb in colors:
        if max(abs(rgb[i] - bg[i]) for i in range(3)) > tolerance:
            ink_px += c
            ink_colors += 1
            if max(rgb) - min(rgb) > chroma:
                colored_px += c
    return ink_px / n, ink_colors, colored_px / n, bg


def safe_name(label):
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", label).strip("_")[:80] or "plot"


def run(args):
    report = os.path.abspath(args.report)
    if not os.path.isfile(report):
        raise CheckError("no such file: %s" % report)
    out = os.path.abspath(args.out_dir)
    os.makedirs(os.path.join(out, "plots"), exist_ok=True)
    for old in os.listdir(os.path.join(out, "plots")):
        os.remove(os.path.join(out, "plots", old))
    report_url = "file://" + urllib.parse.quote(report)
    timings = {}
    t0 = time.monotonic()

    browser = Browser(args.chromium, os.path.join(out, "chromium.log"))
    try:
        try:
            version = browser.send("Browser.getVersion", timeout=args.timeout)["product"]
        except CheckError as e:
            raise CheckError("%s; see %s" % (e, os.path.join(out, "chromium.log")))
        timings["start_s"] = time.monotonic() - t0
        page = Page(browser, report_url)
        for m in ("Page.enable", "Runtime.enable", "Log.enable", "Network.enable"):
            page.cmd(m)
        page.cmd("Network.setBlockedURLs", {"urls": BLOCKED_URL_PATTERNS})
        page.cmd("Network.setCacheDisabled", {"cacheDisabled": True})
        page.cmd("Emulation.setDeviceMetricsOverride",
                 {"width": args.width, "height": args.height, "deviceScaleFactor": 1,
                  "mobile": False})
        t1 = time.monotonic()
        nav = page.cmd("Page.navigate", {"url": report_url}, timeout=args.timeout)
        if nav.get("errorText"):
            raise CheckError("could not load %s: %s" % (report_url, nav["errorText"]))
        deadline = time.monotonic() + args.timeout
        while not page.loaded:
            if time.monotonic() > deadline:
                raise CheckError("the page's load event did not fire within %d s" % args.timeout)
            page.drain(wait=0.1)
        page.evaluate(SETTLE_JS % args.settle_ms, timeout=args.timeout, await_promise=True)
        timings["load_s"] = time.monotonic() - t1

        # Full page: make the viewport as tall as the document, then measure and shoot at that
        # size (so that boxes and screenshot agree even with vh units or resize handlers).
        size = json.loads(page.evaluate(PAGE_SIZE_JS))
        for _ in range(3):
            height = max(args.height, min(size["h"], args.max_height))
            page.cmd("Emulation.setDeviceMetricsOverride",
                     {"width": args.width, "height": height, "deviceScaleFactor": 1,
                      "mobile": False})
            page.evaluate(SETTLE_JS % 100, timeout=args.timeout, await_promise=True)
            new = json.loads(page.evaluate(PAGE_SIZE_JS))
            if new["h"] == size["h"]:
                break
            size = new
        if size["h"] > args.max_height:
            page.warnings.append("page is %d px tall; the screenshot stops at %d px "
                                 "(--max-height)" % (size["h"], args.max_height))
        plots = json.loads(page.evaluate(COLLECT_PLOTS_JS))
        shot = page.cmd("Page.captureScreenshot",
                        {"format": "png", "fromSurface": True, "captureBeyondViewport": False},
                        timeout=args.timeout)
        png = os.path.join(out, "screenshot.png")
        with open(png, "wb") as f:
            f.write(base64.b64decode(shot["data"]))
        page.drain(wait=args.settle_ms / 1000.0)  # late errors
        timings["shoot_s"] = time.monotonic() - t1 - timings["load_s"]
    finally:
        browser.close()

    # The plots.
    img = Image.open(png).convert("RGB")
    rows = []
    for p in plots:
        row = {"label": p["label"], "tag": p["tag"], "w": round(p["w"]), "h": round(p["h"]),
               "x": round(p["x"]), "y": round(p["y"]), "ink": None, "colors": None, "colored": None,
               "status": "ok"}
        x0, y0 = max(0, int(p["x"])), max(0, int(p["y"]))
        x1 = min(img.width, int(round(p["x"] + p["w"])))
        y1 = min(img.height, int(round(p["y"] + p["h"])))
        anonymous_svg = p["tag"] == "svg" and not (p["id"] or "").startswith("plot-")
        if p["hidden"] or p["w"] < 1 or p["h"] < 1:
            if anonymous_svg:
                row["status"] = "skipped (hidden or zero size)"
            else:
                row["status"] = "BLANK (hidden or zero size)"
        elif x1 - x0 < 1 or y1 - y0 < 1:
            row["status"] = ("BLANK (outside the %dx%d screenshot; see --max-height)"
                             % (img.width, img.height))
        else:
            crop = img.crop((x0, y0, x1, y1))
            crop.save(os.path.join(out, "plots", safe_name(p["label"]) + ".png"))
            share, ncolors, colored, bg = ink(crop, args.tolerance, args.chroma)
            row.update(ink=share, colors=ncolors, colored=colored,
                       background="#%02x%02x%02x" % bg)
            why = []
            if share <= args.min_ink:
                why.append("ink %.2f%% <= %.2f%%" % (share * 100, args.min_ink * 100))
            if ncolors < args.min_colors:
                why.append("%d ink colours < %d" % (ncolors, args.min_colors))
            if args.min_colored > 0 and colored <= args.min_colored:
                why.append("coloured ink %.2f%% <= %.2f%%" % (colored * 100,
                                                              args.min_colored * 100))
            if why:
                row["status"] = "BLANK (%s)" % "; ".join(why)
        if row["status"].startswith("BLANK"):
            page.failures.append({"kind": "blank", "plot": p["label"],
                                  "message": "plot %s is blank: %s" % (p["label"], row["status"])})
        rows.append(row)
    checked = [r for r in rows if not r["status"].startswith("skipped")]
    if len(checked) < args.min_plots:
        page.failures.append({"kind": "plots", "message": "found %d plots, expected at least %d"
                              % (len(checked), args.min_plots)})

    # Report.
    print("browser-check: %s" % report)
    print("  %s; page %dx%d px; %d requests; start %.1f s, load %.1f s, screenshot %.1f s"
          % (version, img.width, img.height, len(page.requests), timings["start_s"],
             timings["load_s"], timings["shoot_s"]))
    if rows:
        wl = max(len("plot"), max(len(r["label"]) for r in rows))
        fmt = "  %-*s  %9s  %7s  %7s  %8s  %s"
        print(fmt % (wl, "plot", "size", "ink", "colours", "coloured", "result"))
        for r in rows:
            pct = lambda v: "-" if v is None else "%.2f%%" % (v * 100)  # noqa: E731
            cols = "-" if r["colors"] is None else str(r["colors"])
            print(fmt % (wl, r["label"], "%dx%d" % (r["w"], r["h"]), pct(r["ink"]), cols,
                         pct(r["colored"]), r["status"]))
    else:
        print("  no <svg> and no plot-* element on the page")
    for w in page.warnings:
        print("  warning: %s" % w)
    result = {"report": report, "browser": version, "screenshot": png,
              "page": {"width": img.width, "height": img.height},
              "requests": page.requests, "plots": rows, "warnings": page.warnings,
              "failures": page.failures, "timings": timings,
              "ok": not page.failures}
    with open(os.path.join(out, "result.json"), "w") as f:
        json.dump(result, f, indent=1)
    if page.failures:
        print("browser-check: FAILED (%d):" % len(page.failures))
        for fl in page.failures:
            print("  - [%s] %s" % (fl["kind"], fl["message"]))
        print("  screenshot: %s; details: %s" % (png, os.path.join(out, "result.json")))
        return 1
    print("browser-check: ok (%d plots checked; screenshot %s)" % (len(checked), png))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("report")
    ap.add_argument("out_dir")
    ap.add_argument("--chromium", default=os.environ.get("KILN_CHROMIUM", "/usr/bin/chromium"))
    ap.add_argument("--width", type=int, default=1280, help="viewport width, CSS px")
    ap.add_argument("--height", type=int, default=900, help="initial viewport height")
    ap.add_argument("--max-height", type=int, default=32000,
                    help="screenshot height cap, px (a 40,000 px page takes ~7 s)")
    ap.add_argument("--min-ink", type=float, default=0.02,
                    help="a plot needs more than this share of non-background pixels")
    ap.add_argument("--min-colors", type=int, default=2,
                    help="a plot needs at least this many distinct non-background colours")
    ap.add_argument("--min-colored", type=float, default=0.0,
                    help="stricter, off by default: a plot also needs more than this share of "
                    "coloured (not grey) ink, e.g. 0.005 to fail axes without data")
    ap.add_argument("--chroma", type=int, default=40,
                    help="a pixel is coloured when max - min channel exceeds this")
    ap.add_argument("--tolerance", type=int, default=8,
                    help="a pixel is ink when a channel differs from the background by more")
    ap.add_argument("--min-plots", type=int, default=0,
                    help="fail unless at least this many plots are on the page")
    ap.add_argument("--settle-ms", type=int, default=300,
                    help="wait after the load event before measuring")
    ap.add_argument("--timeout", type=int, default=60, help="seconds for start and load")
    args = ap.parse_args()
    if Image is None:
        print("browser-check: Pillow is missing (scripts/browser-check.sh installs it)",
              file=sys.stderr)
        return 2
    try:
        return run(args)
    except CheckError as e:
        print("browser-check: could not run the check: %s" % e, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
