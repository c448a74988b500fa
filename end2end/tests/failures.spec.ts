import { expect, test } from "@playwright/test";
import { FAILING, PoolApi } from "../pages/api";
import { DashboardPage } from "../pages/dashboard";

test.beforeEach(async ({ request }) => {
  await new PoolApi(request).reset(2);
});

test("a failed task shows its error, expandable", async ({ page, request }) => {
  const api = new PoolApi(request);
  const dashboard = new DashboardPage(page);
  await dashboard.open();
  const t = await api.submit("genius", "all", FAILING);
  const row = dashboard.historyRow(t.task_id);
  await expect(row).toHaveAttribute("data-status", "failed", { timeout: 20_000 });
  const details = row.getByTestId("error");
  await expect(details.locator("summary")).toContainText("SyncError: simulated failure");
  await details.locator("summary").click();
  await expect(details.locator("pre")).toBeVisible();
  await expect(details.locator("pre")).toContainText("batch_size=413");
});

test("a change made through the API appears without a reload", async ({ page, request }) => {
  const api = new PoolApi(request);
  await api.setMax(1);
  const dashboard = new DashboardPage(page);
  await dashboard.open();
  let navigations = 0;
  page.on("framenavigated", () => navigations++);
  const t = await api.submit("arrivy", "all", 60_000);
  await expect(dashboard.runningRow(t.task_id)).toBeVisible({ timeout: 2_000 });
  await api.setMax(5);
  await expect(dashboard.maxWorkers).toHaveText("5", { timeout: 2_000 });
  await api.cancel(t.task_id);
  await expect(dashboard.historyRow(t.task_id)).toHaveAttribute("data-status", "cancelled");
  expect(navigations).toBe(0);
});
