"""Loads a timeline with the official `opentimelineio` package, prints what it sees, and hands it
to OpenTimelineIO's own adapters for an editor: an EDL (CMX 3600) and FCP XML. A conversion
that fails fails the check (when the adapters are installed: scripts/test installs them)."""

import json
import os
import sys

import opentimelineio as otio

path = sys.argv[1]
timeline = otio.adapters.read_from_file(path)
track = timeline.video_tracks()[0]
clips = list(track.find_clips())
items = [
    {"kind": type(i).__name__, "name": i.name, "seconds": i.duration().to_seconds(),
     "markers": [m.name for m in i.markers]}
    for i in track
]
audio = [
    [{"kind": type(i).__name__, "name": i.name, "seconds": i.duration().to_seconds()} for i in t]
    for t in timeline.audio_tracks()
]
# Every clip's file resolves from the timeline's own folder.
folder = os.path.dirname(os.path.abspath(path))
missing = [c.media_reference.target_url for c in timeline.find_clips()
           if not os.path.isfile(os.path.join(folder, c.media_reference.target_url))]
converted = {}
available = otio.adapters.available_adapter_names()
for adapter, suffix in (("cmx_3600", "edl"), ("fcp_xml", "xml")):
    if adapter not in available:
        if os.environ.get("STORYBOARD_REQUIRE_TOOLS"):
            sys.exit(f"OpenTimelineIO's {adapter} adapter is not installed (scripts/test installs it)")
        converted[suffix] = "adapter not installed"
        continue
    text = otio.adapters.write_to_string(timeline, adapter)
    # Read back by the same adapter: what an editor's import would see.
    back = otio.adapters.read_from_string(text, adapter)
    converted[suffix] = len(list(back.find_clips()))
print(json.dumps({
    "items": items,
    "audio": audio,
    "name": timeline.name,
    "clips": len(clips),
    "names": [c.name for c in clips],
    "seconds": timeline.duration().to_seconds(),
    "targets": [c.media_reference.target_url for c in clips],
    "missing": missing,
    "converted": converted,
}))
