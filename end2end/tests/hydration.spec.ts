import { expect, test } from "@playwright/test";
import { DashboardPage } from "../pages/dashboard";

test("the server renders the dashboard with real data before any WASM runs", async ({ request }) => {
  const res = await request.get("/");
  expect(res.status()).toBe(200);
  const html = await res.text();
  for (const id of ["summary", "running-panel", "queue-panel", "history-panel", "submit-panel", "server-panel"]) {
    expect(html).toContain(`data-testid="${id}"`);
  }
  expect(html).toContain('role="progressbar"');
  expect(html).toMatch(/data-testid="max-workers">\d+</);
  expect(html).toContain("hubspot.all"); // the registry's types, rendered into the form
  expect(html).toMatch(/reachable/);
});

test("after hydration the check button calls a server function and shows its answer", async ({ page }) => {
  const dashboard = new DashboardPage(page);
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  // A content-security-policy violation is logged to the console, not thrown.
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  await dashboard.goto();
  await expect(dashboard.redisStatus).toContainText("reachable");
  await dashboard.waitForHydration();
  await expect(dashboard.checkResult).toHaveText("");
  await dashboard.checkButton.click();
  await expect(dashboard.checkResult).toContainText(/Checked at .*: Redis answers/);
  await expect(dashboard.liveIndicator).toHaveAttribute("data-state", "live");
  expect(errors).toEqual([]);
});
