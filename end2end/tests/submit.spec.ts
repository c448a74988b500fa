import { expect, test } from "@playwright/test";
import { PoolApi } from "../pages/api";
import { DashboardPage } from "../pages/dashboard";

test.beforeEach(async ({ request }) => {
  await new PoolApi(request).reset(2);
});

test("a task submitted from the form appears and reaches completed", async ({ page }) => {
  const dashboard = new DashboardPage(page);
  await dashboard.open();
  await dashboard.fillSubmit({ type: "hubspot.all", batch: "1500", priority: "5" });
  await page.getByTestId("submit-button").click();
  await expect(page.getByTestId("submit-result")).toContainText(/Accepted .* \(running\)/);
  await expect(dashboard.runningRows).toHaveCount(1);
  const id = await dashboard.runningRows.first().getAttribute("data-task-id");
  await expect(dashboard.runningRow(id!)).toContainText("hubspot.all");
  await expect(dashboard.historyRow(id!)).toHaveAttribute("data-status", "completed", { timeout: 20_000 });
  await expect(dashboard.runningRows).toHaveCount(0);
});

test("invalid input is explained next to its field and nothing is sent", async ({ page, request }) => {
  const dashboard = new DashboardPage(page);
  await dashboard.open();
  const submit = page.getByTestId("submit-button");
  await dashboard.fillSubmit({ type: "five9.contacts", batch: "0", priority: "500" });
  await expect(page.getByTestId("error-batch_size")).toContainText("from 1 to 100000");
  await expect(page.getByTestId("error-priority")).toContainText("from -100 to 100");
  await expect(submit).toBeDisabled();
  await dashboard.fillSubmit({ batch: "250", priority: "3" });
  await expect(page.getByTestId("error-batch_size")).toHaveCount(0);
  await expect(submit).toBeEnabled();
  const before = await new PoolApi(request).status();
  expect(before.active_count + before.queued_count).toBe(0);
});
