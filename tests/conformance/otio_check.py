"""Loads a timeline with the official `opentimelineio` package and prints what it sees."""

import json
import sys

import opentimelineio as otio

timeline = otio.adapters.read_from_file(sys.argv[1])
clips = list(timeline.find_clips())
track = timeline.video_tracks()[0]
items = [
    {"kind": type(i).__name__, "name": i.name, "seconds": i.duration().to_seconds(),
     "markers": [m.name for m in i.markers]}
    for i in track
]
print(json.dumps({
    "items": items,
    "name": timeline.name,
    "clips": len(clips),
    "names": [c.name for c in clips],
    "seconds": timeline.duration().to_seconds(),
    "targets": [c.media_reference.target_url for c in clips],
}))
