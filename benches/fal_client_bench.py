"""The same render workload through fal's official Python client, for comparison.

asyncio + a semaphore over the async client's `subscribe` (what `fal_client.subscribe_async` calls), then the
clip downloaded with httpx (streamed to a file), N jobs at concurrency C. Prints one JSON line.
Run by benches/render.rs with SANDBOX_URL, N, C and OUT set.
"""

import asyncio
import json
import os
import time

import fal_client
import fal_client.client as fal_client_module
import httpx

base = os.environ["SANDBOX_URL"].rstrip("/") + "/"
fal_client_module.QUEUE_URL_FORMAT = base
n, c, out = int(os.environ["N"]), int(os.environ["C"]), os.environ["OUT"]
client = fal_client.AsyncClient(key="bench-key", default_timeout=120)


async def one(i, sem, http):
    async with sem:
        result = await client.subscribe(
            "fal-ai/kling-video/v2.6/pro/text-to-video",
            arguments={"prompt": f"python shot {i}", "duration": "5", "aspect_ratio": "16:9",
                       "negative_prompt": "blur", "cfg_scale": 0.5, "generate_audio": True},
        )
        async with http.stream("GET", result["video"]["url"]) as r:
            with open(os.path.join(out, f"py{i}.mp4"), "wb") as f:
                async for chunk in r.aiter_bytes():
                    f.write(chunk)


async def main():
    sem = asyncio.Semaphore(c)
    t = time.monotonic()
    async with httpx.AsyncClient(timeout=120) as http:
        await asyncio.gather(*(one(i, sem, http) for i in range(n)))
    print(json.dumps({"makespan_s": time.monotonic() - t}))


asyncio.run(main())
