#!/usr/bin/env python3
"""Opens keep-alive connections to a proxy, uses each for one request, then holds them idle.

Used by benches/load.sh (cases idle-tls and idle-plain) to measure the proxy's memory per idle
connection:

    idle_conns.py --port P --count 1000,10000 [--cafile cert.pem] [--header "X-Blnk-Key: ..."]

For each connection: TCP connect, TLS handshake (unless --plain), one complete HTTP/1.1 request
(GET /ledgers by default) whose response is read to its end, so the connection has been used
and is back in the keep-alive state. At most --concurrency connections are being opened at any
time (so the handshakes do not overflow the listen backlog), each within --conn-timeout seconds,
all of a stage within --open-timeout seconds.

--count lists cumulative totals, in stages: connections are opened until the first total is
held, then one line goes to stdout:

    IDLE opened=N ok=N failed=K

(totals so far: opened = connections that completed TCP and TLS; ok = those answered 200 and
still open after the response; failed = the stage's total less ok). The client then waits for a
line on stdin before opening up to the next total, and so on; the connections already open stay
open and idle throughout. After the last stage, or when stdin is closed (EOF), SIGTERM or SIGINT
arrives, or --hold-max seconds pass while waiting, every connection is closed and one more line
tells how many of them the server had closed meanwhile:

    CLOSED held=N closed_by_server=K

Only the Python 3.11 standard library; connects to 127.0.0.1 (or --host) only.
"""

import argparse
import asyncio
import asyncio.sslproto
import collections
import resource
import signal
import ssl
import sys
import threading
import time


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--count", required=True,
                   help="connections to hold: a total, or increasing totals (1000,10000), one per stage")
    p.add_argument("--concurrency", type=int, default=200, help="connections being opened at once")
    p.add_argument("--conn-timeout", type=float, default=10.0,
                   help="seconds for one connection's connect, handshake and request")
    p.add_argument("--open-timeout", type=float, default=120.0,
                   help="seconds for opening a stage's connections; the ones not done by then fail")
    p.add_argument("--hold-max", type=float, default=300.0,
                   help="seconds to wait for stdin after a stage before closing everything anyway")
    p.add_argument("--plain", action="store_true", help="plain TCP, no TLS")
    p.add_argument("--cafile", help="trust this certificate; without it, nothing is verified")
    p.add_argument("--server-name", default="localhost", help="SNI and certificate name")
    p.add_argument("--path", default="/ledgers")
    p.add_argument("--header", action="append", default=[], help='"Name: value", repeatable')
    a = p.parse_args()
    try:
        a.stages = [int(x) for x in a.count.split(",")]
    except ValueError:
        p.error("--count takes integers separated by commas")
    if a.stages[0] < 1 or any(b <= x for x, b in zip(a.stages, a.stages[1:])):
        p.error("--count: totals must be at least 1 and increasing")
    if a.concurrency < 1:
        p.error("--concurrency must be at least 1")
    return a


def raise_nofile(need):
    """Raises the soft open-files limit to what the connections need, up to the hard limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= need:
        return
    new = need if hard == resource.RLIM_INFINITY else min(need, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    if new < need:
        print(f"idle_conns: open-files limit {new} < {need} needed; some connections will fail",
              file=sys.stderr)


def shrink_tls_read_buffer():
    """asyncio gives every TLS connection a 256 KiB read buffer (SSLProtocol.max_size, zeroed at
    connect): 2.5 GiB and a good share of the client's CPU for 10,000 connections that each read
    one small response. 16 KiB (one TLS record) is plenty; a CPython without the attribute keeps
    its default."""
    if getattr(asyncio.sslproto.SSLProtocol, "max_size", 0) > 16 * 1024:
        asyncio.sslproto.SSLProtocol.max_size = 16 * 1024


def tls_context(args):
    if args.plain:
        return None
    if args.cafile:
        ctx = ssl.create_default_context(cafile=args.cafile)
    else:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    # HTTP/1.1 only, so a server that also speaks HTTP/2 stays on 1.1.
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


async def read_response(reader):
    """Reads one HTTP/1.1 response to its end; returns (status, keep_alive)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
        raise ValueError(f"bad status line {lines[0]!r}")
    status = int(parts[1])
    fields = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            fields[name.strip().lower()] = value.strip()
    keep_alive = "close" not in fields.get("connection", "").lower()
    if "chunked" in fields.get("transfer-encoding", "").lower():
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip(), 16)
            if size == 0:
                # Trailers, if any, end with an empty line.
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass
                break
            await reader.readexactly(size + 2)
    elif "content-length" in fields:
        await reader.readexactly(int(fields["content-length"]))
    elif status not in (204, 304) and not (100 <= status < 200):
        # Delimited by the close: not reusable.
        await reader.read()
        keep_alive = False
    return status, keep_alive


class Opener:
    def __init__(self, args):
        self.args = args
        self.ctx = tls_context(args)
        hdrs = "".join(f"{h}\r\n" for h in args.header)
        self.request = (f"GET {args.path} HTTP/1.1\r\nHost: {args.server_name}\r\n{hdrs}\r\n"
                        ).encode("latin-1")
        self.held = []  # (reader, writer) of connections answered 200 and kept open
        self.opened = 0
        self.failures = collections.Counter()

    async def open_one(self, sem):
        async with sem:
            writer = None
            try:
                async with asyncio.timeout(self.args.conn_timeout):
                    kw = {}
                    if self.ctx is not None:
                        kw = {"ssl": self.ctx, "server_hostname": self.args.server_name,
                              "ssl_handshake_timeout": self.args.conn_timeout}
                    reader, writer = await asyncio.open_connection(
                        self.args.host, self.args.port, **kw)
                    self.opened += 1
                    writer.write(self.request)
                    await writer.drain()
                    status, keep_alive = await read_response(reader)
                if status != 200:
                    self.failures[f"status {status}"] += 1
                elif not keep_alive:
                    self.failures["server closes after the response"] += 1
                else:
                    self.held.append((reader, writer))
                    writer = None
            except TimeoutError:
                self.failures["timeout"] += 1
            except (OSError, ssl.SSLError, asyncio.IncompleteReadError, ValueError,
                    asyncio.LimitOverrunError) as e:
                errno = getattr(e, "errno", None)
                self.failures[type(e).__name__ + (f" {errno}" if errno else "")] += 1
            finally:
                if writer is not None:
                    writer.close()

    async def open_more(self, n):
        sem = asyncio.Semaphore(self.args.concurrency)
        tasks = [asyncio.create_task(self.open_one(sem)) for _ in range(n)]
        _, pending = await asyncio.wait(tasks, timeout=self.args.open_timeout)
        for t in pending:
            t.cancel()
        if pending:
            await asyncio.wait(pending)
            self.failures["open deadline passed"] += sum(1 for t in pending if t.cancelled())

    async def close_all(self):
        # A connection the server closed has its EOF (or an error) in the reader, or (TLS) a
        # transport that closed itself.
        by_server = sum(1 for r, w in self.held
                        if r.at_eof() or r.exception() is not None or w.transport.is_closing())

        async def close(w):
            w.close()
            try:
                await w.wait_closed()
            except (OSError, ssl.SSLError):
                pass
        if self.held:
            # TLS close_notify and FIN, briefly; whatever is left is closed at exit.
            await asyncio.wait([asyncio.create_task(close(w)) for _, w in self.held], timeout=5)
        return by_server


def read_stdin_lines(loop, queue):
    """Puts each line of stdin, then None at EOF, on queue; a thread, so that a pipe, a FIFO
    or a tty all work."""
    def run():
        try:
            for line in sys.stdin.buffer:
                loop.call_soon_threadsafe(queue.put_nowait, line)
        except OSError:
            pass
        loop.call_soon_threadsafe(queue.put_nowait, None)
    threading.Thread(target=run, daemon=True).start()


async def main():
    args = parse_args()
    raise_nofile(args.stages[-1] + 64)
    shrink_tls_read_buffer()
    loop = asyncio.get_running_loop()
    control = asyncio.Queue()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, control.put_nowait, None)
    read_stdin_lines(loop, control)

    opener = Opener(args)
    for i, total in enumerate(args.stages):
        t0 = time.monotonic()
        await opener.open_more(total - len(opener.held))
        ok = len(opener.held)
        print(f"IDLE opened={opener.opened} ok={ok} failed={total - ok}", flush=True)
        detail = ", ".join(f"{k}: {v}" for k, v in opener.failures.most_common())
        print(f"idle_conns: {total} connections held, this stage in {time.monotonic() - t0:.1f} s"
              + (f"; failures so far: {detail}" if detail else ""), file=sys.stderr, flush=True)
        try:
            # The next stage on a line of stdin; close everything on EOF or a signal.
            if await asyncio.wait_for(control.get(), timeout=args.hold_max) is None:
                break
        except TimeoutError:
            print(f"idle_conns: nothing on stdin for --hold-max {args.hold_max} s, closing",
                  file=sys.stderr)
            break
    by_server = await opener.close_all()
    print(f"CLOSED held={len(opener.held)} closed_by_server={by_server}", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
