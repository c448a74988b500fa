import { defineConfig, devices } from "@playwright/test";
import { existsSync } from "node:fs";

// The server under test is started by scripts/test.sh (it picks a free port and a private
// Redis key prefix); this only points the browser at it.
const baseURL = process.env.WORKER_POOL_E2E_URL ?? "http://127.0.0.1:3000";

// Debian's Chromium, never a downloaded browser.
const executablePath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
if (!existsSync(executablePath)) {
  throw new Error(
    `Chromium not found at ${executablePath}: install Debian's chromium package ` +
      `(scripts/setup.sh does) or set CHROMIUM_PATH.`,
  );
}

export default defineConfig({
  testDir: "./tests",
  timeout: 60_000,
  expect: { timeout: 15_000 },
  fullyParallel: false,
  workers: 1,
  retries: 0,
  forbidOnly: !!process.env.CI,
  reporter: [["list"]],
  outputDir: "test-results",
  use: {
    baseURL,
    trace: "retain-on-failure",
    screenshot: "only-on-failure",
  },
  projects: [
    {
      name: "chromium",
      use: {
        ...devices["Desktop Chrome"],
        launchOptions: {
          executablePath,
          args: [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
          ],
        },
      },
    },
  ],
});
