#!/usr/bin/env python3
"""Peak memory of `vec2prompt serve` for the longest chat prompt it accepts.

Starts the server (default learned model, no dataset), sends one chat whose user text is
just under `max_chat_input_tokens` with `max_tokens` at the server's limit, then the same
prompt together with four short chats at once, and prints the server's peak RSS (VmHWM)
after start-up and after each phase, with the wall times.

    python3 scripts/chat_peak_rss.py [path/to/vec2prompt]
"""
import json
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

BIN = sys.argv[1] if len(sys.argv) > 1 else "target/release/vec2prompt"


def peak_rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def post(base, path, body, timeout=900):
    req = urllib.request.Request(
        base + path, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def chat(text, max_tokens):
    return {"messages": [{"role": "user", "content": text}], "max_tokens": max_tokens}


def main():
    server = subprocess.Popen(
        [BIN, "serve", "--port", "0", "--dataset", "/nonexistent"],
        stderr=subprocess.PIPE,
        text=True,
    )
    base = None
    for line in server.stderr:
        m = re.search(r"listening on (http://\S+)", line)
        if m:
            base = m.group(1)
            break
    threading.Thread(target=lambda: [None for _ in server.stderr], daemon=True).start()
    try:
        health = json.loads(urllib.request.urlopen(base + "/health").read())
        print(f"started: peak RSS {peak_rss_mb(server.pid):.0f} MB")
        # " word" is one token of SmolLM2's vocabulary: find the longest accepted prompt.
        n = 2048
        while True:
            text = "word" + " word" * (n - 1)
            status, body = post(base, "/v1/chat/completions", chat(text, 1))
            if status == 200:
                break
            n -= 8
        prompt_tokens = body["usage"]["prompt_tokens"]
        print(f"longest accepted user text: {n} words, {prompt_tokens} prompt tokens")
        t = time.time()
        status, body = post(base, "/v1/chat/completions", chat(text, 512))
        print(
            f"one chat, max_tokens 512: {status}, {body['usage']['completion_tokens']} tokens, "
            f"{time.time() - t:.1f} s, peak RSS {peak_rss_mb(server.pid):.0f} MB"
        )
        results = [None] * 5

        def run(i, body):
            t = time.time()
            results[i] = (post(base, "/v1/chat/completions", body)[0], time.time() - t)

        threads = [threading.Thread(target=run, args=(0, chat(text, 512)))]
        for i in range(1, 5):
            threads.append(
                threading.Thread(target=run, args=(i, chat(f"Name {i} primary colors.", 32)))
            )
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        print(
            "long chat + 4 short chats at once: "
            + ", ".join(f"{s} in {d:.1f} s" for s, d in results)
            + f"; peak RSS {peak_rss_mb(server.pid):.0f} MB"
        )
        print(f"models: {health['llm']['name']}, {health['embedder']['name']}")
    finally:
        server.terminate()
        server.wait(timeout=60)


if __name__ == "__main__":
    main()
