import { expect, test } from "@playwright/test";
import { DashboardPage } from "../pages/dashboard";

test("the server renders the status panel before any WASM runs", async ({ request }) => {
  const res = await request.get("/");
  expect(res.status()).toBe(200);
  const html = await res.text();
  expect(html).toContain('data-testid="server-panel"');
  expect(html).toContain('data-testid="redis-status"');
  expect(html).toMatch(/reachable/);
});

test("after hydration the check button calls a server function and shows its answer", async ({ page }) => {
  const dashboard = new DashboardPage(page);
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await dashboard.goto();
  await expect(dashboard.redisStatus).toContainText("reachable");
  await dashboard.waitForHydration();
  await expect(dashboard.checkResult).toHaveText("");
  await dashboard.checkButton.click();
  await expect(dashboard.checkResult).toContainText(/Checked at .*: Redis answers/);
  expect(errors).toEqual([]);
});
