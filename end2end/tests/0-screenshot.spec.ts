import { expect, test } from "@playwright/test";
import { FAILING, LONG, PoolApi } from "../pages/api";
import { DashboardPage } from "../pages/dashboard";

// Leaves the pool cleaned up for the next spec.
test("screenshot of the dashboard with running, queued and failed tasks (docs/dashboard.png)", async ({ page, request }) => {
  const api = new PoolApi(request);
  await api.reset(2);
  const failed = await api.submit("genius", "marketsharp_contacts", FAILING);
  await api.waitStatus(failed.task_id, "failed");
  await api.submit("hubspot", "all", 15_000);
  await api.submit("five9", "contacts", 6_000, 0);
  await api.submit("arrivy", "all", 500, 10);
  await api.submit("genius", "all", 800, -5);
  await api.submit("hubspot", "all", 1200, 0);
  const dashboard = new DashboardPage(page);
  await page.setViewportSize({ width: 1280, height: 1000 });
  await dashboard.open();
  await expect(dashboard.state).toHaveAttribute("data-state", "overloaded");
  await expect(dashboard.runningRows).toHaveCount(2);
  await expect(dashboard.queueRows).toHaveCount(3);
  await expect(dashboard.historyRow(failed.task_id)).toBeVisible();
  await page.waitForTimeout(1500); // let the running times tick
  // The README's picture: refreshed with UPDATE_SCREENSHOTS=1 scripts/e2e.sh, else kept with
  // the test results (so a test run leaves the checkout clean).
  const path = process.env.UPDATE_SCREENSHOTS ? "../docs/dashboard.png" : "test-results/dashboard.png";
  await page.screenshot({ path, fullPage: true });
  await api.reset(1);
});

test("screenshot of a task's page (docs/task-page.png)", async ({ page, request }) => {
  const api = new PoolApi(request);
  await api.reset(2);
  // A batch_size ending in 19: Celery retries it once by itself, then it fails for good.
  const failed = await api.submit("genius", "marketsharp_contacts", 419, 5, "acme-42");
  await api.waitStatus(failed.task_id, "failed");
  await request.post(`/ingestion/crm-dashboard/api/worker-pool/tasks/${failed.task_id}/retry/`);
  await page.setViewportSize({ width: 1100, height: 900 });
  await page.goto(`/tasks/${failed.task_id}`);
  await expect(page.locator("body")).toHaveAttribute("data-hydrated", "true");
  const steps = page.getByTestId("timeline-step");
  await expect(steps).toHaveCount(5);
  await expect(steps.nth(3)).toHaveAttribute("data-kind", "retry");
  await page.getByTestId("task-traceback").locator("summary").click();
  const path = process.env.UPDATE_SCREENSHOTS ? "../docs/task-page.png" : "test-results/task-page.png";
  await page.screenshot({ path, fullPage: true });
  await api.reset(1);
});

test("the dashboard fits a 360 px wide screen", async ({ page }) => {
  const dashboard = new DashboardPage(page);
  await page.setViewportSize({ width: 360, height: 740 });
  await dashboard.open();
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow).toBeLessThanOrEqual(0);
});
