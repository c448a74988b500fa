import { expect, test } from "@playwright/test";
import { FAILING, PoolApi } from "../pages/api";
import { DashboardPage } from "../pages/dashboard";

test.beforeEach(async ({ request }) => {
  await new PoolApi(request).reset(1);
});

test("a failed task is retried from the history, one by one or all at once", async ({ page, request }) => {
  const api = new PoolApi(request);
  const dashboard = new DashboardPage(page);
  await dashboard.open();
  const a = await api.submit("genius", "all", FAILING);
  const b = await api.submit("genius", "all", FAILING + 100);
  const rowA = dashboard.historyRow(a.task_id);
  await expect(rowA).toHaveAttribute("data-status", "failed", { timeout: 20_000 });
  await rowA.getByTestId("retry").click();
  await expect(rowA.getByTestId("retried-by")).toBeVisible();
  const retried = (await api.task(a.task_id)) as unknown as { retried_by: string };
  expect(retried.retried_by).toBeTruthy();
  await expect(dashboard.historyRow(b.task_id)).toHaveAttribute("data-status", "failed", { timeout: 20_000 });
  // a's retry fails too (same parameters); then every failed one not yet retried, at once.
  await api.waitStatus(retried.retried_by, "failed");
  await dashboard.page.getByTestId("retry-failed").click();
  await expect(dashboard.historyRow(b.task_id).getByTestId("retried-by")).toBeVisible();
  await expect(dashboard.historyRow(retried.retried_by).getByTestId("retried-by")).toBeVisible();
});

test("queued and running tasks say when they should start and end", async ({ page, request }) => {
  const api = new PoolApi(request);
  // One run on record gives the estimates something to go on.
  const first = await api.submit("arrivy", "all", 1_500);
  await api.waitStatus(first.task_id, "completed");
  const dashboard = new DashboardPage(page);
  await dashboard.open();
  const running = await api.submit("arrivy", "all", 60_000);
  await api.waitStarted(running.task_id);
  const queued = await api.submit("arrivy", "all", 1_000);
  await expect(dashboard.queueRow(queued.task_id).getByTestId("expected")).toHaveText(/^starts in (under a minute|about \d+ min)$/);
  await expect(dashboard.runningRow(running.task_id).getByTestId("expected")).toHaveText(/^done in /);
});
