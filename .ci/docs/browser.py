"""The example's `/docs` page in headless Chromium (run by `cargo xtask docs-browser`).

Checks, with every request outside 127.0.0.1 refused:
- the page shows every operation of each version's OpenAPI document, and the version switch
  shows the other version's;
- "Authorize" takes the access token of a real account (CMMV_DOCS_TOKEN, from /auth/login),
  and "Try it out" on an authenticated operation gets a 200;
- no console error (Chromium reports Content-Security-Policy violations there), no failed
  request.
"""

import argparse
import json
import os
import sys
import urllib.parse
import urllib.request

from playwright.sync_api import sync_playwright

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def operations(base, version):
    with urllib.request.urlopen(f"{base}/v{version}/openapi.json") as answer:
        document = json.load(answer)
    return {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method in METHODS
    }


def shown_operations(page):
    page.wait_for_selector(".opblock", timeout=30_000)
    found = set()
    for block in page.query_selector_all(".opblock"):
        method = block.query_selector(".opblock-summary-method").inner_text().strip()
        # Swagger UI renders a deprecated operation's path under a class of its own.
        path = block.query_selector(
            ".opblock-summary-path, .opblock-summary-path__deprecated"
        ).get_attribute("data-path")
        found.add((method.upper(), path))
    return found


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", required=True)
    parser.add_argument("--chromium", required=True)
    args = parser.parse_args()
    base = args.base.rstrip("/")
    token = os.environ["CMMV_DOCS_TOKEN"]
    problems = []

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=args.chromium, headless=True)
        context = browser.new_context()

        def only_local(route):
            host = urllib.parse.urlparse(route.request.url).hostname
            if host == "127.0.0.1":
                route.continue_()
            else:
                problems.append(f"request outside the app: {route.request.url}")
                route.abort()

        context.route("**/*", only_local)
        page = context.new_page()
        page.on(
            "console",
            lambda message: problems.append(f"console {message.type}: {message.text}")
            if message.type == "error"
            else None,
        )
        page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
        page.on("requestfailed", lambda request: problems.append(f"failed: {request.url}"))
        page.on(
            "response",
            lambda response: problems.append(f"{response.status}: {response.url}")
            if response.status >= 400
            else None,
        )
        # Chromium reports every Content-Security-Policy violation as a console error.

        page.goto(f"{base}/docs")
        versions = sorted(
            int(option.get_attribute("value").split("/")[0].lstrip("v"))
            for option in page.wait_for_selector(".topbar select").query_selector_all("option")
        )
        print(f"versions offered: {versions}")
        if not versions:
            problems.append("no version to choose")
        # The newest version shows first; then each other one through the switch.
        for version in reversed(versions):
            page.select_option(".topbar select", label=f"v{version}")
            expected = operations(base, version)
            # Polled from here: the page's policy forbids evaluating strings, even Playwright's.
            for _ in range(300):
                if page.locator(".opblock").count() == len(expected):
                    break
                page.wait_for_timeout(100)
            shown = shown_operations(page)
            print(f"v{version}: {len(shown)} operations shown, {len(expected)} documented")
            if shown != expected:
                problems.append(
                    f"v{version}: missing {sorted(expected - shown)}, extra {sorted(shown - expected)}"
                )

        # Authorize with the bearer token, then try an operation that needs it.
        newest = versions[-1]
        page.select_option(".topbar select", label=f"v{newest}")
        page.wait_for_selector(".opblock")
        page.click(".btn.authorize")
        bearer = page.locator(".auth-container").filter(has_text="bearerAuth")
        bearer.locator("input").fill(token)
        bearer.locator("button.authorize").click()
        page.click(".btn-done")
        operation = page.locator(f"#operations-Note-note_list")
        operation.locator(".opblock-summary").click()
        operation.locator(".try-out__btn").click()
        operation.locator(".execute").click()
        status = operation.locator(".live-responses-table tbody .response-col_status").first
        status.wait_for(timeout=30_000)
        answered = status.inner_text().strip()
        print(f"try it: GET /v{newest}/notes answered {answered}")
        if answered != "200":
            problems.append(f"try it out answered {answered}, not 200")

        browser.close()

    for problem in problems:
        print(f"problem: {problem}", file=sys.stderr)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
