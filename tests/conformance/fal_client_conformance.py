"""Drives the sandbox with fal's official Python client, unchanged but for the queue URL.

Proves the emulator speaks fal's real wire format (as fal_client reads it), not just our own
client's idea of it. Run by tests/cases/sandbox.rs with SANDBOX_URL set; exits non-zero with a
message on the first mismatch.
"""

import os
import sys

import fal_client
import fal_client.client as fal_client_module

base = os.environ["SANDBOX_URL"].rstrip("/") + "/"
fal_client_module.QUEUE_URL_FORMAT = base
client = fal_client.SyncClient(key=os.environ.get("SANDBOX_KEY", "sandbox-key"), default_timeout=30)

T2V = "fal-ai/kling-video/v2.6/pro/text-to-video"
ARGS = {"prompt": "a lighthouse in a storm", "duration": "5", "aspect_ratio": "16:9"}


def check(cond, what):
    if not cond:
        print(f"conformance failure: {what}", file=sys.stderr)
        sys.exit(1)


# submit → status → result
handle = client.submit(T2V, arguments=ARGS)
check(handle.request_id, "submit returned no request_id")
check(handle.status_url.startswith(base + "fal-ai/kling-video/requests/"), f"status_url shape: {handle.status_url}")
status = handle.status(with_logs=True)
check(isinstance(status, (fal_client.Queued, fal_client.InProgress, fal_client.Completed)), f"status type {status!r}")
result = handle.get()
check(result["video"]["url"].startswith(base), f"result url {result}")
check(result["video"]["content_type"] == "video/mp4", "content_type")
again = client.result(T2V, handle.request_id)
check(again == result, "result by id differs")
done = client.status(T2V, handle.request_id, with_logs=True)
check(isinstance(done, fal_client.Completed), f"completed status {done!r}")

# subscribe, with queue updates
updates = []
sub = client.subscribe(T2V, arguments=ARGS, with_logs=True, on_queue_update=updates.append)
check(sub["video"]["file_size"] > 0, "subscribe result")
check(any(isinstance(u, (fal_client.Queued, fal_client.InProgress)) for u in updates), f"updates {updates!r}")

# an invalid body raises the validation error (v2.6 image-to-video takes start_image_url)
try:
    client.submit("fal-ai/kling-video/v2.6/pro/image-to-video", arguments={"prompt": "x", "image_url": "https://a/b.png"})
except fal_client_module.FalClientHTTPError as e:
    check(e.status_code == 422, f"status {e.status_code}")
    locs = [d["loc"] for d in e.message]
    check(["body", "start_image_url"] in locs and ["body", "image_url"] in locs, f"detail {e.message}")
else:
    check(False, "invalid body was accepted")

print("fal-client conformance ok")
