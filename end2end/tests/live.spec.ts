import { expect, test } from "@playwright/test";
import { PoolApi } from "../pages/api";
import { DashboardPage } from "../pages/dashboard";

test.beforeEach(async ({ request }) => {
  await new PoolApi(request).reset(2);
});

test("updates pause while the tab is hidden and resume when it is shown", async ({ page, request }) => {
  const api = new PoolApi(request);
  const dashboard = new DashboardPage(page);
  await dashboard.open();
  const setVisibility = (state: "hidden" | "visible") =>
    page.evaluate((s) => {
      Object.defineProperty(document, "visibilityState", { value: s, configurable: true });
      document.dispatchEvent(new Event("visibilitychange"));
    }, state);
  await setVisibility("hidden");
  await expect(dashboard.liveIndicator).toHaveAttribute("data-state", "paused");
  await api.setMax(7);
  await page.waitForTimeout(800);
  await expect(dashboard.maxWorkers).toHaveText("2"); // nothing received while hidden
  await setVisibility("visible");
  await expect(dashboard.liveIndicator).toHaveAttribute("data-state", "live");
  await expect(dashboard.maxWorkers).toHaveText("7");
});

test("without the push channel the page falls back to polling", async ({ page, request }) => {
  await page.route("**/api/events", (route) => route.abort());
  const api = new PoolApi(request);
  const dashboard = new DashboardPage(page);
  await dashboard.goto();
  await dashboard.waitForHydration();
  await expect(dashboard.liveIndicator).toHaveAttribute("data-state", "polling", { timeout: 20_000 });
  await api.setMax(6);
  await expect(dashboard.maxWorkers).toHaveText("6", { timeout: 5_000 });
});
