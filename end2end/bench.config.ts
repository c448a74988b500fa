import { defineConfig } from "@playwright/test";
import base from "./playwright.config";

// The dashboard's benchmark (bench/run.sh runs it): measures, asserts no timing.
export default defineConfig({
  ...base,
  testDir: "./bench",
  timeout: 120_000,
});
