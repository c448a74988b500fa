import { expect, test } from "@playwright/test";
import { BASE, FAILING, PoolApi, type Task } from "../pages/api";
import { DashboardPage } from "../pages/dashboard";

test.beforeEach(async ({ request }) => {
  await new PoolApi(request).reset(4);
});

test("a search lives in the URL, survives a reload, and a bulk retry retries what it found", async ({ page, request }) => {
  const api = new PoolApi(request);
  const tenant = `t${Date.now()}`;
  const failed: Task[] = [];
  for (let i = 0; i < 3; i++) failed.push(await api.submit("genius", "all", FAILING, 0, tenant));
  const ok = await api.submit("genius", "all", 200, 0, tenant);
  for (const t of failed) await api.waitStatus(t.task_id, "failed");
  await api.waitStatus(ok.task_id, "completed");

  // Typed into the form: the filter goes into the URL.
  const dashboard = new DashboardPage(page);
  await dashboard.open();
  const panel = page.getByTestId("search-panel");
  await panel.getByTestId("search-status").selectOption("failed");
  await panel.getByTestId("search-tenant").fill(tenant);
  await panel.getByTestId("search-tenant").press("Enter");
  await expect(panel.getByTestId("search-row")).toHaveCount(3);
  await expect(page).toHaveURL(new RegExp(`status=failed.*tenant=${tenant}`));

  // A reload renders the same search (the server renders it first).
  await page.reload();
  await dashboard.waitForHydration();
  await expect(panel.getByTestId("search-row")).toHaveCount(3);
  await expect(panel.getByTestId("search-status")).toHaveValue("failed");
  await expect(panel.getByTestId("search-tenant")).toHaveValue(tenant);
  for (const t of failed) {
    await expect(panel.locator(`[data-testid=search-row][data-task-id="${t.task_id}"]`)).toHaveAttribute("data-status", "failed");
  }

  // Bulk retry: the confirmation counts first; one confirmed request retries each once.
  await panel.getByTestId("bulk-retry").click();
  await expect(panel.getByTestId("bulk-confirm")).toContainText("This will retry 3 tasks.");
  await panel.getByTestId("bulk-confirm-yes").click();
  await expect(panel.getByTestId("bulk-result")).toContainText("Done: 3 changed");
  const res = await request.get(`${BASE}/tasks/?tenant=${tenant}&limit=100`);
  const tasks = (await res.json()).tasks as (Task & { retry_of: string | null })[];
  const retries = tasks.filter((t) => t.retry_of !== null);
  expect(retries.map((t) => t.retry_of).sort()).toEqual(failed.map((t) => t.task_id).sort());
  const audit = await (await request.get(`${BASE}/audit/?limit=5`)).json();
  expect(audit.entries.filter((e: { action: string }) => e.action === "bulk_retry").length).toBeGreaterThanOrEqual(1);
  await api.reset(1);
});

test("a filter given in the URL is rendered by the server: the page's own HTML holds the rows", async ({ request }) => {
  const api = new PoolApi(request);
  const tenant = `u${Date.now()}`;
  const t = await api.submit("arrivy", "all", 200, 0, tenant);
  await api.waitStatus(t.task_id, "completed");
  // The HTML the server streams for the page (no script has run, no WASM fetched anything).
  const html = await (await request.get(`/?tenant=${tenant}`)).text();
  expect(html).toContain(`data-testid="search-row" data-task-id="${t.task_id}" data-status="completed"`);
  const other = await (await request.get(`/?tenant=${tenant}x`)).text();
  expect(other).not.toContain(`data-testid="search-row" data-task-id="${t.task_id}"`);
});
