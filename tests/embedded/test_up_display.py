"""`workerplane up`'s screen: the console URL, the token and /metrics stay in a fixed header
above the timeline, however many events scroll through it."""

from __future__ import annotations

from rich.console import Console

from workerplane.embedded.up import DemoAddresses, DemoProgress, render_screen


def test_the_header_keeps_the_urls_and_the_token_above_the_timeline() -> None:
    progress = DemoProgress()
    for i in range(50):
        progress.note(f"event {i}")
    addresses = DemoAddresses("127.0.0.1:7233", 8765, "tok-abc123")
    console = Console(width=160, record=True)
    console.print(render_screen(progress, 40, addresses))
    screen = console.export_text()
    for shown in (
        "http://127.0.0.1:8765/ui",
        "http://127.0.0.1:8765/metrics",
        "WORKERPLANE_TOKEN=tok-abc123",
    ):
        assert shown in screen
    assert screen.index("/ui") < screen.index("timeline") < screen.index("event 49")
    assert "event 10" not in screen  # the timeline scrolls; the header does not
