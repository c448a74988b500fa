import { expect, test } from "@playwright/test";
import { LONG, PoolApi } from "../pages/api";
import { DashboardPage } from "../pages/dashboard";

test.beforeEach(async ({ request }) => {
  await new PoolApi(request).reset(3);
});

test("a source at its limit shows why its task waits, and never holds the others", async ({ page, request }) => {
  const api = new PoolApi(request);
  await api.setLimits({ sources: { hubspot: { limit: 1 } } });
  await api.submit("hubspot", "all", LONG, 0, "acme");
  const held = await api.submit("hubspot", "all", LONG, 5, "bolt");
  const other = await api.submit("five9", "contacts", LONG, 0);
  const dashboard = new DashboardPage(page);
  await dashboard.open();
  await expect(dashboard.runningRow(other.task_id)).toBeVisible();
  const row = dashboard.queueRow(held.task_id);
  await expect(row.getByTestId("blocked-by")).toHaveAttribute("data-reason", "source_limit");
  await expect(row.getByTestId("tenant")).toHaveText("bolt");
  const hubspot = page.locator("[data-testid=source-row][data-source=hubspot]");
  await expect(hubspot.getByTestId("source-running")).toHaveText("1 / 1");
  await expect(hubspot.getByTestId("source-queued")).toHaveText("1");
});

test("pausing the pool and a source holds new starts until resumed", async ({ page, request }) => {
  const api = new PoolApi(request);
  const dashboard = new DashboardPage(page);
  await dashboard.open();
  await page.getByTestId("pause-pool").click();
  await expect(page.getByTestId("pool-paused")).toBeVisible();
  const waiting = await api.submit("genius", "all", LONG);
  await expect(dashboard.queueRow(waiting.task_id).getByTestId("blocked-by")).toHaveAttribute("data-reason", "paused");
  await page.getByTestId("pause-pool").click();
  await expect(page.getByTestId("pool-paused")).toBeHidden();
  await expect(dashboard.runningRow(waiting.task_id)).toBeVisible();

  const arrivy = page.locator("[data-testid=source-row][data-source=arrivy]");
  await arrivy.getByTestId("source-pause").click();
  await expect(arrivy.getByTestId("source-state")).toHaveText("paused");
  const held = await api.submit("arrivy", "all", LONG);
  await expect(dashboard.queueRow(held.task_id).getByTestId("blocked-by")).toHaveAttribute("data-reason", "paused");
  await arrivy.getByTestId("source-pause").click();
  await expect(arrivy.getByTestId("source-state")).toHaveText("open");
  await expect(dashboard.runningRow(held.task_id)).toBeVisible();

  await arrivy.getByTestId("source-cooldown").click();
  await expect(arrivy.getByTestId("source-state")).toContainText("cooling down");
  await arrivy.getByTestId("source-cooldown").click();
  await expect(arrivy.getByTestId("source-state")).toHaveText("open");
});

test("the configuration dialog sets a source's limit and explains a bad rule", async ({ page, request }) => {
  const api = new PoolApi(request);
  const dashboard = new DashboardPage(page);
  await dashboard.open();
  await dashboard.openConfig.click();
  await expect(dashboard.modal).toBeVisible();
  const limit = page.getByTestId("rule-five9-0");
  await limit.fill("0");
  await expect(page.getByTestId("rule-error-five9")).toContainText("from 1 to 64");
  await expect(dashboard.modalSave).toBeDisabled();
  await limit.fill("2");
  await page.getByTestId("rule-arrivy-2").fill("10");
  await expect(page.getByTestId("rule-error-arrivy")).toContainText("needs both");
  await page.getByTestId("rule-arrivy-3").fill("60");
  await dashboard.modalSave.click();
  await expect(dashboard.modal).toBeHidden();
  const limits = await (await request.get("/ingestion/crm-dashboard/api/worker-pool/limits/")).json();
  expect(limits.sources.five9.limit).toBe(2);
  expect(limits.sources.arrivy.rate).toEqual({ starts: 10, per_seconds: 60 });
  await expect(page.locator("[data-testid=source-row][data-source=five9]").getByTestId("source-running")).toHaveText("0 / 2");
  await api.clearRules();
});

test("the workers panel lists the demo worker, online, with the task it runs and no Forget", async ({ page, request }) => {
  const api = new PoolApi(request);
  const t = await api.submit("genius", "all", LONG);
  const dashboard = new DashboardPage(page);
  await dashboard.open();
  await expect(dashboard.runningRow(t.task_id)).toBeVisible();
  const panel = page.getByTestId("workers-panel");
  await expect(panel.getByRole("heading", { name: "Workers" })).toBeVisible();
  const row = panel.locator("[data-testid=worker-row]", { has: page.getByTestId("worker-tasks").filter({ hasText: /^[1-9]/ }) });
  await expect(row).toHaveCount(1, { timeout: 15_000 });
  await expect(row.getByTestId("worker-state")).toHaveText("online");
  // An online worker still runs its tasks: nothing to forget.
  await expect(row.getByTestId("worker-forget")).toHaveCount(0);
});

test("a change made on the dashboard appears in its Audit panel", async ({ page }) => {
  const dashboard = new DashboardPage(page);
  await dashboard.open();
  const five9 = page.locator("[data-testid=source-row][data-source=five9]");
  await five9.getByTestId("source-pause").click();
  await expect(five9.getByTestId("source-state")).toHaveText("paused");
  const panel = page.getByTestId("audit-panel");
  const row = panel.locator("[data-testid=audit-row][data-action=pause]").first();
  await expect(row).toBeVisible();
  await expect(row.getByTestId("audit-who")).toHaveText("anonymous");
  await expect(row).toContainText("five9");
  await five9.getByTestId("source-pause").click();
  await expect(five9.getByTestId("source-state")).toHaveText("open");
  await expect(panel.locator("[data-testid=audit-row][data-action=resume]").first()).toBeVisible();
});
