"""Screenshot of the `carl serve` explorer placing one sentence, with the model folder's emotions listed.

    python results/emotion-head/explorer_screenshot.py MODEL results/emotion-head/explorer.png \
        --sentence "I am terrified, someone is breaking into the house"

Starts `carl serve MODEL` on a free loopback port, opens the explorer in headless Debian chromium
(/usr/bin/chromium, driven by playwright: no browser download), types the sentence, presses Enter,
waits for the emotion list and saves the page from its top to the end of section 1. Prints what
the page lists beside what /v1/affect answers.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import socket
import subprocess
import sys
import time

import httpx

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("output")
    parser.add_argument("--sentence", default="I am terrified, someone is breaking into the house")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    server = subprocess.Popen([sys.executable, "-m", "carl.cli", "serve", args.model, "--port", str(port),
                               "--log-level", "warning"], env=env)
    try:
        deadline = time.monotonic() + 300
        while True:
            if server.poll() is not None:
                raise SystemExit(f"carl serve exited with {server.returncode}")
            try:
                if httpx.get(url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("carl serve not ready after 300 s")
            time.sleep(0.5)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            page.set_default_timeout(300_000)
            page.goto(url + "/")
            page.wait_for_selector("#circumplex .word")
            page.fill("#sentence", "")
            page.focus("#sentence")
            page.keyboard.type(args.sentence)
            page.keyboard.press("Enter")
            page.wait_for_selector("#sentence-point")
            page.wait_for_selector("#emotions li")
            shown = page.locator("#emotions li").all_inner_texts()
            box = page.locator("#place").bounding_box()
            out = pathlib.Path(args.output)
            out.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out), clip={"x": 0, "y": 0, "width": 1100, "height": box["y"] + box["height"] + 16},
                            full_page=True)
            browser.close()
        api = httpx.post(url + "/v1/affect", json={"input": args.sentence, "emotions_top_k": 3}, timeout=120).json()
        print("page lists:", shown)
        print("/v1/affect:", [(e["label"], round(e["score"], 3)) for e in api["data"][0]["emotions"]],
              "valence", round(api["data"][0]["valence"], 3), "arousal", round(api["data"][0]["arousal"], 3))
        print("written", out)
    finally:
        server.terminate()
        server.wait(30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
