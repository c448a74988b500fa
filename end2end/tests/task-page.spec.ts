import { expect, test } from "@playwright/test";
import { BASE, FAILING, PoolApi } from "../pages/api";

test.beforeEach(async ({ request }) => {
  await new PoolApi(request).reset(2);
});

test("a task's page tells its story: the real worker that ran it, and a retry's chain", async ({ page, request }) => {
  const api = new PoolApi(request);
  const failed = await api.submit("genius", "all", FAILING, 3, "acme");
  await api.waitStatus(failed.task_id, "failed");
  const res = await request.post(`${BASE}/tasks/${failed.task_id}/retry/`);
  expect(res.status()).toBe(201);
  const retry = await res.json();

  await page.goto(`/tasks/${failed.task_id}`);
  await expect(page.locator("body")).toHaveAttribute("data-hydrated", "true");
  const story = page.getByTestId("task-page");
  await expect(story).toHaveAttribute("data-status", "failed");
  await expect(page.getByTestId("task-id")).toHaveText(failed.task_id);
  const worker = (await api.task(failed.task_id)) as unknown as { worker: string };
  expect(worker.worker).toContain("@");
  await expect(page.getByTestId("task-worker")).toHaveText(worker.worker);
  const steps = page.getByTestId("timeline-step");
  await expect(steps).toHaveCount(4);
  await expect(steps.nth(2)).toContainText(`Started on worker ${worker.worker}`);
  await expect(steps.nth(3)).toHaveAttribute("data-kind", "failed");
  await expect(page.getByTestId("task-error-text")).toContainText("SyncError: simulated failure");
  // Celery's traceback from the worker, collapsed until asked for.
  const tb = page.getByTestId("task-traceback");
  await expect(tb.locator("pre")).toBeHidden();
  await tb.locator("summary").click();
  await expect(tb.locator("pre")).toContainText("Traceback (most recent call last)");
  await expect(tb.locator("pre")).toContainText("demo_app.py");
  await expect(page.getByTestId("task-audit-row").first()).toContainText("retry");

  // The chain: the failure links to its retry, and the retry back to it.
  await page.getByTestId("retried-by").getByRole("link").click();
  await expect(page).toHaveURL(new RegExp(`/tasks/${retry.task_id}$`));
  await expect(page.getByTestId("task-id")).toHaveText(retry.task_id);
  await expect(page.getByTestId("retry-of")).toContainText(failed.task_id.slice(0, 8));
  await expect(page.getByTestId("timeline-step").first()).toContainText(`retrying task ${failed.task_id}`);
  // It runs (and fails again) on a real worker; the page follows without a reload.
  await expect(page.getByTestId("task-page")).toHaveAttribute("data-status", "failed", { timeout: 20_000 });
});

test("the dashboard links each task to its page, and an unknown id says so", async ({ page, request }) => {
  const api = new PoolApi(request);
  const t = await api.submit("arrivy", "all", 200);
  await api.waitStatus(t.task_id, "completed");
  await page.goto("/");
  await expect(page.locator("body")).toHaveAttribute("data-hydrated", "true");
  await page.locator(`[data-testid=history-row][data-task-id="${t.task_id}"] a`).first().click();
  await expect(page).toHaveURL(new RegExp(`/tasks/${t.task_id}$`));
  await expect(page.getByTestId("task-page")).toHaveAttribute("data-status", "completed");
  await page.goto("/tasks/no-such-task");
  await expect(page.getByTestId("task-error")).toContainText("No task with id");
});
