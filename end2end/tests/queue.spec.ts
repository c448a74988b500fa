import { expect, test } from "@playwright/test";
import { LONG, PoolApi } from "../pages/api";
import { DashboardPage } from "../pages/dashboard";

test.beforeEach(async ({ request }) => {
  await new PoolApi(request).reset(1);
});

test("cancel from the queue removes the task and it never runs", async ({ page, request }) => {
  const api = new PoolApi(request);
  await api.submit("hubspot", "all", LONG);
  const queued = await api.submit("five9", "contacts", 500);
  const dashboard = new DashboardPage(page);
  await dashboard.open();
  await expect(dashboard.queueRow(queued.task_id)).toBeVisible();
  await dashboard.queueRow(queued.task_id).getByTestId("cancel").click();
  await expect(dashboard.queueRow(queued.task_id)).toHaveCount(0);
  await expect(dashboard.historyRow(queued.task_id)).toHaveAttribute("data-status", "cancelled");
  expect((await api.task(queued.task_id)).status).toBe("cancelled");
});

test("changing a priority reorders the queue at once", async ({ page, request }) => {
  const api = new PoolApi(request);
  await api.submit("hubspot", "all", LONG);
  const a = await api.submit("five9", "contacts", 500, 0);
  const b = await api.submit("arrivy", "all", 500, 0);
  const c = await api.submit("genius", "all", 500, 0);
  const dashboard = new DashboardPage(page);
  await dashboard.open();
  await expect(dashboard.queueRows).toHaveCount(3);
  await expect(dashboard.queueRows.first()).toHaveAttribute("data-task-id", a.task_id);
  const row = dashboard.queueRow(c.task_id);
  await row.getByTestId("priority-input").fill("50");
  await row.getByTestId("set-priority").click();
  await expect(dashboard.queueRows.first()).toHaveAttribute("data-task-id", c.task_id);
  await expect(dashboard.queueRow(c.task_id).getByTestId("position")).toHaveText("1");
  await expect(dashboard.queueRows.nth(1)).toHaveAttribute("data-task-id", a.task_id);
  await expect(dashboard.queueRows.nth(2)).toHaveAttribute("data-task-id", b.task_id);
});

test("the indicator turns Overloaded when the queue builds", async ({ page, request }) => {
  const api = new PoolApi(request);
  const dashboard = new DashboardPage(page);
  await dashboard.open();
  await expect(dashboard.state).toHaveAttribute("data-state", "available");
  await api.submit("hubspot", "all", LONG);
  await expect(dashboard.state).toHaveAttribute("data-state", "busy");
  await expect(dashboard.state).toContainText("Busy");
  await api.submit("hubspot", "all", LONG);
  await expect(dashboard.state).toHaveAttribute("data-state", "overloaded");
  await expect(dashboard.state).toContainText("🔴 Overloaded");
  await expect(dashboard.queuedCount).toHaveText("1");
});
