"""A TCP proxy that holds every chunk DELAY_MS before passing it on, both ways: each request
and each response then takes at least one delay, like a network with 2*DELAY_MS round trips.

  delay_proxy.py LISTEN_PORT TARGET_HOST TARGET_PORT DELAY_MS

Copied unchanged (but for this docstring's last paragraph) from the shared tools of the
mltrain work area (shared/tools/delay_proxy.py), so that bench/s3_latency.py needs nothing
outside the repository.
"""
import asyncio, sys

listen, host, port, delay = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4]) / 1000

async def pipe(r, w):
    q = asyncio.Queue()
    async def reader():
        while True:
            data = await r.read(65536)
            await q.put((asyncio.get_running_loop().time() + delay, data))
            if not data: return
    async def writer():
        while True:
            due, data = await q.get()
            now = asyncio.get_running_loop().time()
            if due > now: await asyncio.sleep(due - now)
            if not data:
                try: w.write_eof()
                except Exception: pass
                return
            w.write(data); await w.drain()
    try: await asyncio.gather(reader(), writer())
    except Exception: pass
    finally:
        try: w.close()
        except Exception: pass

async def handle(cr, cw):
    try: sr, sw = await asyncio.open_connection(host, port)
    except Exception: cw.close(); return
    await asyncio.gather(pipe(cr, sw), pipe(sr, cw))

async def main():
    srv = await asyncio.start_server(handle, "127.0.0.1", listen)
    async with srv: await srv.serve_forever()

asyncio.run(main())
