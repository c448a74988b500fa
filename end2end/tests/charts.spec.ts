import { expect, test } from "@playwright/test";
import { BASE, PoolApi } from "../pages/api";
import { DashboardPage } from "../pages/dashboard";

test.beforeEach(async ({ request }) => {
  await new PoolApi(request).reset(2);
});

/** The "<name> … N in all" total a chart's caption states. */
function total(caption: string, name: string): number {
  const m = caption.match(new RegExp(`${name} now [^;]*?(\\d+) in all`));
  expect(m, caption).not.toBeNull();
  return Number(m![1]);
}

test("the history charts reflect tasks run during the test, live, in words too", async ({ page, request }) => {
  const api = new PoolApi(request);
  const before = await (await request.get(`${BASE}/stats/?window=1h`)).json();
  const completedBefore = before.points.reduce((n: number, p: { completed: number }) => n + p.completed, 0);

  const dashboard = new DashboardPage(page);
  await dashboard.open();
  const charts = page.getByTestId("charts");
  await expect(charts.getByTestId("chart-slots").locator("svg")).toHaveAttribute("role", "img");
  const flow = page.getByTestId("chart-flow-caption");
  expect(total((await flow.textContent()) ?? "", "completed")).toBe(completedBefore);

  // Three quick syncs on real Celery workers; the chart catches up without a reload.
  const tasks = [];
  for (let i = 0; i < 3; i++) tasks.push(await api.submit("arrivy", "all", 200));
  for (const t of tasks) await api.waitStatus(t.task_id, "completed");
  await expect
    .poll(async () => total((await flow.textContent()) ?? "", "completed"), { timeout: 40_000 })
    .toBe(completedBefore + 3);
  await expect(page.getByTestId("chart-slots-caption")).toContainText("limit now 2");

  // Another window: 24 hours by 15 minutes, the same tasks in it.
  await charts.getByTestId("window-24h").click();
  await expect(charts.getByTestId("window-24h")).toHaveAttribute("aria-pressed", "true");
  await expect
    .poll(async () => total((await flow.textContent()) ?? "", "completed"), { timeout: 10_000 })
    .toBeGreaterThanOrEqual(completedBefore + 3);
  await expect(page.getByTestId("chart-wait-caption")).toContainText("median now");
});
