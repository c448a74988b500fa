import { expect, test } from "@playwright/test";
import { LONG, PoolApi } from "../pages/api";
import { DashboardPage } from "../pages/dashboard";

test.beforeEach(async ({ request }) => {
  await new PoolApi(request).reset(1);
});

test("the config modal is keyboard-usable and the bar and indicator follow the new limit", async ({ page, request }) => {
  const api = new PoolApi(request);
  await api.submit("hubspot", "all", LONG);
  const dashboard = new DashboardPage(page);
  await dashboard.open();
  await expect(dashboard.utilization).toHaveAttribute("aria-valuenow", "100");
  await expect(dashboard.state).toHaveAttribute("data-state", "busy");

  // Opens with focus inside; Esc closes and focus returns to the opener.
  await dashboard.openConfig.click();
  await expect(dashboard.modal).toBeVisible();
  await expect(dashboard.modalInput).toBeFocused();
  await expect(dashboard.modalInput).toHaveValue("1");
  await page.keyboard.press("Escape");
  await expect(dashboard.modal).toBeHidden();
  await expect(dashboard.openConfig).toBeFocused();

  // Out of range: explained, and Save stays disabled.
  await page.keyboard.press("Enter");
  await expect(dashboard.modalInput).toBeFocused();
  await dashboard.modalInput.fill("65");
  await expect(page.getByTestId("error-max_workers")).toContainText("from 1 to 64");
  await expect(dashboard.modalSave).toBeDisabled();

  await dashboard.modalInput.fill("4");
  await dashboard.modalSave.click();
  await expect(dashboard.modal).toBeHidden();
  await expect(dashboard.maxWorkers).toHaveText("4");
  await expect(dashboard.utilization).toHaveAttribute("aria-valuenow", "25");
  await expect(dashboard.state).toHaveAttribute("data-state", "available");
});

test("lowering the limit shows the pool draining", async ({ page, request }) => {
  const api = new PoolApi(request);
  await api.setMax(3);
  for (let i = 0; i < 3; i++) await api.submit("hubspot", "all", LONG);
  const dashboard = new DashboardPage(page);
  await dashboard.open();
  await expect(dashboard.activeCount).toHaveText("3");
  await dashboard.openConfig.click();
  await dashboard.modalInput.fill("1");
  await dashboard.modalSave.click();
  await expect(dashboard.maxWorkers).toHaveText("1");
  await expect(dashboard.activeCount).toHaveText("3");
  await expect(dashboard.draining).toContainText("Draining: 2 running above the new limit of 1");
});
